use clap::Parser;
use tracing_subscriber::EnvFilter;

use mock_pypi::cli::Cli;

// The mint path allocates many small objects per request; glibc's allocator spent a
// sixth of the server's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let result = mock_pypi::cli::run(cli).await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-pypi: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
