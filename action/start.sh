#!/usr/bin/env bash
# The GitHub Action's one step (action.yml): install mock-pypi, start it in the background,
# wait until it serves, and hand its addresses to later steps. Runs anywhere with the
# runner's variables set (the test suite runs it directly with temporary files for them):
#   GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, RUNNER_TEMP, GITHUB_ACTION_PATH
#   MOCK_PYPI_ACTION_WHEEL (path or URL; empty: cargo install from GITHUB_ACTION_PATH),
#   MOCK_PYPI_ACTION_CONFIG, MOCK_PYPI_ACTION_ARGS, MOCK_PYPI_ACTION_DATA_DIR
set -euo pipefail
: "${GITHUB_OUTPUT:?}" "${GITHUB_ENV:?}" "${GITHUB_PATH:?}" "${RUNNER_TEMP:?}"
here=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/.." && pwd)}
root="$RUNNER_TEMP/mock-pypi-action"
data_dir=${MOCK_PYPI_ACTION_DATA_DIR:-$RUNNER_TEMP/mock-pypi}
mkdir -p "$root" "$data_dir"
data_dir=$(cd "$data_dir" && pwd)

if [ -n "${MOCK_PYPI_ACTION_WHEEL:-}" ]; then
  echo "::group::Installing mock-pypi from ${MOCK_PYPI_ACTION_WHEEL}"
  python3 -m venv "$root/venv"
  "$root/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$MOCK_PYPI_ACTION_WHEEL"
  bin_dir="$root/venv/bin"
else
  echo "::group::Building mock-pypi from $here with cargo"
  cargo install --locked --quiet --path "$here" --root "$root/cargo"
  bin_dir="$root/cargo/bin"
fi
echo "::endgroup::"
"$bin_dir/mock-pypi" --version

args=(serve --listen 127.0.0.1:0 --data-dir "$data_dir")
[ -n "${MOCK_PYPI_ACTION_CONFIG:-}" ] && args+=(--config "$MOCK_PYPI_ACTION_CONFIG")
# shellcheck disable=SC2206 # the input is a space-separated argument list
[ -n "${MOCK_PYPI_ACTION_ARGS:-}" ] && args+=($MOCK_PYPI_ACTION_ARGS)
rm -f "$data_dir/server.json"
# Detached from this step's shell, so it outlives the step and serves the whole job.
setsid "$bin_dir/mock-pypi" "${args[@]}" >"$root/server.out" 2>"$root/server.log" </dev/null &
pid=$!
for _ in $(seq 1 400); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "::error title=mock-pypi did not start::$(tail -5 "$root/server.log" | tr '\n' ' ')"
    cat "$root/server.log" >&2
    exit 1
  fi
  if python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("pid") == int(sys.argv[2]) else 1)' \
       "$data_dir/server.json" "$pid" 2>/dev/null; then
    break
  fi
  sleep 0.05
done
[ -s "$data_dir/server.json" ] || { echo "::error::mock-pypi was not ready after 20 s"; cat "$root/server.log" >&2; exit 1; }

field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' "$data_dir/server.json" "$1"; }
url=$(field http_url)
upload_url=$(field upload_url)
simple_url=$(field simple_url)
ca_file=$(field ca_file)
admin_token=$(field admin_token)
echo "::add-mask::$admin_token"
{
  echo "url=$url"
  echo "upload-url=$upload_url"
  echo "simple-url=$simple_url"
  echo "ca-file=$ca_file"
  echo "admin-token=$admin_token"
  echo "data-dir=$data_dir"
  echo "pid=$pid"
} >>"$GITHUB_OUTPUT"
{
  echo "MOCK_PYPI_DATA_DIR=$data_dir"
  echo "MOCK_PYPI_URL=$url"
  echo "MOCK_PYPI_UPLOAD_URL=$upload_url"
  echo "MOCK_PYPI_SIMPLE_URL=$simple_url"
  echo "MOCK_PYPI_CA_FILE=$ca_file"
  echo "MOCK_PYPI_ADMIN_TOKEN=$admin_token"
  echo "MOCK_PYPI_PID=$pid"
} >>"$GITHUB_ENV"
echo "$bin_dir" >>"$GITHUB_PATH"
echo "mock-pypi (pid $pid) serves $url; upload to $upload_url"
