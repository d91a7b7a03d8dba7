//! The long-running commands: `serve` (the index and the embedded issuer) and
//! `issuer` (only the fake issuer, at the root of its own port).

use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use crate::config::{ServeArgs, Settings};
use crate::provider::Provider;
use crate::startup::Server;

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[derive(Args, Debug, Clone, Default)]
pub struct IssuerArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
}

pub async fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let settings = Settings::resolve(args)?;
    serve_settings(settings, started, None).await
}

/// Serve these settings; `next` replaces the banner's next steps (the workshop's join
/// lines), given the server once it is bound.
pub async fn serve_settings(
    settings: Settings,
    started: std::time::Instant,
    next: Option<&dyn Fn(&crate::state::App) -> String>,
) -> anyhow::Result<()> {
    let server = Server::build(settings).await?;
    let app = server.state.clone();
    let https = app.https_url();
    let mut banner = format!(
        "mock-pypi {} serving HTTP and HTTPS on {} (ready in {} ms)\n  upload (trusted publishing): {https}/legacy/\n  simple index:                {}/simple/\n",
        env!("CARGO_PKG_VERSION"),
        server.local_addr,
        started.elapsed().as_millis(),
        app.public_url,
    );
    if let Some(test) = &app.testpypi {
        let host = crate::http::testpypi_hosts(&app.settings.impersonate_hosts)
            .into_iter()
            .next()
            .map(|h| format!(" and https://{h}/legacy/ through the proxy"))
            .unwrap_or_default();
        banner += &format!(
            "  TestPyPI (audience '{}'):   upload {}/legacy/{host}, simple {}/simple/\n",
            test.settings.audience,
            test.https_url(),
            test.public_url,
        );
    }
    if let Some(issuer) = &app.issuer {
        banner += &format!(
            "  fake issuer:                 {}/{{github,gitlab,google,activestate}}\n",
            issuer.base_url()
        );
    }
    if let Some(ca) = &app.ca_file {
        banner += &format!("  test CA (trust this file):   {}\n", ca.display());
    }
    banner += &format!(
        "  dashboard:                   {}/_mock/dashboard/\n  control API:                 {}/_mock/api/  (Authorization: Bearer {})\n  data directory:              {}\n\n",
        app.public_url,
        app.public_url,
        app.admin_token,
        app.settings.data_dir.display()
    );
    banner += &match next {
        Some(next) => next(&app),
        None => next_steps(&app.settings, &https),
    };
    println!("{banner}");
    server.run(shutdown_signal()).await
}

/// The walkthrough's next commands (the README's, word for word): register the demo
/// publisher unless the configuration did, then publish as its job.
fn next_steps(settings: &Settings, https: &str) -> String {
    let registered = settings
        .publishers
        .iter()
        .any(|p| p.get("project").and_then(serde_json::Value::as_str) == Some("demo"));
    let mut next = if registered {
        "Next, in another shell (the configuration registered the publisher for project demo; `mock-pypi publisher list` shows it):\n".to_owned()
    } else {
        "Next, in another shell:\n  mock-pypi publisher add github --project demo --repository octo-org/demo --workflow release.yml --environment pypi\n".to_owned()
    };
    next += &format!(
        "  eval \"$(mock-pypi env github --repository octo-org/demo --workflow release.yml --environment pypi)\"\n  uv publish --trusted-publishing always --publish-url {https}/legacy/ dist/*\n"
    );
    next
}

/// Only the fake issuer, at the root of its own port (plain HTTP, like a runner's).
pub async fn issuer(args: &IssuerArgs) -> anyhow::Result<()> {
    let mut settings = Settings::resolve(&args.serve)?;
    if settings.listen == crate::config::DEFAULT_LISTEN.parse()? {
        settings.listen = "127.0.0.1:8001".parse()?;
    }
    tokio::fs::create_dir_all(&settings.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let base = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let start_lock = crate::util::lock_in(&settings.data_dir, crate::startup::START_LOCK).await?;
    let issuer = Arc::new(crate::startup::build_issuer(&settings, &base).await?);
    drop(start_lock);
    let request_token = issuer.request_token().to_owned();
    crate::startup::issuer_info(&issuer)
        .write(&settings.data_dir.join("issuer.json"))
        .await?;
    println!(
        "mock-pypi fake issuer on {addr}\n  GitHub issuer (iss):      {}\n  GitLab issuer (iss):      {}\n  Google issuer (iss):      {}\n  ActiveState issuer (iss): {}\n  Sigstore (Fulcio, Rekor): {base}/sigstore\n  request token:            {request_token}\n",
        issuer.issuer_url(Provider::GitHub),
        issuer.issuer_url(Provider::GitLab),
        issuer.issuer_url(Provider::Google),
        issuer.issuer_url(Provider::ActiveState),
    );
    axum::serve(listener, crate::issuer::router(issuer))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
