//! Outgoing HTTP clients. HTTPS is verified against the system's roots (the platform
//! verifier); where there are none, as in a bare container without `ca-certificates`,
//! the client is still built so plain-HTTP peers (a compose network's issuer, a health
//! probe) keep working, and every HTTPS certificate is refused, with a warning that
//! says what to install.

use reqwest::ClientBuilder;

/// Build from `make` with the system's roots, or with none if the system has none.
pub fn build(make: impl Fn() -> ClientBuilder) -> anyhow::Result<reqwest::Client> {
    match make().build() {
        Ok(client) => Ok(client),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no usable system CA certificates: HTTPS requests (issuer keys, production issuers) will fail; install the ca-certificates package"
            );
            Ok(make().tls_certs_only([]).build()?)
        }
    }
}

/// A client for the CLI's calls to a running server.
pub fn cli() -> anyhow::Result<reqwest::Client> {
    build(|| {
        reqwest::Client::builder().user_agent(concat!("mock-pypi/", env!("CARGO_PKG_VERSION")))
    })
}
