use clap::Parser;
use tracing_subscriber::EnvFilter;

use mock_pypi::config::{Cli, Command, Settings};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("mock_pypi=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    mock_pypi::tls::install_crypto_provider();
    let result = match cli.command {
        Command::Serve(args) => match Settings::resolve(&args) {
            Ok(settings) => mock_pypi::run::serve(settings).await,
            Err(e) => Err(e),
        },
        Command::Issuer(args) => match Settings::resolve(&args.serve) {
            Ok(settings) => mock_pypi::run::issuer(settings).await,
            Err(e) => Err(e),
        },
        Command::Env(args) => mock_pypi::cli::env(args).await,
        Command::Publisher(args) => mock_pypi::cli::publisher(args).await,
        Command::Token(args) => mock_pypi::cli::token(args).await,
        Command::Health(args) => mock_pypi::cli::health(args).await,
        Command::ApiToken(args) => mock_pypi::cli::api_token(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-pypi: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
