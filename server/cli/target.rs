//! Finding a running server: its data directory (`server.json`), or flags for the
//! control API and the fake issuer; and calling it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};

use crate::provider::Provider;
use crate::server_info::ServerInfo;

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Data directory of the running server (its server.json says where it is).
    #[arg(
        long,
        env = "MOCK_PYPI_DATA_DIR",
        default_value = ".mock-pypi",
        global = true
    )]
    pub data_dir: PathBuf,
}

impl Target {
    pub fn info(&self) -> anyhow::Result<ServerInfo> {
        ServerInfo::read(&self.data_dir)
    }
}

#[derive(Args, Debug)]
pub struct ApiTarget {
    #[command(flatten)]
    pub target: Target,
    /// Index base URL [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_SERVER", global = true)]
    pub server: Option<String>,
    /// Admin token [default: from server.json].
    #[arg(
        long,
        env = "MOCK_PYPI_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
    /// Which index: pypi, or testpypi beside it (`serve --testpypi`).
    #[arg(long, global = true, default_value = "pypi", value_parser = INDEXES)]
    pub index: String,
}

/// The index names `--index` takes (`test` is short for `testpypi`).
pub const INDEXES: [&str; 3] = ["pypi", "testpypi", "test"];

impl ApiTarget {
    pub fn resolve(&self) -> anyhow::Result<(String, String)> {
        let info = if self.server.is_some() && self.admin_token.is_some() {
            ServerInfo::default()
        } else {
            self.target.info()?
        };
        let (base, _) = info.index(&self.index)?;
        let server = self
            .server
            .clone()
            .or(base)
            .context("no server URL: pass --server")?;
        let token = self
            .admin_token
            .clone()
            .or(info.admin_token)
            .context("no admin token: pass --admin-token")?;
        Ok((server.trim_end_matches('/').to_owned(), token))
    }
}

/// Where the fake issuer is, and what kind of token to ask it for.
#[derive(Args, Debug, Clone, Default)]
pub struct IssuerTarget {
    /// Fake issuer base URL [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_ISSUER_URL")]
    pub issuer_url: Option<String>,
    /// The issuer's request token [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_ISSUER_REQUEST_TOKEN", hide_env_values = true)]
    pub request_token: Option<String>,
    /// CA certificate clients should trust [default: from server.json].
    #[arg(long, env = "MOCK_PYPI_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Token audience [default: the index's, from server.json, else pypi].
    #[arg(long)]
    pub audience: Option<String>,
    /// Make the token deliberately bad: expired, not-yet-valid, issued-in-future,
    /// wrong-audience, list-audience, unpublished-key, tampered-signature, alg-none,
    /// hs256, no-kid, missing:<claim>, reused-jti. (`--fault` is a hidden alias, kept
    /// for one release.)
    #[arg(long, alias = "fault")]
    pub bad_token: Option<String>,
    /// Also route HTTPS for the server's impersonated hosts through its CONNECT proxy
    /// (HTTPS_PROXY), so clients that only trust-publish to fixed hosts reach the mock.
    #[arg(long)]
    pub impersonate: bool,
    /// Which index the job publishes to: pypi, or testpypi (its audience and, with
    /// --impersonate, its host).
    #[arg(long, default_value = "pypi", value_parser = INDEXES)]
    pub index: String,
}

/// The issuer target with every default filled in.
pub struct Resolved {
    pub issuer: String,
    pub request_token: String,
    /// What clients should trust: the flag's file, else the server's bundle of the
    /// system's roots plus the test CA (so other HTTPS hosts keep working), else its CA.
    pub ca_file: Option<PathBuf>,
    pub audience: String,
    /// The server's plain-HTTP URL (its CONNECT proxy), when known.
    pub http_url: Option<String>,
}

impl IssuerTarget {
    pub fn resolve(&self, target: &Target) -> anyhow::Result<Resolved> {
        let info = if self.issuer_url.is_some() && self.request_token.is_some() {
            target.info().unwrap_or_default()
        } else {
            target.info()?
        };
        let (_, index_audience) = info.index(&self.index)?;
        Ok(Resolved {
            issuer: self
                .issuer_url
                .clone()
                .or(info.issuer_url)
                .context("no fake issuer URL: pass --issuer-url")?,
            request_token: self
                .request_token
                .clone()
                .or(info.request_token)
                .context("no request token: pass --request-token")?,
            ca_file: self.ca_file.clone().or(info.ca_bundle).or(info.ca_file),
            audience: self
                .audience
                .clone()
                .or(index_audience)
                .unwrap_or_else(|| "pypi".into()),
            http_url: info.http_url,
        })
    }
}

/// Send a request to a running server; its JSON, or its error message.
pub async fn call(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await.context("contacting the index")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        anyhow::bail!(
            "{status}: {}",
            body.get("error")
                .or_else(|| body.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("request failed")
        );
    }
    Ok(body)
}

/// Ask the fake issuer for a token for the index's audience (`POST <issuer>/mint`).
pub async fn mint_token(
    r: &Resolved,
    provider: Provider,
    identity: Value,
    bad_token: Option<&String>,
) -> anyhow::Result<String> {
    mint_token_with_audience(r, provider, identity, bad_token, &r.audience).await
}

/// The same, for another audience (`sigstore`, for the fake CA).
pub async fn mint_token_with_audience(
    r: &Resolved,
    provider: Provider,
    identity: Value,
    bad_token: Option<&String>,
    audience: &str,
) -> anyhow::Result<String> {
    let body = json!({
        "provider": provider.as_str(), "audience": audience, "identity": identity, "bad_token": bad_token,
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
