#!/usr/bin/env bash
# A throwaway PostgreSQL cluster from the installed binaries, for the PostgreSQL test run.
#   tests/pg-cluster.sh start DIR   → initdb in DIR, start on a free loopback port,
#                                     print the admin URL (postgres://mockpypi@127.0.0.1:PORT/postgres)
#   tests/pg-cluster.sh stop DIR    → stop it (the caller removes DIR)
# As root (CI), the server runs as the `postgres` user, which initdb requires.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "no PostgreSQL binaries under /usr/lib/postgresql" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -U mockpypi --auth=trust -E UTF8 >"$dir/initdb.log"
  # Durability is irrelevant for a throwaway cluster; speed is not.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >/dev/null
  echo "postgres://mockpypi@127.0.0.1:$port/postgres"
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
