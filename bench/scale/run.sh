#!/usr/bin/env bash
# Runs bench_scale from an existing build (it builds nothing).
#   bench/scale/run.sh [BUILD_DIR] [extra bench_scale flags...]   (--smoke: a few seconds)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build/release}"
[[ $# -gt 0 ]] && shift
bin="$build/bin"
for f in bench_scale smtpbridge-dispatcher smtpbridge-example-worker; do
  if [[ ! -x "$bin/$f" ]]; then
    echo "run.sh: $bin/$f is missing; build it first:" >&2
    echo "  cmake --build $build --target bench_scale" >&2
    exit 1
  fi
done
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -sr)"
exec "$bin/bench_scale" --bin-dir "$bin" "$@"
