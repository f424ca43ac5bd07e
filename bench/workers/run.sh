#!/usr/bin/env bash
# The same load through the same dispatcher to each language's conformance worker, side by side.
#
#   bench/workers/run.sh [--build-dir DIR] [--events N] [--concurrency C] [--warmup N]
#                        [--languages cpp,python,go,node] [--cpp-worker PATH]
#
# DIR (a build tree or its bin/, default build/release) has smtpbridge-dispatcher and, unless
# --cpp-worker says otherwise, smtpbridge-conformance-worker-cpp.
#
# For each language: start its conformance worker (--listen 127.0.0.1:0 --ready-file F), start
# smtpbridge-dispatcher with one RCPT binding to it whose sink_properties make every verdict a
# REJECT (so a wrong or missing answer is counted), drive N events through Dispatcher.Evaluate
# with C concurrent callers (closed loop, after a warm-up), stop both. Prints p50/p99/p99.9,
# events/s, and CPU and context switches per event of the worker and of the dispatcher
# (bench/common/proc_cost.py, warm-up included) per language, with ratios to the C++ worker
# measured in the same run.
# Loopback only; every process it starts is stopped by PID.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="$repo/build/release/bin"
events=20000
concurrency=16
warmup=1000
languages="cpp,python,go,node"
cpp_worker=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --events) events="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --languages) languages="$2"; shift 2 ;;
    --cpp-worker) cpp_worker="$2"; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# Accept a build tree (build/release) as well as its bin folder.
[[ -x "$build_dir/bin/smtpbridge-dispatcher" ]] && build_dir="$build_dir/bin"
dispatcher="$build_dir/smtpbridge-dispatcher"
cpp_worker="${cpp_worker:-$build_dir/smtpbridge-conformance-worker-cpp}"
[[ -x "$dispatcher" ]] || { echo "run.sh: $dispatcher not found (build the release preset first)" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Programs built once, outside the measured part.
(cd "$repo/bench/workers/loadgen" && go build -o "$work/loadgen" .)
(cd "$repo/clients/go" && go build -o "$work/go-conformance-worker" ./cmd/conformance-worker)

worker_command() {  # prints the command line of a language's conformance worker, or fails
  case "$1" in
    cpp) [[ -x "$cpp_worker" ]] && echo "$cpp_worker" ;;
    go) echo "$work/go-conformance-worker" ;;
    python)
      [[ -x "$repo/clients/python/.venv/bin/python" ]] || SMTPBRIDGE_SKIP_PYTEST=1 "$repo/clients/python/test.sh" >&2
      echo "$repo/clients/python/.venv/bin/python $repo/clients/python/examples/conformance_worker.py" ;;
    node)
      [[ -f "$repo/clients/node/dist/examples/conformance-worker.js" ]] ||
        (cd "$repo/clients/node" && npm ci --no-audit --no-fund && npm run build) >&2
      echo "node $repo/clients/node/dist/examples/conformance-worker.js" ;;
    *) return 1 ;;
  esac
}

