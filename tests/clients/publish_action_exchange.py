"""The token exchange as pypa/gh-action-pypi-publish's oidc-exchange.py does it, written
for mock-pypi's tests (not the action's code): the audience from the index, an ambient
OIDC token from `id.detect_credential`, then mint-token with `requests`, printing each
`errors[].code` and `description` on failure. Prints the minted token on success."""

import os
import sys
from urllib.parse import urlparse

import id
import requests


def main() -> int:
    netloc = urlparse(os.environ["INPUT_REPOSITORY_URL"]).netloc
    audience_url = f"https://{netloc}/_/oidc/audience"
    response = requests.get(audience_url, timeout=5)
    if response.status_code == 403:
        print(f"repository at {netloc} has trusted publishing disabled")
        return 1
    if response.status_code == 404:
        print(f"repository at {netloc} does not indicate trusted publishing support")
        return 1
    response.raise_for_status()
    audience = response.json()["audience"]

    oidc_token = id.detect_credential(audience)
    if oidc_token is None:
        print("Attempted to discover OIDC in broken environment")
        return 1

    mint = requests.post(f"https://{netloc}/_/oidc/mint-token", json={"token": oidc_token}, timeout=5)
    try:
        body = mint.json()
    except ValueError:
        print(f"Token request failed: the index produced an unexpected {mint.status_code} response.")
        return 1
    if not mint.ok:
        print("Token request failed: the server refused the request for the following reasons:")
        for error in body.get("errors", []):
            print(f"* `{error['code']}`: {error['description']}")
        return 1
    token = body.get("token")
    if token is None:
        print("Token response error")
        return 1
    print(f"::add-mask::{token}", file=sys.stderr)
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
