#!/bin/sh
# The load tests/container.sh runs against the `scale` profile, from the demo image on
# the compose network: WORKERS concurrent uv trusted publishes through the balancer,
# PUBLISHES each (a wheel and an sdist per version), while the test kills a replica.
# Prints "published N" after each acknowledged publish, then checks that every file uv
# acknowledged is on the index with its digest and that no publish failed: uv retries a
# connection the killed replica dropped, and nothing else may fail.
set -eu
: "${BALANCER:=balancer:8000}"
: "${WORKERS:=6}"
: "${PUBLISHES:=8}"
: "${PROJECT:=scale-load}"
# Bytes of random payload per wheel: large files take the streamed path and keep a
# connection busy long enough for the kill to land mid-upload.
: "${PAYLOAD:=0}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
module=$(echo "$PROJECT" | tr - _)

mock-pypi publisher add github --server "http://$BALANCER" --admin-token "$MOCK_PYPI_ADMIN_TOKEN" \
  --project "$PROJECT" --repository "octo-org/$PROJECT" --workflow release.yml >/dev/null
eval "$(mock-pypi env github --issuer-url "$ISSUER_URL" --request-token "$MOCK_PYPI_ISSUER_REQUEST_TOKEN" \
  --ca-file "$CA_FILE" --repository "octo-org/$PROJECT" --workflow release.yml)"

worker() {
  w=$1
  i=1
  while [ "$i" -le "$PUBLISHES" ]; do
    version="1.$w.$i"
    dist="$work/dist-$version"
    python3 /demo/make_dist.py "$PROJECT" "$version" "$dist" "$PAYLOAD" >/dev/null
    if uv publish --trusted-publishing always --publish-url "https://$BALANCER/legacy/" \
      --check-url "http://$BALANCER/simple/" "$dist"/* >"$work/uv-$version.log" 2>&1; then
      echo "$version" >>"$work/acknowledged"
      echo "published $(wc -l <"$work/acknowledged") ($version)"
    else
      echo "FAILED $version:"
      sed 's/^/  /' "$work/uv-$version.log"
      echo "$version" >>"$work/failed"
    fi
    i=$((i + 1))
  done
}

echo "load: $WORKERS workers x $PUBLISHES publishes through $BALANCER (wheels of $PAYLOAD bytes more)"
w=1
while [ "$w" -le "$WORKERS" ]; do
  worker "$w" &
  w=$((w + 1))
done
wait
retried=$(cat "$work"/uv-*.log | grep -ci 'retry' || true)
echo "load done: $(wc -l <"$work/acknowledged") acknowledged, $( [ -f "$work/failed" ] && wc -l <"$work/failed" || echo 0) failed; uv retried $retried time(s)"

# Every acknowledged file, by name and digest, on the index (through the balancer).
python3 - "$work" "$BALANCER" "$PROJECT" <<'EOF'
import hashlib, json, os, ssl, sys, urllib.request
work, balancer, project = sys.argv[1:]
expected = {}
for version in open(os.path.join(work, "acknowledged")).read().split():
    dist = os.path.join(work, f"dist-{version}")
    for name in os.listdir(dist):
        expected[name] = hashlib.sha256(open(os.path.join(dist, name), "rb").read()).hexdigest()
request = urllib.request.Request(
    f"http://{balancer}/simple/{project}/",
    headers={"Accept": "application/vnd.pypi.simple.v1+json"},
)
files = json.load(urllib.request.urlopen(request))["files"]
served = {}
for f in files:
    assert f["filename"] not in served, f"listed twice: {f['filename']}"
    served[f["filename"]] = f["hashes"]["sha256"]
lost = sorted(set(expected) - set(served))
wrong = sorted(n for n in expected if n in served and served[n] != expected[n])
assert not lost, f"acknowledged but not on the index: {lost}"
assert not wrong, f"served with another digest: {wrong}"
print(f"index: all {len(expected)} acknowledged files listed once with their digests ({len(served)} in all)")
EOF
[ ! -f "$work/failed" ] || { echo "some publishes failed"; exit 1; }
