#!/usr/bin/env bash
# A short smoke run of every bench (seconds each, not minutes): proves each still starts its
# processes, drives load, prints its figures and ratios (CPU and context switches per decision
# included), and stops everything; then checks that the lines a reader relies on are there and
# parse. Figures from a smoke run mean nothing and are not judged (PASS/FAIL lines included);
# run the benches themselves for numbers (bench/README.md).
#   bench/smoke.sh [BUILD_DIR]
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build/release}"
cd "$repo"
cmake --build "$build" -j "$(nproc)" --target bench_latency bench_scale bench_null_milter >/dev/null || exit 1

failed=0
log() { echo "/tmp/smtpbridge-bench-$1.log"; }
run() {
  local name=$1
  shift
  echo "--- bench $name (smoke)"
  if timeout 300 "$@" >"$(log "$name")" 2>&1; then
    tail -n 15 "$(log "$name")"
  else
    tail -n 40 "$(log "$name")"
    echo "bench $name failed"
    failed=1
  fi
}
# expect NAME WHAT REGEX: the bench's output has a line matching REGEX (extended grep).
expect() {
  if ! grep -Eq -- "$3" "$(log "$1")"; then
    echo "bench $1: no line with $2 (/$3/) in its output"
    failed=1
  fi
}
num='[0-9]+(\.[0-9]+)?'

run latency bench/latency/run.sh "$build" --events 500 --warmup 100 --rate 500 --seconds 1 --rounds 1 \
  --sweep 1,8 --sweep-events 300 --per-thread
for side in 'baseline cb fwd' 'baseline cq fwd' 'sink->disp->worker'; do
  expect latency "$side: cpu and switches per event" "^$side +sent .* cpu +$num us/ev +$num cs/ev"
done
expect latency "per-process cost" "per process, per event: client $num us $num cs \| echo"
expect latency "per-thread cost" "^ +dispatcher: [^ ]+ $num us $num cs"
for side in 'raw unary \(cq\)' 'raw stream' 'stack'; do
  for n in 1 8; do
    expect latency "sweep $n in flight, $side" "^ +$n +$side +p50 +$num us +p99 +$num us .* cpu +$num us/dec +$num cs/dec"
  done
done
expect latency "the 1-in-flight p50 target" "^(PASS|FAIL) +1 in flight: stack p50 $num us is $num"

run smtp bench/smtp/run.sh --build "$build" --messages 200 --rounds 1
modes="unpinned pinned"
[ "$(nproc)" -ge 2 ] || modes=unpinned
for mode in $modes; do
  expect smtp "$mode: remote vs no bindings" "^(PASS|FAIL) $mode: every RCPT remote at $num x .* stack CPU per message $num x"
done
expect smtp "stack cost per round" "via proxy $num msg/s \(stack $num us, $num cs/msg"

if [ "$(id -u)" -eq 0 ]; then
  run postfix bench/postfix/run.sh "$build" --messages 200 --sessions 5 --rounds 1
  if ! grep -q 'skipped' "$(log postfix)"; then
    for setup in postfix null pymilter smtpbridge policy-py policyd; do
      expect postfix "$setup row" "^  $setup +$num +$num""x +$num% +$num us +$num +$num us"
    done
    expect postfix "smtpbridge vs null milter" "^  smtpbridge / null milter: $num""x msg/s, $num""x path CPU"
    expect postfix "policy host vs asyncio daemon" "^(PASS|FAIL) policy host path CPU per message $num""x"
  fi
else
  echo "--- bench postfix: skipped (needs root for Postfix)"
fi

run scale bench/scale/run.sh "$build" --smoke
expect scale "cpu and switches per sent event" "cpu +$num us/sent ev .* $num cs/sent ev"
expect scale "3 dispatchers: events/s, cpu and switches" "^3 dispatchers +$num ev/s .* cpu +$num us/ev .* $num cs/ev"
expect scale "the spread over 3 dispatchers" "spread: d0 $num % d1 $num % d2 $num %"
expect scale "latency after a kill -9" "^after +answered +$num ev/s +p50 .* fallbacks [0-9]+ of [0-9]+"

run workers bench/workers/run.sh --build-dir "$build" --events 300 --warmup 50
expect workers "worker cpu column" "^cpu, cs: per event"
exit $failed
