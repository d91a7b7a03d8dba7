use clap::Parser;
use tracing_subscriber::EnvFilter;

use mock_pypi::cli::Cli;

// The mint path allocates many small objects per request; glibc's allocator spent a
// sixth of the server's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MOCK_PYPI_GLOBAL_QUEUE_INTERVAL: u32 = 4;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The database drivers answer from their own threads, and tokio looks at wake-ups
    // from outside its workers only every 31 tasks by default: under load a finished
    // write batch waited that long to be picked up, holding every request in it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .global_queue_interval(MOCK_PYPI_GLOBAL_QUEUE_INTERVAL)
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mock-pypi: error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(cli))
}

async fn serve(cli: Cli) -> std::process::ExitCode {
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
