#!/usr/bin/env bash
# Go SDK checks: generated code matches proto/, go vet, go test. Idempotent; needs go and protoc.
set -euo pipefail
cd "$(dirname "$0")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
./generate.sh "$tmp"
if ! diff -ru smtpbridgev1 "$tmp/smtpbridgev1"; then
  echo "clients/go/smtpbridgev1 differs from what proto/ generates: run clients/go/generate.sh and commit" >&2
  exit 1
fi
echo "generated code matches proto/"

go vet ./...
go test -count=1 ./...
