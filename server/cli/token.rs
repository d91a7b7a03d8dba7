//! `mock-pypi token …`: one OIDC token from the fake issuer, on stdout.

use clap::Args;

use super::env::EnvProvider;
use super::target::mint_token;
use crate::provider::Provider;

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
            Provider::GitHub,
            serde_json::to_value(job.identity())?,
        ),
        EnvProvider::Gitlab(job) => (&job.target, &job.issuer, Provider::GitLab, job.identity()?),
        EnvProvider::Google(job) => (&job.target, &job.issuer, Provider::Google, job.identity()),
        EnvProvider::Activestate(job) => (
            &job.target,
            &job.issuer,
            Provider::ActiveState,
            job.identity(),
        ),
        EnvProvider::Buildkite(job) => (
            &job.target,
            &job.issuer,
            Provider::Buildkite,
            job.identity(),
        ),
        EnvProvider::Circleci(job) => {
            (&job.target, &job.issuer, Provider::CircleCi, job.identity())
        }
        EnvProvider::Semaphore(job) => (
            &job.target,
            &job.issuer,
            Provider::Semaphore,
            job.identity(),
        ),
    };
    let r = issuer.resolve(target)?;
    println!(
        "{}",
        mint_token(&r, provider, identity, issuer.bad_token.as_ref()).await?
    );
    Ok(())
}
