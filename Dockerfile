# mock-pypi images. Stages:
#   build:     compiles the binary from this checkout (what `docker compose build` does)
#   prebuilt:  takes a binary built outside instead, at target/release/mock-pypi
#              (CI: `--build-arg BINARY=prebuilt`; BuildKit then skips `build`)
#   runtime (default): the index and the fake issuer, non-root, with a health check
#   demo:      the compose sandbox's one-shot publish-and-install demo
#   balancer:  HAProxy (Debian's package) in front of index replicas: the `scale` profile
# tests/container.sh builds these on a real Docker engine and runs the compose file.

ARG BINARY=build

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin mock-pypi \
    && cp target/release/mock-pypi /mock-pypi

FROM scratch AS prebuilt
COPY target/release/mock-pypi /mock-pypi

FROM ${BINARY} AS binary

FROM debian:bookworm-slim AS runtime
# CA certificates: the JWKS client and `--trust-production-issuers` fetch over HTTPS with
# the system's roots, and the HTTP client refuses to start without any.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mockpypi \
    && mkdir -p /data && chown mockpypi /data
COPY --from=binary /mock-pypi /usr/local/bin/mock-pypi
USER mockpypi
WORKDIR /data
ENV MOCK_PYPI_DATA_DIR=/data MOCK_PYPI_LISTEN=0.0.0.0:8000
VOLUME /data
EXPOSE 8000
# Every second: a probe costs a few milliseconds, and the sandbox is healthy within 3 s
# of its start (Docker probes first after one interval).
HEALTHCHECK --interval=1s --timeout=3s --retries=30 CMD ["mock-pypi", "health"]
ENTRYPOINT ["mock-pypi"]
CMD ["serve"]

FROM python:3.11-slim-bookworm AS demo
RUN pip install --no-cache-dir uv==0.13.9 pip==26.3 \
    && useradd --create-home --uid 10002 demo
COPY --from=binary /mock-pypi /usr/local/bin/mock-pypi
COPY demo/ /demo/
USER demo
ENTRYPOINT []
CMD ["/demo/publish-and-install.sh"]

FROM debian:bookworm-slim AS balancer
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
COPY deploy/haproxy.cfg /etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 8000
# -W: master-worker, -db: stay in the foreground and log to stdout.
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
