#!/usr/bin/env bash
# A short smoke run of every bench (seconds each, not minutes): proves each still starts its
# processes, drives load, prints its figures and ratios, and stops everything. Figures from
# a smoke run mean nothing; run the benches themselves for numbers (bench/README.md).
#   bench/smoke.sh [BUILD_DIR]
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build/release}"
cd "$repo"
cmake --build "$build" -j "$(nproc)" --target bench_latency bench_scale >/dev/null || exit 1

failed=0
run() {
  local name=$1
  shift
  echo "--- bench $name (smoke)"
  if timeout 300 "$@" >"/tmp/smtpbridge-bench-$name.log" 2>&1; then
    tail -n 15 "/tmp/smtpbridge-bench-$name.log"
  else
    tail -n 40 "/tmp/smtpbridge-bench-$name.log"
    echo "bench $name failed"
    failed=1
  fi
}

run latency bench/latency/run.sh "$build" --events 500 --warmup 100 --rate 500 --seconds 1 --rounds 1
run smtp bench/smtp/run.sh --build "$build" --messages 200 --rounds 1
if [ "$(id -u)" -eq 0 ]; then
  run postfix bench/postfix/run.sh "$build" --messages 200 --sessions 5 --rounds 1
else
  echo "--- bench postfix: skipped (needs root for Postfix)"
fi
run scale bench/scale/run.sh "$build" --smoke
run workers bench/workers/run.sh --build-dir "$build" --events 300 --warmup 50
exit $failed
