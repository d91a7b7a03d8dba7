//! `mock-pypi token …`: one OIDC token from the fake issuer, on stdout.

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};

use super::env::EnvProvider;
use super::target::{Resolved, call};

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub provider: EnvProvider,
}

/// Print one OIDC token from the fake issuer.
pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let (target, issuer, provider, identity) = match &args.provider {
        EnvProvider::Github(job) => (
            &job.target,
            &job.issuer,
            "github",
            serde_json::to_value(job.identity())?,
        ),
        EnvProvider::Gitlab(job) => (&job.target, &job.issuer, "gitlab", job.identity()?),
        EnvProvider::Google(job) => (&job.target, &job.issuer, "google", job.identity()),
        EnvProvider::Activestate(job) => (&job.target, &job.issuer, "activestate", job.identity()),
    };
    let r = issuer.resolve(target)?;
    println!(
        "{}",
        mint_token(&r, provider, identity, issuer.fault.as_ref()).await?
    );
    Ok(())
}

/// Ask the fake issuer for a token for the index's audience (`POST <issuer>/mint`).
pub async fn mint_token(
    r: &Resolved,
    provider: &str,
    identity: Value,
    fault: Option<&String>,
) -> anyhow::Result<String> {
    mint_token_with_audience(r, provider, identity, fault, &r.audience).await
}

/// The same, for another audience (`sigstore`, for the fake CA).
pub async fn mint_token_with_audience(
    r: &Resolved,
    provider: &str,
    identity: Value,
    fault: Option<&String>,
    audience: &str,
) -> anyhow::Result<String> {
    let body = json!({
        "provider": provider, "audience": audience, "identity": identity, "fault": fault,
    });
    let url = format!("{}/mint", r.issuer.trim_end_matches('/'));
    let answer = call(
        crate::http_client::cli()?
            .post(url)
            .bearer_auth(&r.request_token)
            .json(&body),
    )
    .await?;
    Ok(answer
        .get("token")
        .and_then(Value::as_str)
        .context("the issuer answered without a token")?
        .to_owned())
}
