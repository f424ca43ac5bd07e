#!/bin/sh
# bench/postfix: Postfix alone vs Postfix + pymilter vs Postfix + smtpbridge-milter (+ dispatcher
# + example worker), same smtp-source load. Needs root. usage: run.sh [BUILD_DIR] [extra run.py flags]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build/release}
[ $# -gt 0 ] && shift
exec python3 "$here/run.py" --bin "$build/bin" "$@"
