//! Host impersonation for clients that only trust-publish to fixed hosts (twine does
//! trusted publishing only for its default upload URLs). Plain-HTTP `CONNECT` requests
//! for exactly the configured host names, port 443, are tunnelled to this server's own
//! port, where the TLS handshake finds a certificate covering those names. Every other
//! destination is refused: this is never an open proxy.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

#[derive(Debug)]
pub struct Tunnels {
    /// Lower-case host names that may be tunnelled.
    hosts: Vec<String>,
    /// Where tunnels lead: this server.
    target: SocketAddr,
}

impl Tunnels {
    pub fn new(hosts: &[String], target: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            target,
        })
    }

    pub fn is_proxy_request(request: &hyper::Request<Incoming>) -> bool {
        request.method() == Method::CONNECT
    }

    /// Answer a `CONNECT`: 200 and a tunnel for an impersonated host, 403 otherwise.
    pub fn connect(&self, request: hyper::Request<Incoming>) -> Response {
        let authority = request.uri().authority().cloned();
        let (host, port) = match &authority {
            Some(a) => (a.host().to_ascii_lowercase(), a.port_u16().unwrap_or(443)),
            None => (String::new(), 0),
        };
        if port != 443 || !self.hosts.contains(&host) {
            tracing::info!(%host, port, "refused a CONNECT to a host that is not impersonated");
            let allowed = if self.hosts.is_empty() {
                "none are configured (--impersonate-host)".to_owned()
            } else {
                self.hosts.join(", ")
            };
            return (
                StatusCode::FORBIDDEN,
                format!(
                    "mock-pypi is not an open proxy: it tunnels only its impersonated hosts on port 443 ({allowed}), not '{host}:{port}'\n"
                ),
            )
                .into_response();
        }
        let target = self.target;
        tokio::spawn(async move {
            if let Err(e) = tunnel(request, target).await {
                tracing::debug!(error = %e, %host, "tunnel ended with an error");
            }
        });
        StatusCode::OK.into_response()
    }
}

async fn tunnel(request: hyper::Request<Incoming>, target: SocketAddr) -> anyhow::Result<()> {
    let upgraded = hyper::upgrade::on(request)
        .await
        .context("the client never used the tunnel")?;
    let mut client = TokioIo::new(upgraded);
    let mut server = tokio::net::TcpStream::connect(target)
        .await
        .context("connecting the tunnel to this server")?;
    let _ = server.set_nodelay(true);
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// `twine` in `--impersonate-host`: the hosts the installed twine treats as PyPI (its
/// default and test upload URLs, and the host of its `--skip-existing` pre-check), read
/// from twine itself so no registry's name is written into mock-pypi.
pub fn twine_hosts(python: &str) -> anyhow::Result<Vec<String>> {
    let script = "from twine import utils, repository\n\
                  for u in (utils.DEFAULT_REPOSITORY, utils.TEST_REPOSITORY, repository.LEGACY_PYPI):\n\
                  \x20   print(u)";
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .output()
        .with_context(|| format!("running {python} to ask twine for its hosts"))?;
    anyhow::ensure!(
        out.status.success(),
        "`--impersonate-host twine` needs twine importable by {python} (set MOCK_PYPI_PYTHON): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let mut hosts = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let url = url::Url::parse(line.trim()).with_context(|| format!("twine URL {line:?}"))?;
        if let Some(host) = url.host_str()
            && !hosts.iter().any(|h| h == host)
        {
            hosts.push(host.to_owned());
        }
    }
    Ok(hosts)
}

/// `uv` in `--impersonate-host`: the host of the installed uv's default upload URL, read
/// from uv itself (a dry run names it) so no registry's name is written into mock-pypi.
pub fn uv_hosts(uv: &str) -> anyhow::Result<Vec<String>> {
    let dir = tempfile_dir()?;
    let file = dir.join("probe-1.0.tar.gz");
    std::fs::write(&file, b"")?;
    let out = std::process::Command::new(uv)
        .args([
            "publish",
            "--dry-run",
            "--trusted-publishing",
            "never",
            "-u",
            "__token__",
            "-p",
            "x",
        ])
        .arg(&file)
        .env_remove("UV_PUBLISH_URL")
        .current_dir(&dir)
        .output()
        .with_context(|| format!("running {uv} to ask uv for its upload URL (set MOCK_PYPI_UV)"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let url = text
        .lines()
        .find_map(|l| l.split(" against ").nth(1))
        .with_context(|| {
            format!(
                "`--impersonate-host uv`: uv named no upload URL: {}",
                text.trim()
            )
        })?;
    let host = url::Url::parse(url.trim())
        .with_context(|| format!("uv's upload URL {url:?}"))?
        .host_str()
        .map(str::to_owned)
        .context("uv's upload URL has no host")?;
    Ok(vec![host])
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mock-pypi-uv-{}", crate::util::random_hex(8)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The impersonated hosts with `twine` and `uv` replaced by the hosts the installed
/// clients know (`MOCK_PYPI_PYTHON` names twine's interpreter, default `python3`;
/// `MOCK_PYPI_UV` the uv binary, default `uv`).
pub fn expand_hosts(hosts: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for host in hosts {
        let expanded = match host.as_str() {
            "twine" => {
                let python = std::env::var("MOCK_PYPI_PYTHON").unwrap_or_else(|_| "python3".into());
                twine_hosts(&python)?
            }
            "uv" => uv_hosts(&std::env::var("MOCK_PYPI_UV").unwrap_or_else(|_| "uv".into()))?,
            _ => vec![host.clone()],
        };
        for h in expanded {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    Ok(out)
}
