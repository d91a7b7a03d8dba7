use clap::Parser;
use tracing_subscriber::EnvFilter;

use mock_pypi::config::{Cli, Command, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("mock_pypi=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    mock_pypi::tls::install_crypto_provider();
    match cli.command {
        Command::Serve(args) => mock_pypi::run::serve(Settings::resolve(&args)?).await,
        Command::Issuer(args) => mock_pypi::run::issuer(Settings::resolve(&args.serve)?).await,
        Command::Env(args) => mock_pypi::cli::env(args).await,
        Command::Publisher(args) => mock_pypi::cli::publisher(args).await,
        Command::Token(args) => mock_pypi::cli::token(args).await,
    }
}
