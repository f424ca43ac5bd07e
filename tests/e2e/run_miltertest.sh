#!/bin/sh
# Runs one miltertest Lua script against smtpbridge-milter. The milter has no dispatcher
# (an unreachable target), so every event answers from the sink's fallback: the local rules
# in RULES, else the default (continue).
# usage: run_miltertest.sh MILTERTEST MILTER_BIN SCRIPT.lua RULES.yaml
set -eu
miltertest=$1 milter=$2 script=$3 rules=$4
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
cat > "$work/sink.yaml" <<YAML
sink:
  dispatcher: ipv4:127.0.0.1:1
  local_rules: $rules
  interests:
    retry_after: 10s
YAML
"$milter" --listen inet:127.0.0.1:0 --ready-file "$work/ready" --sink-config "$work/sink.yaml" \
  --budget-command 500ms --budget-eom 500ms --log-level warn 2> "$work/milter.log" &
pid=$!
i=0
while [ ! -s "$work/ready" ]; do
  i=$((i + 1))
  if [ $i -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "smtpbridge-milter did not start:"; cat "$work/milter.log"; exit 1
  fi
  sleep 0.05
done
addr=$(head -n1 "$work/ready")
port=${addr##*:}
status=0
"$miltertest" ${MILTERTEST_FLAGS:-} -D socket="inet:${port}@127.0.0.1" -s "$script" || status=$?
if [ $status -ne 0 ]; then echo "--- milter log"; cat "$work/milter.log"; fi
exit $status
