#!/usr/bin/env bash
# Python SDK checks, against the package as users get it:
#  1. builds the sdist, then the wheel from that sdist (PEP 517, `python -m build`), in a temporary
#     copy of clients/python and proto/, so nothing is written into the source tree; the artifacts
#     land in $SMTPBRIDGE_BUILD_ROOT/python-sdk/dist (default <repo>/build) and are rebuilt only
#     when the package sources or proto/ changed;
#  2. installs the wheel (with its test extras) into a fresh venv in a temporary folder and runs
#     pytest there over tests/ (the tests import the installed package, never src/);
#  3. runs the README example from that venv behind the real proxy and dispatcher
#     (clients/e2e/readme_stack.py: swaks, the blocked recipient gets the worker's 550).
# It also installs that wheel into clients/python/.venv, the interpreter tests/conformance/run.sh
# and bench/workers use; SMTPBRIDGE_SKIP_PYTEST=1 stops after that. Arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
out="${SMTPBRIDGE_BUILD_ROOT:-$repo/build}/python-sdk"
dist="$out/dist"
pipq=(--quiet --disable-pip-version-check)
mkdir -p "$out"

# The shared venv: the build frontend lives here too.
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  "$PYTHON" -m venv "$venv"
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Python commands run from the temporary folder: the repository root has a build/ folder that
# would shadow the `build` package (the current directory comes first on sys.path).
cd "$tmp"
if ! "$venv/bin/python" -c 'import build.__main__' 2>/dev/null; then
  "$venv/bin/python" -m pip install "${pipq[@]}" --upgrade "pip>=23" "build>=1.2,<2"
fi

stamp="$dist/.built"
inputs=("$here/pyproject.toml" "$here/setup.py" "$here/MANIFEST.in" "$here/README.md" "$here/src"
        "$here/tests" "$here/examples" "$repo/proto/smtpbridge")
if [ ! -f "$stamp" ] || [ -n "$(find "${inputs[@]}" -newer "$stamp" -print -quit)" ]; then
  mkdir -p "$tmp/copy/clients"
  cp -r "$repo/proto" "$tmp/copy/proto"
  (cd "$here" && tar --exclude=.venv --exclude=__pycache__ --exclude='*.egg-info' \
      --exclude=src/smtpbridge/_gen --exclude=build --exclude=dist -cf - .) |
    (mkdir -p "$tmp/copy/clients/python" && cd "$tmp/copy/clients/python" && tar -xf -)
  rm -rf "$dist"
  # sdist first, then the wheel from the unpacked sdist: proves the sdist is self-contained.
  "$venv/bin/python" -m build --outdir "$dist" "$tmp/copy/clients/python" >"$tmp/build.log" 2>&1 ||
    { cat "$tmp/build.log" >&2; exit 1; }
  touch "$stamp"
fi
wheel="$(ls "$dist"/smtpbridge-*.whl)"
sdist="$(ls "$dist"/smtpbridge-*.tar.gz)"
echo "python sdk: $(basename "$sdist") $(basename "$wheel")"

if [ ! -f "$venv/.smtpbridge-installed" ] || [ "$wheel" -nt "$venv/.smtpbridge-installed" ] ||
   [ "$stamp" -nt "$venv/.smtpbridge-installed" ]; then
  "$venv/bin/python" -m pip install "${pipq[@]}" --force-reinstall --no-deps "$wheel"
  "$venv/bin/python" -m pip install "${pipq[@]}" "$wheel[test]"
  touch "$venv/.smtpbridge-installed"
fi
if [ "${SMTPBRIDGE_SKIP_PYTEST:-0}" = 1 ]; then
  exit 0
fi

# A fresh venv with nothing but the wheel and its dependencies (pip's cache makes this quick).
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install "${pipq[@]}" "$wheel[test]"
status=0
(cd "$here" && PYTHONDONTWRITEBYTECODE=1 SMTPBRIDGE_EXPECT_INSTALLED=1 \
   "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider "$@") || status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
if [ "$status" -ne 0 ] || [ "$#" -gt 0 ]; then
  exit "$status"
fi

# The README example, run by the venv that has only the wheel, behind the real dispatcher and
# proxy (skipped, saying why, when the C++ binaries are not built).
"$tmp/venv/bin/python" - "$here/README.md" >"$tmp/readme_worker.py" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
print(re.search(r"<!-- readme-example -->\n```python\n(.*?)```", text, re.S).group(1))
PY
"$PYTHON" "$repo/clients/e2e/readme_stack.py" python -- "$tmp/venv/bin/python" "$tmp/readme_worker.py"
