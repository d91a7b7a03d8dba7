# Stand-in for python:3.11-slim-bookworm, which cannot be pulled here: Debian's own
# Python 3.11 from the same bookworm root, with pip usable the way the official image's
# is (no EXTERNALLY-MANAGED marker) and the host's CA bundle, so that `pip install` in
# the demo stage reaches the package registry through this machine's network.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3 /usr/local/bin/python
COPY host-ca-bundle.crt /etc/ssl/certs/ca-certificates.crt
