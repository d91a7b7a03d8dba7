//! `mock-pypi health`: exit 0 if a server answers (container health checks).

use anyhow::Context;
use clap::Args;

#[derive(Args, Debug)]
pub struct HealthArgs {
    /// The URL to probe: an index's /_mock/health, or an issuer's discovery document.
    #[arg(long, default_value = "http://127.0.0.1:8000/_mock/health")]
    pub url: String,
}

/// GET the URL with a short timeout; success is any 2xx.
pub async fn health(args: HealthArgs) -> anyhow::Result<()> {
    let http = crate::http_client::build(|| {
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(3))
    })?;
    let response = http.get(&args.url).send().await.context("no answer")?;
    anyhow::ensure!(
        response.status().is_success(),
        "{} answered {}",
        args.url,
        response.status()
    );
    Ok(())
}
