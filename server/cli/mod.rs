//! The command line. `serve` and `issuer` run servers; the other commands are clients
//! of a running server, which they find through `<data dir>/server.json` (or flags).

mod act;
mod api_token;
mod attest;
mod env;
mod fault;
mod gitlab_ci_local;
mod health;
mod preflight;
mod publisher;
mod repo;
mod serve;
mod target;
mod token;
mod workshop;

use clap::{Parser, Subcommand};

pub use env::{EnvArgs, EnvProvider, GitHubJob, github_env};
pub use serve::{IssuerArgs, shutdown_signal};
pub use target::{IssuerTarget, Target};

use crate::config::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "mock-pypi",
    version,
    about = "A local stand-in for PyPI's Trusted Publishing path, with a fake OIDC issuer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the index and the embedded fake issuer (HTTP and HTTPS on one port).
    Serve(ServeArgs),
    /// Run only the fake OIDC issuer.
    Issuer(IssuerArgs),
    /// Print `export` lines that make this shell look like a CI job to every client.
    Env(EnvArgs),
    /// Add, list or remove trusted publishers on a running index.
    Publisher(publisher::PublisherArgs),
    /// Print an OIDC token from the fake issuer of a running server.
    Token(token::TokenArgs),
    /// Create, list or revoke long-lived API tokens on a running index.
    ApiToken(api_token::ApiTokenArgs),
    /// Write PEP 740 attestations for distributions, signed through the fake Sigstore
    /// with the CI job's identity (run in the environment `mock-pypi env …` prints).
    Attest(attest::AttestArgs),
    /// Arm, list or clear faults on a running index (its bad days, on demand).
    Fault(fault::FaultArgs),
    /// The named failure scenarios uploaders meet: list, show, arm.
    Scenario(fault::ScenarioArgs),
    /// Exit 0 if a server answers its health URL (container health checks).
    Health(health::HealthArgs),
    /// Will this publish work on PyPI? Checks the repository's workflows against the
    /// publishers: every publishing job's verdict, and the pitfalls with file and line.
    Preflight(preflight::PreflightArgs),
    /// Run the repository's workflows under nektos/act against the running server, each
    /// job with the OIDC token GitHub would give it (or none, as GitHub would).
    Act(act::ActArgs),
    /// Run the repository's GitLab pipeline under gitlab-ci-local against the running
    /// server, each job's id_tokens holding tokens with that job's claims.
    GitlabCiLocal(gitlab_ci_local::GitLabCiLocalArgs),
    /// Run the sandbox for a room: seats (attendee-01 …) with their own publishers and
    /// tokens, exercises that check themselves, a projector view of the room.
    Workshop(workshop::WorkshopArgs),
    /// Take a seat in a workshop: fetch its CA, write this seat's settings, print what
    /// to `eval` so every later command acts as the seat.
    Join(workshop::JoinArgs),
}

/// Run one command to its end.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::serve(&args).await,
        Command::Issuer(args) => serve::issuer(&args).await,
        Command::Env(args) => env::env(args).await,
        Command::Publisher(args) => publisher::publisher(args).await,
        Command::Token(args) => token::token(args).await,
        Command::Health(args) => health::health(args).await,
        Command::ApiToken(args) => api_token::api_token(args).await,
        Command::Attest(args) => attest::attest(args).await,
        Command::Fault(args) => fault::fault(args).await,
        Command::Scenario(args) => fault::scenario(args).await,
        Command::Preflight(args) => preflight::preflight(args).await,
        Command::Act(args) => act::act(args).await,
        Command::GitlabCiLocal(args) => gitlab_ci_local::gitlab_ci_local(args).await,
        Command::Workshop(args) => workshop::workshop(args).await,
        Command::Join(args) => workshop::join(args).await,
    }
}
