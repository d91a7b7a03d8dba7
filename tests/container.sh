#!/usr/bin/env bash
# The image and the compose sandbox on a real Docker engine, the way a user runs them.
#
# Installs Debian's docker.io, docker-compose and debootstrap when they are missing (as
# root), starts its own dockerd (no iptables, vfs storage) in a temporary directory and
# stops it by PID at the end. Image registries cannot be reached from our machines, so
# the base images are made here: debian:bookworm-slim from `debootstrap --variant=minbase`
# (the tarball is kept in target/container/ for the next run), python:3.11-slim-bookworm
# and postgres:15-bookworm on top of it from Debian's packages (tests/container/). The
# image takes the release binary (target/release/mock-pypi, built if missing) through the
# Dockerfile's `prebuilt` stage instead of compiling it again.
#
# Checks: the runtime image's size over its base, non-root, healthy within 3 s of start,
# stopped by SIGTERM within 2 s; `docker-compose up` on SQLite (both services healthy,
# the demo publishes with uv and installs with pip, the audit log names the issuer
# service, read-only root filesystems), then `--profile postgres`, then the `scale`
# profile (HAProxy in front of 3 replicas on PostgreSQL; one replica killed during a
# load of concurrent uv trusted publishes loses no acknowledged upload, stores none
# twice, fails no publish), then `down -v` leaves nothing behind.
#
#   tests/container.sh                 (MOCK_PYPI_CONTAINER_KEEP=1 keeps the engine's directory;
#                                       MOCK_PYPI_CONTAINER_ONLY="scale" runs only the named
#                                       parts of: hygiene sqlite postgres scale)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)

