#!/usr/bin/env bash
# Prepares the SDK workers that tests/integration/trace_languages_test.cc starts (ctest runs this
# as the fixture `sdk_workers` before it): the Python SDK installed into clients/python/.venv
# (clients/python/test.sh with SMTPBRIDGE_SKIP_PYTEST=1, as the conformance suite does), and the Go
# SDK's example worker built into BIN_DIR. A missing toolchain is not an error here: the test then
# skips, saying which; a toolchain that is present and fails to build is.
#
#   prepare_sdk_workers.sh BIN_DIR
set -euo pipefail
bin="${1:?usage: prepare_sdk_workers.sh BIN_DIR}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if command -v python3 >/dev/null 2>&1; then
  SMTPBRIDGE_SKIP_PYTEST=1 "$repo/clients/python/test.sh" >&2
else
  echo "prepare_sdk_workers: python3 not on PATH: the Python worker will be skipped"
fi

if command -v go >/dev/null 2>&1; then
  mkdir -p "$bin"
  (cd "$repo/clients/go" && go build -o "$bin/smtpbridge-go-example-worker" ./cmd/example-worker)
  echo "prepare_sdk_workers: built $bin/smtpbridge-go-example-worker"
else
  rm -f "$bin/smtpbridge-go-example-worker"
  echo "prepare_sdk_workers: go not on PATH: the Go worker will be skipped"
fi
