#!/usr/bin/env bash
# Runs the conformance suite (tests/conformance/run.py) with clients/python's venv, creating it
# when needed. Arguments go to run.py, e.g. --languages python,go --build-dir build/release/bin.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
SMTPBRIDGE_SKIP_PYTEST=1 "$repo/clients/python/test.sh" >&2
exec "$repo/clients/python/.venv/bin/python" "$here/run.py" "$@"
