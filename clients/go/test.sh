#!/usr/bin/env bash
# Go SDK checks: generated code matches proto/, go vet, go test, and the module as another module
# uses it: a fresh module in a temporary folder requires it through a `replace` directive (the way
# the README documents) and builds and vets the README's example verbatim. Idempotent; needs go
# and protoc. Downloads go through the module cache, so repeated runs are offline.
set -euo pipefail
cd "$(dirname "$0")"
here="$PWD"
module="$(go list -m)"

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

# The README example from a module outside the tree. The first ```go block after the
# "readme-example" marker is the program.
app="$tmp/app"
mkdir -p "$app"
awk '/<!-- readme-example -->/{m=1} m&&/^```go$/{c=1;next} c&&/^```$/{exit} c' README.md > "$app/main.go"
[ -s "$app/main.go" ] || { echo "no readme-example block in clients/go/README.md" >&2; exit 1; }
(
  cd "$app"
  go mod init example.com/readme-worker >/dev/null 2>&1
  go mod edit -require="$module@v0.0.0" -replace="$module=$here"
  go mod tidy >/dev/null
  go vet ./...
  go build -o readme-worker .
)
echo "readme example builds from a fresh module (replace $module => clients/go)"

# ... and runs: it writes its ready file (from the environment) and exits 0 on SIGTERM.
ready="$tmp/ready"
SMTPBRIDGE_READY_FILE="$ready" SMTPBRIDGE_LOG_LEVEL=warn "$app/readme-worker" --listen 127.0.0.1:0 &
pid=$!
for _ in $(seq 1 200); do [ -s "$ready" ] || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.05; done
if [ ! -s "$ready" ]; then
  kill -KILL "$pid" 2>/dev/null || true
  echo "README example wrote no ready file" >&2
  exit 1
fi
kill -TERM "$pid"
wait "$pid" || { echo "README example did not exit 0 on SIGTERM" >&2; exit 1; }
echo "README example listened on $(cat "$ready") and drained"

# Behind the real proxy and dispatcher (skipped, saying why, when the C++ binaries are not built).
python3 ../e2e/readme_stack.py go -- "$app/readme-worker"
