#!/usr/bin/env bash
# Runs bench_latency from an existing build (it builds nothing).
#   bench/latency/run.sh [BUILD_DIR] [extra bench_latency flags...]
# BUILD_DIR defaults to build/release; e.g. bench/latency/run.sh build/release --rate 4000
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build/release}"
[[ $# -gt 0 ]] && shift
bin="$build/bin"
for f in bench_latency smtpbridge-dispatcher smtpbridge-example-worker; do
  if [[ ! -x "$bin/$f" ]]; then
    echo "run.sh: $bin/$f is missing; build it first:" >&2
    echo "  cmake --build $build --target bench_latency" >&2
    exit 1
  fi
done
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -sr)"
exec "$bin/bench_latency" --bin-dir "$bin" --events 20000 --warmup 1000 --rate 2000 --seconds 4 --rounds 4 \
  --budget 20ms "$@"
