#!/usr/bin/env bash
# devpi-server 6 beside mock-pypi in one run of the same harness: installs the pinned
# devpi-server into target/devpi-venv (from the package registry), starts it on a free
# loopback port with a fresh server directory, makes a volatile index root/dev, and
# runs the bench's `other-index` scenario (tiny uploads, 1 and 8 clients) against it,
# then `null` and `uploads` against mock-pypi. Stops devpi by PID.
#
#   benches/devpi.sh          (MOCK_PYPI_BENCH_SECONDS: seconds per loop, 5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/devpi-venv
pin="devpi-server==6.20.3"
if [ "$(cat "$venv/.pin" 2>/dev/null)" != "$pin" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin"
  echo "$pin" >"$venv/.pin"
fi
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i PATH=/usr/bin:/bin HOME="$work" "$venv/bin/devpi-init" --serverdir "$work/devpi" --root-passwd bench >/dev/null
env -i PATH=/usr/bin:/bin HOME="$work" "$venv/bin/devpi-server" --serverdir "$work/devpi" \
  --host 127.0.0.1 --port "$port" >"$work/devpi.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -u root:bench -X PUT -H 'Content-Type: application/json' \
  -d '{"type": "stage", "bases": [], "volatile": true}' "http://127.0.0.1:$port/root/dev" >/dev/null
echo "devpi-server $("$venv/bin/devpi-server" --version) on 127.0.0.1:$port (PID $pid)"
cargo bench --bench load --no-run 2>/dev/null
MOCK_PYPI_BENCH=other-index,null,uploads \
  MOCK_PYPI_BENCH_OTHER_URL="http://127.0.0.1:$port/root/dev/" MOCK_PYPI_BENCH_OTHER_AUTH=root:bench \
  MOCK_PYPI_BENCH_OTHER_PID=$pid cargo bench --bench load
