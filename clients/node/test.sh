#!/usr/bin/env bash
# Node SDK checks: install the locked dependencies, generate TypeScript from proto/ (ts-proto via
# protoc), compile, run node --test. Idempotent; needs node >= 20, npm and protoc.
set -euo pipefail
cd "$(dirname "$0")"
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
npm test
