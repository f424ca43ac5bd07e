#!/usr/bin/env bash
# Creates clients/python/.venv (once), installs the smtpbridge package (editable, protos generated
# from ../../proto) with its test extras, and runs pytest. Idempotent; exits non-zero on failure.
# SMTPBRIDGE_SKIP_PYTEST=1 only prepares the venv (tests/conformance/run.sh uses it).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# Reinstall only when the package or the protos changed since the last install.
stamp=".venv/.smtpbridge-installed"
if [ ! -f "$stamp" ] || [ -n "$(find pyproject.toml setup.py ../../proto/smtpbridge -newer "$stamp" -print -quit)" ] \
   || [ ! -f src/smtpbridge/_gen/smtpbridge/v1/event_pb2.py ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
if [ "${SMTPBRIDGE_SKIP_PYTEST:-0}" = 1 ]; then
  exit 0
fi
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
