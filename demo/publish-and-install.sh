#!/bin/sh
# The compose sandbox's one-shot demo: register a trusted publisher, publish a sample
# package with uv by trusted publishing (a GitHub-shaped token from the issuer
# service), then install it back with pip and import it. Runs the same natively
# (tests/compose_topology.rs) with the URLs pointed at local processes.
set -eu
: "${INDEX_URL:=http://index:8000}"
: "${ISSUER_URL:=http://issuer:8001}"
: "${CA_FILE:=/index-data/tls/ca.pem}"
: "${DEMO_PROJECT:=compose-demo}"
: "${DEMO_VERSION:=1.0.0}"
: "${MOCK_PYPI_ADMIN_TOKEN:?the index admin token}"
: "${MOCK_PYPI_ISSUER_REQUEST_TOKEN:?the issuer request token}"
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
https_url="https://${INDEX_URL#http://}"
index_host=${INDEX_URL#http://}
index_host=${index_host%%:*}
module=$(echo "$DEMO_PROJECT" | tr - _)

echo "== 1. the trusted publisher: octo-org/$DEMO_PROJECT, release.yml, may publish $DEMO_PROJECT"
mock-pypi publisher add github --server "$INDEX_URL" --admin-token "$MOCK_PYPI_ADMIN_TOKEN" \
  --project "$DEMO_PROJECT" --repository "octo-org/$DEMO_PROJECT" --workflow release.yml \
  || echo "(already registered)"

echo "== 2. a sample package"
python3 "$here/make_dist.py" "$DEMO_PROJECT" "$DEMO_VERSION" "$work/dist"
ls "$work/dist"

echo "== 3. a GitHub Actions job's environment, from the issuer service"
eval "$(mock-pypi env github --issuer-url "$ISSUER_URL" --request-token "$MOCK_PYPI_ISSUER_REQUEST_TOKEN" \
  --ca-file "$CA_FILE" --repository "octo-org/$DEMO_PROJECT" --workflow release.yml)"

echo "== 4. uv publish by trusted publishing"
uv publish --trusted-publishing always --publish-url "$https_url/legacy/" \
  --check-url "$INDEX_URL/simple/" "$work"/dist/*

echo "== 5. pip install from the index, then import"
pip install --quiet --no-cache-dir --disable-pip-version-check --index-url "$INDEX_URL/simple/" \
  --trusted-host "$index_host" --target "$work/site" "$DEMO_PROJECT==$DEMO_VERSION"
version=$(PYTHONPATH="$work/site" python3 -c "import $module; print($module.VERSION)")
echo "installed $DEMO_PROJECT $version from $INDEX_URL"
[ "$version" = "$DEMO_VERSION" ]
