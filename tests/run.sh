#!/usr/bin/env bash
# The full test suite. Installs the pinned Python clients (tests/requirements.txt)
# into target/test-venv when they are missing or changed, then runs every Rust test,
# including the end-to-end ones that drive those clients against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
if [ ! -x "$venv/bin/uv" ] || ! cmp -s tests/requirements.txt "$venv/.requirements.txt"; then
  echo "== installing pinned clients into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$venv/.requirements.txt"
fi
export MOCK_PYPI_TEST_VENV="$PWD/$venv"

# No doctests (there are none; their empty run would be the last word). The summary
# line adds up every test binary's result.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set -o pipefail
status=0
cargo test --locked --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit $status
