#!/bin/sh
# bench/postfix: Postfix alone, + null milter, + pymilter, + smtpbridge-milter (+ dispatcher +
# example worker), + asyncio policy daemon, + smtpbridge-policyd; same smtp-source load, CPU and
# context switches per message. Needs root.
# usage: run.sh [BUILD_DIR] [--messages N] [--sessions S] [--rounds R] [--setups a,b] [--pin] [--socket tcp|unix]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
[ $# -gt 0 ] && shift
exec python3 "$here/run.py" --bin "$build/bin" "$@"
