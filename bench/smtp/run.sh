#!/usr/bin/env bash
# SMTP throughput through the proxy, as a ratio to the same traffic without it, in one run:
#   direct: smtp-source -> smtp-sink
#   proxy:  smtp-source -> smtpbridge-proxy (one INBOUND_COMMAND binding on RCPT to the C++ example
#           worker, via the dispatcher) -> smtp-sink
# Prints messages/s for both and the ratio (target >= 0.7). Loopback only; stops what it starts.
#
# Usage: bench/smtp/run.sh [--build DIR] [--messages N] [--sessions S] [--size BYTES] [--rounds R]
#                          [--no-policy] [--threads N]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build/release"
messages=2000
sessions=20
size=2000
rounds=3
policy=rcpt
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --sessions) sessions=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-policy) policy=none; shift ;;   # empty bindings: the proxy's own cost only
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
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
wait_tcp "$sink_port"

"$bin/smtpbridge-example-worker" --listen 127.0.0.1:0 --ready-file "$work/worker.ready" \
  --reject-rcpt 'blocked@*' --log-level warn >"$work/worker.log" 2>&1 &
pids+=($!)
worker=$(wait_ready "$work/worker.ready")

if [[ $policy == none ]]; then echo "bindings: []" >"$work/bindings.yaml"; else
cat >"$work/bindings.yaml" <<YAML
bindings:
  - name: rcpt-policy
    event: INBOUND_COMMAND
    rule: RCPT
    sink: ipv4:$worker
    timeout: 20ms
YAML
fi
"$bin/smtpbridge-dispatcher" --listen 127.0.0.1:0 --bindings "$work/bindings.yaml" \
  --ready-file "$work/dispatcher.ready" --log-level warn >"$work/dispatcher.log" 2>&1 &
pids+=($!)
dispatcher=$(wait_ready "$work/dispatcher.ready")

cat >"$work/proxy.yaml" <<YAML
hostname: bench.proxy
threads: ${threads:-0}
budgets:
  default: 20ms
  _EOD: 200ms
YAML
metrics_port=$(free_port)
"$bin/smtpbridge-proxy" --listen 127.0.0.1:0 --next-hop 127.0.0.1:"$sink_port" \
  --dispatcher "ipv4:$dispatcher" --config "$work/proxy.yaml" --ready-file "$work/proxy.ready" \
  --metrics-listen 127.0.0.1:"$metrics_port" \
  --log-level warn >"$work/proxy.log" 2>&1 &
pids+=($!)
proxy=$(wait_ready "$work/proxy.ready")

# smtp-source: one message per connection, `sessions` in parallel, one recipient each.
run() {
  local target=$1 count=$2
  local t0 t1
  t0=$(date +%s.%N)
  if ! smtp-source -m "$count" -s "$sessions" -l "$size" -f bench@example.com -t rcpt@example.net \
      -M bench.client "$target" >"$work/source.log" 2>&1; then
    echo "smtp-source failed against $target:" >&2; cat "$work/source.log" >&2; exit 1
  fi
  if grep -q 'fatal' "$work/source.log"; then cat "$work/source.log" >&2; exit 1; fi
  t1=$(date +%s.%N)
  python3 -c "print(f'{$count/($t1-$t0):.0f}')"
}

echo "bench/smtp: $messages messages x $rounds rounds, $sessions parallel sessions, $size-byte messages"
run "127.0.0.1:$sink_port" 200 >/dev/null   # warm-up, both paths
run "$proxy" 200 >/dev/null
sleep 2  # let the sink's breaker close again if the cold start tripped it
best_direct=0
best_proxy=0
for r in $(seq 1 "$rounds"); do
  d=$(run "127.0.0.1:$sink_port" "$messages")
  p=$(run "$proxy" "$messages")
  echo "  round $r: direct $d msg/s, via proxy $p msg/s"
  (( d > best_direct )) && best_direct=$d
  (( p > best_proxy )) && best_proxy=$p
done
ratio=$(python3 -c "print(f'{$best_proxy/$best_direct:.2f}')")
echo "direct (smtp-source -> smtp-sink):            $best_direct msg/s"
echo "via proxy (+ RCPT binding -> C++ worker):     $best_proxy msg/s"
echo "ratio proxy/direct:                           $ratio (target >= 0.70)"
if python3 -c "import sys; sys.exit(0 if $ratio >= 0.70 else 1)"; then echo "PASS smtp ratio $ratio >= 0.70"; else echo "FAIL smtp ratio $ratio < 0.70"; fi
# Counters show how often the policy was really consulted, and how often the sink's fallback
# answered instead (budget missed or breaker open on a loaded machine).
echo "proxy/sink counters (whole run, warm-up included):"
curl -s "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
  grep -E '^smtpbridge_(proxy_(events_fired|events_skipped|messages_relayed|sink_overdue)_total|sink_[a-z_]*(fallback|evaluations|verdicts)[a-z_]*)' |
  sed 's/^/  /' || echo "  (curl not available)"
