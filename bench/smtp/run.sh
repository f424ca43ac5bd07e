#!/usr/bin/env bash
# SMTP throughput through the proxy, as a ratio to the same traffic without it, in one run:
#   direct: smtp-source -> smtp-sink
#   proxy:  smtp-source -> smtpbridge-proxy (one INBOUND_COMMAND binding on RCPT to the C++ example
#           worker, via the dispatcher) -> smtp-sink
#   proxy, cached: the same with the worker granting a cache TTL (--cache-ttl, default 10s) on
#           its verdicts: smtp-source sends the same RCPT in every message, so after the first
#           one the proxy's sink answers it from its fresh cache, without a round trip
#   proxy, no bindings: the same binary with `bindings: []` (its own relaying cost: the ceiling
#           for any policy, and the baseline of issue #15's target)
# Prints messages/s for each, and per message the stack's CPU (user + system) and context
# switches, proxy + dispatcher + worker (bench/common/proc_cost.py, 10 ms tick resolution), with
# the ratios: every RCPT evaluated remotely vs no bindings (target >= 0.7 in msg/s, pinned and
# unpinned; the CPU ratio says what the remote evaluation costs), and each vs direct.
# Loopback only; stops what it starts.
#
# Pinned: smtp-source and smtp-sink on CPU 0, proxy + dispatcher + worker on the other CPUs (for
# direct too), as when the proxy runs on its own host; unpinned, everything shares every CPU
# and the proxy's own socket work competes with the load generator's. By default each round
# runs both (the same processes, re-pinned with taskset between the two); --pin: pinned only;
# --no-pin: unpinned only.
#
# Usage: bench/smtp/run.sh [--build DIR] [--messages N] [--sessions S] [--size BYTES] [--rounds R]
#                          [--no-policy] [--threads N] [--cache-ttl TTL] [--no-cached-run] [--pin|--no-pin]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build/release"
messages=2000
sessions=20
size=2000
rounds=3
policy=rcpt
cache_ttl=10s
cached_run=1
pin_modes="unpinned pinned"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-policy) policy=none; shift ;;   # empty bindings: the proxy's own cost only
    --threads) threads=$2; shift 2 ;;
    --cache-ttl) cache_ttl=$2; shift 2 ;;
    --no-cached-run) cached_run=0; shift ;;
    --pin) pin_modes=pinned; shift ;;
    --no-pin) pin_modes=unpinned; shift ;;
    -h|--help) sed -n 2,27p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

for tool in smtp-source smtp-sink; do
  command -v "$tool" >/dev/null || { echo "bench/smtp: $tool not installed (apt-get install postfix)" >&2; exit 77; }
done
bin="$build/bin"
for b in smtpbridge-proxy smtpbridge-dispatcher smtpbridge-example-worker; do
  [[ -x "$bin/$b" ]] || { echo "bench/smtp: $bin/$b missing; build it first" >&2; exit 1; }
done

cpus=$(nproc)
all_cpus="0-$((cpus - 1))"
stack_cpus="1-$((cpus - 1))"
if [[ $pin_modes == pinned ]] && (( cpus < 2 )); then
  echo "bench/smtp: pinning needs 2 CPUs or more (use --no-pin)" >&2; exit 2
fi
if (( cpus < 2 )); then pin_modes=unpinned; fi  # one CPU: nothing to pin apart
on_peer_cpus=()   # prefix for smtp-source in the current mode

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ready() { for _ in $(seq 1 200); do [[ -s "$1" ]] && { head -1 "$1"; return 0; }; sleep 0.05; done; echo "timeout waiting for $1" >&2; return 1; }
wait_tcp() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

sink_port=$(free_port)
user_opt=()
[[ $(id -u) -eq 0 ]] && user_opt=(-u nobody)
smtp-sink "${user_opt[@]}" 127.0.0.1:"$sink_port" 1024 >"$work/smtp-sink.log" 2>&1 &
pids+=($!)
sink_pid=$!
wait_tcp "$sink_port"

[[ $policy == none ]] && cached_run=0