wait_ready() {  # file pid: wait (bounded) for a ready file, fail if the process died
  for _ in $(seq 1 300); do
    [[ -s "$1" ]] && { head -n1 "$1"; return 0; }
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

stop() {  # pid: SIGTERM, then wait
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

failures=0
results="$work/results.jsonl"
: > "$results"
IFS=, read -r -a langs <<< "$languages"
for lang in "${langs[@]}"; do
  if ! cmd="$(worker_command "$lang")" || [[ -z "$cmd" ]]; then
    echo "run.sh: no $lang conformance worker, skipped" >&2
    continue
  fi
  rm -f "$work/worker.ready" "$work/dispatcher.ready"
  # shellcheck disable=SC2086  # the command is a word list by design
  $cmd --listen 127.0.0.1:0 --ready-file "$work/worker.ready" 2>"$work/$lang-worker.log" &
  wpid=$!; pids+=("$wpid")
  if ! waddr="$(wait_ready "$work/worker.ready" "$wpid")"; then
    echo "run.sh: $lang worker did not start:" >&2; tail -5 "$work/$lang-worker.log" >&2
    stop "$wpid"; failures=$((failures + 1)); continue
  fi
  cat > "$work/bindings.yaml" <<YAML
bindings:
  - name: "bench-$lang"
    instance: 1
    event: "INBOUND_COMMAND"
    rule: "RCPT"
    priority: 24575
    sink: "ipv4:$waddr"
    sink_properties:
      verdict: "reject"
      reply: "550 5.7.1 bench"
    timeout: "2s"
    on_error: "continue"
    mode: "enforce"
    enabled: true
YAML
  "$dispatcher" --listen 127.0.0.1:0 --bindings "$work/bindings.yaml" --ready-file "$work/dispatcher.ready" \
    --log-level warn 2>"$work/$lang-dispatcher.log" &
  dpid=$!; pids+=("$dpid")
  if ! daddr="$(wait_ready "$work/dispatcher.ready" "$dpid")"; then
    echo "run.sh: dispatcher did not start:" >&2; tail -5 "$work/$lang-dispatcher.log" >&2
    stop "$dpid"; stop "$wpid"; failures=$((failures + 1)); continue
  fi
  echo "run.sh: $lang: $events events, $concurrency callers, worker $waddr, dispatcher $daddr" >&2
  python3 "$repo/bench/common/proc_cost.py" snap "worker=$wpid" "dispatcher=$dpid" >"$work/cost0.json"
  if ! "$work/loadgen" --dispatcher "$daddr" --events "$events" --warmup "$warmup" \
      --concurrency "$concurrency" --label "$lang" >> "$results"; then
    echo "run.sh: $lang: load run had errors: $(tail -1 "$results")" >&2
  fi
  printf '{"label": "%s", "cost": %s}\n' "$lang" \
    "$(python3 "$repo/bench/common/proc_cost.py" diff "$work/cost0.json" "worker=$wpid" "dispatcher=$dpid" \
       --decisions $((events + warmup)) --json)" >>"$work/costs.jsonl"
  stop "$dpid"; stop "$wpid"
done

status=0
touch "$work/costs.jsonl"
python3 - "$results" "$work/costs.jsonl" <<'PY' || status=$?
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
costs = {c["label"]: c["cost"] for c in (json.loads(l) for l in open(sys.argv[2]) if l.strip())}
if not rows:
    sys.exit("run.sh: no results")
base = next((r for r in rows if r["label"] == "cpp"), None)
print(f"workers bench: {rows[0]['events']} events, {rows[0]['concurrency']} concurrent callers, "
      "closed loop through one dispatcher (Dispatcher.Evaluate, 1 RCPT binding)")
head = (f"{'worker':<8} {'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'events/s':>10} {'p50 x cpp':>10} {'ev/s x cpp':>11} "
        f"{'errors':>7} {'worker cpu':>10} {'cs':>5} {'cpu x cpp':>9} {'cs x cpp':>8} {'disp cpu':>9} {'cs':>5}")
print(head)
print("-" * len(head))
for r in rows:
    p50x = f"{r['p50_us'] / base['p50_us']:.2f}" if base else "-"
    tpx = f"{r['events_per_s'] / base['events_per_s']:.2f}" if base else "-"
    print(f"{r['label']:<8} {r['p50_us']:>9.0f} {r['p99_us']:>9.0f} {r['p999_us']:>9.0f} "
          f"{r['events_per_s']:>10.0f} {p50x:>10} {tpx:>11} {r['errors'] + r['wrong_verdicts']:>7}", end="")
    c, b = costs.get(r["label"]), costs.get("cpp")
    if c:
        wx = f"{c['worker']['cpu_us'] / b['worker']['cpu_us']:.2f}" if b and b["worker"]["cpu_us"] > 0 else "-"
        cx = f"{c['worker']['ctxt'] / b['worker']['ctxt']:.2f}" if b and b["worker"]["ctxt"] > 0 else "-"
        print(f" {c['worker']['cpu_us']:>7.0f} us {c['worker']['ctxt']:>5.2f} {wx:>9} {cx:>8} "
              f"{c['dispatcher']['cpu_us']:>6.0f} us {c['dispatcher']['ctxt']:>5.2f}")
    else:
        print()
print("cpu, cs: per event (warm-up included), user + system CPU and context switches of the worker and of "
      "the dispatcher (bench/common/proc_cost.py); x cpp: the worker's as a ratio to the C++ worker's")
if base is None:
    print("(no C++ worker in this run: no baseline ratios)")
bad = [r for r in rows if r["errors"] or r["wrong_verdicts"]]
for r in bad:
    print(f"{r['label']}: {r['errors']} errors, {r['wrong_verdicts']} wrong verdicts; first: {r.get('first_error', '')}")
sys.exit(1 if bad else 0)
PY
if [[ $failures -gt 0 ]]; then
  echo "run.sh: $failures language(s) could not be started" >&2
  status=1
fi
exit "$status"
