#!/usr/bin/env bash
# The one release build, shared by everything that ships it: the wheel, built by the pinned
# maturin with zig as the linker against glibc 2.17 (manylinux2014: RHEL 8, Amazon Linux 2,
# Debian 10 and 11, most CI containers), into target/wheels; its binary also at
# target/release/mock-pypi for the container image and the bench.
#   tests/release-build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/maturin-venv
pins=("$(grep -o 'maturin==[0-9.]*' pyproject.toml)" ziglang==0.17.1 cargo-zigbuild==0.24.0)
if ! cmp -s <(printf '%s\n' "${pins[@]}") "$venv/.pins" 2>/dev/null; then
  echo "== installing ${pins[*]} into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  printf '%s\n' "${pins[@]}" >"$venv/.pins"
fi
target=x86_64-unknown-linux-gnu
rm -rf target/wheels
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/maturin" build --release --locked --zig \
  --compatibility manylinux2014 --target "$target" --out target/wheels 2>&1 \
  | grep -E 'Built wheel|warning|error|Finished' || true
ls target/wheels/*manylinux2014*.whl >/dev/null 2>&1 || { echo "release build FAILED: no manylinux2014 wheel" >&2; exit 1; }
mkdir -p target/release
cp "target/$target/release/mock-pypi" target/release/mock-pypi
echo "release build: $(ls target/wheels/*.whl | xargs -n1 basename), binary target/release/mock-pypi"