# One policy stack: worker (extra flags: $3...) -> dispatcher (bindings: $2, rcpt or none) ->
# proxy. Sets proxy_$1, metrics_$1 and pids_$1.
start_stack() {
  local name=$1 policy=$2; shift 2
  "$bin/smtpbridge-example-worker" --listen 127.0.0.1:0 --ready-file "$work/worker-$name.ready" \
    --reject-rcpt 'blocked@*' --log-level warn "$@" >"$work/worker-$name.log" 2>&1 &
  pids+=($!)
  local stack="$!"
  local worker
  worker=$(wait_ready "$work/worker-$name.ready")
  if [[ $policy == none ]]; then echo "bindings: []" >"$work/bindings-$name.yaml"; else
  cat >"$work/bindings-$name.yaml" <<YAML
bindings:
  - name: rcpt-policy
    event: INBOUND_COMMAND
    rule: RCPT
    sink: ipv4:$worker
    timeout: 20ms
YAML
  fi
  "$bin/smtpbridge-dispatcher" --listen 127.0.0.1:0 --bindings "$work/bindings-$name.yaml" \
    --ready-file "$work/dispatcher-$name.ready" --log-level warn >"$work/dispatcher-$name.log" 2>&1 &
  pids+=($!)
  stack+=" $!"
  local dispatcher
  dispatcher=$(wait_ready "$work/dispatcher-$name.ready")
  cat >"$work/proxy-$name.yaml" <<YAML
hostname: bench.proxy
threads: ${threads:-0}
budgets:
  default: 20ms
  _EOD: 200ms
YAML
  local metrics_port
  metrics_port=$(free_port)
  "$bin/smtpbridge-proxy" --listen 127.0.0.1:0 --next-hop 127.0.0.1:"$sink_port" \
    --dispatcher "ipv4:$dispatcher" --config "$work/proxy-$name.yaml" \
    --ready-file "$work/proxy-$name.ready" --metrics-listen 127.0.0.1:"$metrics_port" \
    --log-level warn >"$work/proxy-$name.log" 2>&1 &
  pids+=($!)
  stack+=" $!"
  printf -v "pids_$name" '%s' "$stack"
  printf -v "proxy_$name" '%s' "$(wait_ready "$work/proxy-$name.ready")"
  printf -v "metrics_$name" '%s' "$metrics_port"
}

start_stack remote "$policy"
proxy=$proxy_remote
if (( cached_run )); then start_stack cached "$policy" --cache-ttl "$cache_ttl"; fi
bare_run=0
if [[ $policy != none ]]; then bare_run=1; start_stack bare none; fi

proc_cost="$root/bench/common/proc_cost.py"
# "worker=PID dispatcher=PID proxy=PID" for proc_cost.py, from a stack's pid list.
cost_args() {
  local w d p
  read -r w d p <<<"$1"
  echo "worker=$w dispatcher=$d proxy=$p"
}
# Pins (or unpins) every thread of the stacks and of smtp-sink: "pinned" or "unpinned".
set_mode() {
  local p
  if [[ $1 == pinned ]]; then
    on_peer_cpus=(taskset -c 0)
    taskset -a -p -c 0 "$sink_pid" >/dev/null
    for p in $pids_remote ${pids_cached:-} ${pids_bare:-}; do taskset -a -p -c "$stack_cpus" "$p" >/dev/null; done
  else
    on_peer_cpus=()
    for p in "$sink_pid" $pids_remote ${pids_cached:-} ${pids_bare:-}; do taskset -a -p -c "$all_cpus" "$p" >/dev/null; done
  fi
}

# smtp-source: one message per connection, `sessions` in parallel, one recipient each.
run() {
  local target=$1 count=$2
  local t0 t1
  t0=$(date +%s.%N)
  if ! "${on_peer_cpus[@]}" smtp-source -m "$count" -s "$sessions" -l "$size" -f bench@example.com -t rcpt@example.net \
      -M bench.client "$target" >"$work/source.log" 2>&1; then
    echo "smtp-source failed against $target:" >&2; cat "$work/source.log" >&2; exit 1
  fi
  if grep -q 'fatal' "$work/source.log"; then cat "$work/source.log" >&2; exit 1; fi
  t1=$(date +%s.%N)
  python3 -c "print(f'{$count/($t1-$t0):.0f}')"
}

