# mock-pypi images. Stages:
#   runtime (default): the index and the fake issuer, non-root, with a health check
#   demo:              the compose sandbox's one-shot publish-and-install demo
# CI cannot run Docker; tests/compose_topology.rs checks these commands against the
# ones it runs natively.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin mock-pypi

FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mockpypi \
    && mkdir -p /data && chown mockpypi /data
COPY --from=build /src/target/release/mock-pypi /usr/local/bin/mock-pypi
USER mockpypi
WORKDIR /data
ENV MOCK_PYPI_DATA_DIR=/data MOCK_PYPI_LISTEN=0.0.0.0:8000
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --retries=20 CMD ["mock-pypi", "health"]
ENTRYPOINT ["mock-pypi"]
CMD ["serve"]

FROM python:3.11-slim-bookworm AS demo
RUN pip install --no-cache-dir uv==0.13.9 pip==26.3 \
    && useradd --create-home --uid 10002 demo
COPY --from=build /src/target/release/mock-pypi /usr/local/bin/mock-pypi
COPY demo/ /demo/
USER demo
ENTRYPOINT []
CMD ["/demo/publish-and-install.sh"]