want() { case " ${MOCK_PYPI_CONTAINER_ONLY:-hygiene sqlite postgres scale} " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
say() { printf '== container: %s\n' "$*"; }
fail() { printf 'container test FAILED: %s\n' "$*" | tee /dev/stderr; exit 1; }
ms() { date +%s%3N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

[ "$(id -u)" = 0 ] || fail "needs root (it starts dockerd and runs debootstrap)"

missing=()
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's client: it builds with BuildKit (a newer client elsewhere on PATH may not).
docker() { /usr/bin/docker "$@"; }
compose() { docker-compose -f "$repo/docker-compose.yml" "$@"; }
export DOCKER_BUILDKIT=1 COMPOSE_DOCKER_CLI_BUILD=1

work=$(mktemp -d "${TMPDIR:-/tmp}/mock-pypi-engine.XXXXXX")
dockerd_pid=""
projects=()
cleanup() {
  local status=$?
  set +e
  for p in "${projects[@]}"; do
    docker rm -f "${p}_load" >/dev/null 2>&1
    compose -p "$p" --env-file "$repo/deploy/scale.env" --profile postgres --profile scale down -v --remove-orphans >/dev/null 2>&1
  done
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
  fi
  # Whatever the engine left mounted under its directory (network namespaces, shm).
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r umount -l 2>/dev/null
  if [ "$status" != 0 ]; then
    echo "--- dockerd log (last 30 lines)"
    tail -30 "$work/dockerd.log" 2>/dev/null
  fi
  if [ "${MOCK_PYPI_CONTAINER_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
  exit "$status"
}
trap cleanup EXIT

say "starting dockerd in $work"
/usr/sbin/dockerd --iptables=false --storage-driver=vfs \
  --data-root "$work/root" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
  --host "unix://$work/docker.sock" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$work/docker.sock"
for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker info >/dev/null 2>&1 || fail "dockerd did not come up"

say "base images (no registry: made from Debian's packages)"
mirror=${MOCK_PYPI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs_tar="$repo/target/container/bookworm-minbase.tar"
if [ ! -s "$rootfs_tar" ]; then
  t=$(ms)
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  # What the official slim image carries: updates and security sources, no apt caches,
  # no documentation installed by later packages.
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
    "$mirror" "$mirror" "$mirror" >"$work/rootfs/etc/apt/sources.list"
  cat >"$work/rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
// Images keep no package caches.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  cat >"$work/rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/cache/apt/*.bin \
    "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/info/* \
    "$work"/rootfs/usr/share/locale/*
  find "$work/rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  mkdir -p "$(dirname "$rootfs_tar")"
  tar -C "$work/rootfs" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$work/rootfs"
  say "debootstrap: $(( ($(ms) - t) / 1000 )) s"
fi
docker import "$rootfs_tar" debian:bookworm-slim >/dev/null
for base in python postgres; do
  ctx="$work/ctx-$base"
  mkdir -p "$ctx"
  cp "tests/container/$base.Dockerfile" "$ctx/Dockerfile"
  cp tests/container/postgres-entrypoint.sh "$ctx/"
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/host-ca-bundle.crt"
  tag=$([ "$base" = python ] && echo python:3.11-slim-bookworm || echo postgres:15-bookworm)
  docker build -q --network host -t "$tag" "$ctx" >/dev/null || fail "building the $tag stand-in"
done

say "images from the Dockerfile, with the release binary (stage 'prebuilt')"
[ -x target/release/mock-pypi ] || tests/release-build.sh
for target in runtime demo balancer; do
  tag=mock-pypi-$target:local
  [ "$target" = runtime ] && tag=mock-pypi:local
  docker build -q --network host --build-arg BINARY=prebuilt --target "$target" -t "$tag" . >/dev/null \
    || fail "docker build --target $target"
done

if want hygiene; then
say "image hygiene"
base_size=$(docker image inspect -f '{{.Size}}' debian:bookworm-slim)
image_size=$(docker image inspect -f '{{.Size}}' mock-pypi:local)
added=$(( (image_size - base_size) / 1000000 ))
binary=$(( $(stat -c %s target/release/mock-pypi) / 1000000 ))
echo "runtime image: ${added} MB over debian:bookworm-slim (binary ${binary} MB; target < 40 MB)"
[ "$added" -lt 40 ] || fail "the runtime stage adds ${added} MB (target: under 40 MB)"
user=$(docker image inspect -f '{{.Config.User}}' mock-pypi:local)
uid=$(docker run --rm --entrypoint id mock-pypi:local -u)
echo "runs as $user (uid $uid)"
[ "$user" = mockpypi ] && [ "$uid" = 10001 ] || fail "the image must run as the non-root user mockpypi (10001)"
cid=$(docker run -d --read-only -v mock-pypi-hygiene:/data mock-pypi:local)
t=$(ms)
health=starting
while [ $(( $(ms) - t )) -lt 10000 ]; do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$cid")
  [ "$health" = healthy ] && break
  sleep 0.05
done
healthy_ms=$(( $(ms) - t ))
echo "healthy ${healthy_ms} ms after start (read-only root filesystem; target <= 3000 ms)"
[ "$health" = healthy ] && [ "$healthy_ms" -le 3000 ] || { docker logs "$cid"; fail "not healthy within 3 s (status $health)"; }
t=$(ms)
docker kill -s TERM "$cid" >/dev/null
code=$(docker wait "$cid")
stop_ms=$(( $(ms) - t ))
echo "SIGTERM: exited with $code after ${stop_ms} ms (target <= 2000 ms)"
[ "$code" = 0 ] && [ "$stop_ms" -le 2000 ] || { docker logs "$cid"; fail "SIGTERM did not stop the server cleanly within 2 s"; }
docker rm -v "$cid" >/dev/null
docker volume rm mock-pypi-hygiene >/dev/null
fi

# Runs the sandbox as a user would and checks what they would see.
run_sandbox() {
  local label=$1 project=$2
  shift 2
  projects+=("$project")
  export MOCK_PYPI_INDEX_PORT MOCK_PYPI_ISSUER_PORT
  MOCK_PYPI_INDEX_PORT=$(free_port)
  MOCK_PYPI_ISSUER_PORT=$(free_port)
  local t
  t=$(ms)
  compose -p "$project" "$@" up -d --no-build 2>&1 | sed 's/^/  /'
  local demo="${project}_demo_1" code
  code=$(docker wait "$demo")
  docker logs "$demo" 2>&1 | sed 's/^/  demo | /'
  [ "$code" = 0 ] || { compose -p "$project" "$@" logs --tail 40; fail "$label: the demo exited with $code"; }
  docker logs "$demo" 2>&1 | grep -q "installed compose-demo 1.0.0" || fail "$label: the demo did not install the package"
  echo "$label: demo done in $(( ($(ms) - t) / 1000 )) s after 'up'"
  for service in index issuer; do
    local c="${project}_${service}_1"
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ] || fail "$label: $service is not healthy"
    [ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$c")" = true ] || fail "$label: $service's root filesystem is writable"
  done
  local base="http://127.0.0.1:$MOCK_PYPI_INDEX_PORT"
  curl -fsS "$base/simple/compose-demo/" | grep -q 'compose_demo-1.0.0-py3-none-any.whl' \
    || fail "$label: the index on the host's port does not list the wheel"
  curl -fsS -H 'Authorization: Bearer compose-admin-token' "$base/_mock/api/exchanges?outcome=accepted" \
    | python3 -c 'import json, sys
rows = json.load(sys.stdin)["exchanges"]
assert any(r["issuer"] == "http://issuer:8001/github" and r["project"] == "compose-demo" for r in rows), rows
print("audit log: accepted exchange from", rows[0]["issuer"], "for", rows[0]["project"])' \
    || fail "$label: the audit log does not name the issuer service"
}

if want sqlite; then
say "docker-compose up (SQLite)"
project="mpci$$"
run_sandbox sqlite "$project"
compose -p "$project" down -v 2>&1 | sed 's/^/  /'
fi

if want postgres; then
say "docker-compose --profile postgres up"
project="mpcipg$$"
export MOCK_PYPI_DATABASE_URL=postgres://mockpypi:mockpypi@postgres:5432/mockpypi
run_sandbox postgresql "$project" --profile postgres
files=$(docker exec "${project}_postgres_1" psql -U mockpypi -d mockpypi -tAc 'SELECT COUNT(*) FROM files')
echo "postgresql: the index stored $files files in PostgreSQL"
[ "$files" = 2 ] || fail "postgresql: expected the wheel and the sdist in PostgreSQL, found $files files"
compose -p "$project" --profile postgres down -v 2>&1 | sed 's/^/  /'
unset MOCK_PYPI_DATABASE_URL
fi

if want scale; then
say "docker-compose --profile scale up --scale index=3 (HAProxy, 3 replicas, PostgreSQL)"
project="mpcisc$$"
projects+=("$project")
scale() { compose -p "$project" --env-file "$repo/deploy/scale.env" --profile scale "$@"; }
# Free loopback ports for the balancer and the replicas' range (the env file's are defaults).
read -r MOCK_PYPI_BALANCER_PORT MOCK_PYPI_INDEX_PORT MOCK_PYPI_BALANCER_STATS_PORT < <(python3 -c '
import socket
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
start = next(p for p in range(20000, 30000, 20) if all(free(p + i) for i in range(12)))
print(start + 10, f"{start}-{start + 9}", start + 11)')
MOCK_PYPI_ISSUER_PORT=$(free_port)
export MOCK_PYPI_BALANCER_PORT MOCK_PYPI_INDEX_PORT MOCK_PYPI_ISSUER_PORT MOCK_PYPI_BALANCER_STATS_PORT
t=$(ms)
scale up -d --no-build --scale index=3 issuer postgres index balancer 2>&1 | sed 's/^/  /'
for n in 1 2 3; do
  c="${project}_index_$n"
  for _ in $(seq 1 150); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] && break
    sleep 0.2
  done
  [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ] || { scale logs --tail 30; fail "scale: $c is not healthy"; }
done
balancer="${project}_balancer_1"
ups() { docker logs "$balancer" 2>&1 | grep -c 'is UP' || true; }
for _ in $(seq 1 100); do
  [ "$(ups)" -ge 3 ] && break
  sleep 0.2
done
docker logs "$balancer" 2>&1 | grep 'is UP' | sed 's/^/  balancer | /'
[ "$(ups)" -ge 3 ] || { docker logs "$balancer"; fail "scale: the balancer does not see 3 healthy replicas"; }
echo "scale: 3 replicas healthy behind the balancer $(( $(ms) - t )) ms after 'up'"
curl -fsS "http://127.0.0.1:$MOCK_PYPI_BALANCER_PORT/_mock/health" >/dev/null || fail "scale: the balancer's host port does not answer"

docker run -d --name "${project}_load" --network "${project}_default" \
  -e ISSUER_URL=http://issuer:8001 -e CA_FILE=/index-data/tls/ca.pem \
  -e MOCK_PYPI_ADMIN_TOKEN=compose-admin-token -e MOCK_PYPI_ISSUER_REQUEST_TOKEN=compose-request-token \
  -e PAYLOAD=4000000 -v "${project}_index-data:/index-data:ro" -v "$repo/tests/container/scale-load.sh:/load.sh:ro" \
  mock-pypi-demo:local sh /load.sh >/dev/null
# The victim: a replica with a session open through the balancer at that moment (from
# HAProxy's statistics: server name, address, current sessions).
stats="http://127.0.0.1:$MOCK_PYPI_BALANCER_STATS_PORT/stats;csv"
victim="" victim_server="" killed=""
for _ in $(seq 1 1200); do
  if docker logs "${project}_load" 2>&1 | grep -q '^published 10 '; then
    busy=$(curl -fsS "$stats" | python3 -c '
import csv, sys
rows = csv.DictReader(line.lstrip("# ") for line in sys.stdin)
busy = [r for r in rows if r["pxname"] == "replicas" and r["svname"].startswith("index")
        and r["status"] == "UP" and int(r["scur"] or 0) > 0]
if busy:
    print(busy[0]["svname"], busy[0]["addr"])')
    if [ -n "$busy" ]; then
      read -r victim_server addr <<<"$busy"
      for n in 1 2 3; do
        c="${project}_index_$n"
        ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")
        [ "${addr%%:*}" = "$ip" ] && victim=$c
      done
      [ -n "$victim" ] || fail "scale: no replica has the address $addr"
      docker kill -s KILL "$victim" >/dev/null
      killed=$(docker logs "${project}_load" 2>&1 | grep -c '^published')
      break
    fi
  fi
  [ "$(docker inspect -f '{{.State.Running}}' "${project}_load")" = true ] || break
  sleep 0.05
done
code=$(docker wait "${project}_load")
docker logs "${project}_load" 2>&1 | grep -v '^published' | sed 's/^/  load | /'
[ -n "$killed" ] || fail "scale: the load ended before the replica could be killed"
echo "scale: killed $victim ($victim_server, a session open) with SIGKILL after $killed acknowledged publishes"
[ "$code" = 0 ] || { scale logs --tail 20 index; fail "scale: the load failed (exit $code)"; }
acknowledged=$(docker logs "${project}_load" 2>&1 | grep -c '^published')
read -r rows names < <(docker exec "${project}_postgres_1" psql -U mockpypi -d mockpypi -tA -F ' ' \
  -c "SELECT COUNT(*), COUNT(DISTINCT filename) FROM files WHERE filename LIKE 'scale_load-%'")
echo "scale: PostgreSQL holds $rows files ($names names) for $acknowledged acknowledged publishes"
[ "$rows" = "$names" ] || fail "scale: a file is stored twice"
[ "$rows" = $((acknowledged * 2)) ] || fail "scale: expected $((acknowledged * 2)) files, found $rows"
# Who served what, from HAProxy's connection log: the victim before it died, the
# others throughout.
docker logs "$balancer" 2>&1 | grep -o 'replicas/index[0-9]*' | sort | uniq -c | sed 's/^/  connections: /'
docker logs "$balancer" 2>&1 | grep -E "$victim_server.*(DOWN|is going)" | sed 's/^/  balancer | /' | tail -3 || true
# tcplog's termination state: S in first place is the server aborting, K a session
# closed because its replica was marked down.
cut=$(docker logs "$balancer" 2>&1 | grep -cE "replicas/$victim_server [-0-9/+]+ [0-9]+ [SK]" || true)
docker logs "$balancer" 2>&1 | grep "replicas/$victim_server " | tail -6 | sed 's/^/  victim | /'
# The victim had a session open when it was killed (its statistics said so); whether
# that session was mid-request or between requests is the kernel's timing, so this is
# reported, not required.
echo "scale: the kill cut $cut open session(s); no publish failed and uv retried $(docker logs "${project}_load" 2>&1 | sed -n 's/.*uv retried \([0-9]*\) time.*/\1/p') time(s)"
served=$(docker logs "$balancer" 2>&1 | grep -o 'replicas/index[0-9]*' | sort -u | wc -l)
[ "$served" -ge 3 ] || fail "scale: the load reached only $served replicas"
docker rm -f "${project}_load" >/dev/null
scale down -v 2>&1 | sed 's/^/  /'
fi

say "down -v leaves nothing behind"
left=$(docker ps -aq; docker volume ls -q; docker network ls -q --filter type=custom)
[ -z "$left" ] || { docker ps -a; docker volume ls; docker network ls; fail "containers, volumes or networks left behind"; }

echo "container test passed in $(( $(date +%s) - started )) s"