echo "bench/smtp: $messages messages x $rounds rounds, $sessions parallel sessions, $size-byte messages, $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)"
echo "modes: $pin_modes (pinned: smtp-source and smtp-sink on CPU 0, proxy + dispatcher + worker on CPUs $stack_cpus)"
run "127.0.0.1:$sink_port" 200 >/dev/null   # warm-up, every path
run "$proxy" 200 >/dev/null
(( cached_run )) && run "$proxy_cached" 200 >/dev/null
(( bare_run )) && run "$proxy_bare" 200 >/dev/null
# Fallback answers the sink of a stack gave so far (budget missed, breaker open...).
fallbacks_of() {
  curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk '/^smtpbridge_sink_fallbacks_total/ {s += $2} END {print s + 0}'
}
# Loads stack $1 once: sets rate_$1 (msg/s), cpu_$1 / cs_$1 (stack CPU us and context switches
# per message) and note_$1; raises best_$1 only when no RCPT was answered by the fallback in that
# round (a round the breaker spent open is fast for the wrong reason).
measure() {
  local name=$1 pids_var="pids_$1" proxy_var="proxy_$1" best_var="best_$1" metrics_var="metrics_$1"
  local f0 f1 rate cost
  f0=$(fallbacks_of "${!metrics_var}")
  # shellcheck disable=SC2046
  python3 "$proc_cost" snap $(cost_args "${!pids_var}") >"$work/cost-$name.json"
  rate=$(run "${!proxy_var}" "$messages")
  # shellcheck disable=SC2046
  cost=$(python3 "$proc_cost" diff "$work/cost-$name.json" $(cost_args "${!pids_var}") --decisions "$messages" --json)
  f1=$(fallbacks_of "${!metrics_var}")
  printf -v "rate_$name" '%s' "$rate"
  printf -v "cpu_$name" '%s' "$(python3 -c "import json,sys; print(f\"{json.loads(sys.argv[1])['total']['cpu_us']:.0f}\")" "$cost")"
  printf -v "cs_$name" '%s' "$(python3 -c "import json,sys; print(f\"{json.loads(sys.argv[1])['total']['ctxt']:.2f}\")" "$cost")"
  if (( f1 > f0 )); then
    printf -v "note_$name" '%s' ", $((f1 - f0)) fallback answers: round not counted"
    echo "{\"counted\": false, \"cost\": $cost}" >>"$work/costs-$name-$mode.jsonl"
  else
    printf -v "note_$name" '%s' ""
    echo "{\"counted\": true, \"cost\": $cost}" >>"$work/costs-$name-$mode.jsonl"
    (( rate > ${!best_var} )) && printf -v "$best_var" '%s' "$rate"
  fi
  return 0
}
# Median of a cost figure ($2: cpu_us or ctxt) over a stack's counted rounds in a mode (over all
# its rounds when none counted).
median_cost() {
  python3 - "$work/costs-$1-$mode.jsonl" "$2" <<'PY'
import json, sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except OSError:
    rows = []
counted = [r for r in rows if r["counted"]] or rows
v = sorted(r["cost"]["total"][sys.argv[2]] for r in counted)
fmt = ".0f" if sys.argv[2] == "cpu_us" else ".2f"
print(format(v[len(v) // 2], fmt) if v else "0")
PY
}
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}' if b > 0 else '0.00')" "$1" "$2"; }
at_least() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" "$1" "$2"; }
label="every RCPT evaluated remotely (C++ worker)"
[[ $policy == none ]] && label="no policy: bindings: []"
summary=()
for mode in $pin_modes; do
  set_mode "$mode"
  best_direct=0 best_remote=0 best_cached=0 best_bare=0
  rm -f "$work"/costs-*-"$mode".jsonl
  echo "--- $mode"
  for r in $(seq 1 "$rounds"); do
    d=$(run "127.0.0.1:$sink_port" "$messages")
    (( d > best_direct )) && best_direct=$d
    measure remote
    line="  round $r: direct $d msg/s, via proxy $rate_remote msg/s (stack $cpu_remote us, $cs_remote cs/msg$note_remote)"
    if (( cached_run )); then
      measure cached
      line+=", with worker-granted caching $rate_cached msg/s (stack $cpu_cached us, $cs_cached cs/msg$note_cached)"
    fi
    if (( bare_run )); then
      measure bare
      line+=", no bindings $rate_bare msg/s (stack $cpu_bare us, $cs_bare cs/msg$note_bare)"
    fi
    echo "$line"
  done
  cpu_r=$(median_cost remote cpu_us); cs_r=$(median_cost remote ctxt)
  echo "  direct (smtp-source -> smtp-sink): $best_direct msg/s"
  echo "  via proxy, $label: $best_remote msg/s ($(ratio "$best_remote" "$best_direct")x direct), stack $cpu_r us and $cs_r context switches per message (median)"
  (( best_remote == 0 )) && echo "  (every round had fallback answers: see the counters below)"
  if (( cached_run )); then
    echo "  via proxy, worker-granted cache_ttl $cache_ttl (same RCPT each message, answered from the sink's fresh cache after the first): $best_cached msg/s ($(ratio "$best_cached" "$best_direct")x direct), stack $(median_cost cached cpu_us) us, $(median_cost cached ctxt) cs per message"
  fi
  if (( bare_run )); then
    cpu_b=$(median_cost bare cpu_us); cs_b=$(median_cost bare ctxt)
    rr=$(ratio "$best_remote" "$best_bare")
    echo "  via proxy, no bindings (the proxy's own relaying cost): $best_bare msg/s ($(ratio "$best_bare" "$best_direct")x direct), stack $cpu_b us, $cs_b cs per message"
    echo "  remote / no bindings: $rr x msg/s, $(ratio "$cpu_r" "$cpu_b") x stack CPU per message, $(ratio "$cs_r" "$cs_b") x context switches"
    if at_least "$rr" 0.70; then v=PASS; else v=FAIL; fi
    summary+=("$v $mode: every RCPT remote at $rr x the msg/s of the same proxy with no bindings (target >= 0.70); stack CPU per message $(ratio "$cpu_r" "$cpu_b") x")
  else
    dr=$(ratio "$best_remote" "$best_direct")
    summary+=("INFO $mode: $label at $dr x direct")
  fi
done
for l in "${summary[@]}"; do echo "$l"; done
# Counters show how often the policy was really consulted, and how often the sink's fallback
# answered instead (budget missed or breaker open on a loaded machine).
counters() {
  curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null |
    grep -E '^smtpbridge_(proxy_(events_fired|events_skipped|messages_relayed|sink_overdue)_total|sink_[a-z_]*(fallback|evaluations|verdicts)[a-z_]*)' |
    grep -v ' 0$' | sed 's/^/  /' || echo "  (curl not available)"
}
echo "proxy/sink counters, every RCPT remote (whole run, warm-up included; zeros left out):"
counters "$metrics_remote"
if (( cached_run )); then
  echo "proxy/sink counters, worker-granted caching:"
  counters "$metrics_cached"
fi
