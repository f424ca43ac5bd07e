#!/usr/bin/env bash
# Generates the smtpbridgev1 package from the repository's proto/ tree.
# Usage: ./generate.sh [OUTPUT_ROOT]   (default: this folder, i.e. rewrite ./smtpbridgev1)
# The protoc plugins are pinned and installed into ./.bin, so every machine generates the same
# code; protoc itself is Debian's protobuf-compiler (3.21.12).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

export GOBIN="$here/.bin"
want="$PROTOC_GEN_GO_VERSION $PROTOC_GEN_GO_GRPC_VERSION"
if [[ "$(cat "$GOBIN/versions" 2>/dev/null)" != "$want" || ! -x "$GOBIN/protoc-gen-go" || ! -x "$GOBIN/protoc-gen-go-grpc" ]]; then
  go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  echo "$want" > "$GOBIN/versions"
fi

module=github.com/smtpbridge/smtpbridge/clients/go
mkdir -p "$out"
rm -rf "$out/smtpbridgev1"
PATH="$GOBIN:$PATH" protoc -I "$here/../../proto" \
  --go_out="$out" --go_opt="module=$module" \
  --go-grpc_out="$out" --go-grpc_opt="module=$module" \
  "$here"/../../proto/smtpbridge/v1/*.proto
