//! `<data dir>/server.json`: where a running server is and how to talk to it. `serve`
//! writes it (and `issuer` writes the issuer's part to `issuer.json`); the CLI, the
//! Python package and the tests read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::provider::Provider;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The process that wrote the file (a waiting client compares it to the child it started).
    #[serde(default)]
    pub pid: u32,
    pub http_url: Option<String>,
    pub https_url: Option<String>,
    /// The HTTPS upload URL (`…/legacy/`).
    pub upload_url: Option<String>,
    pub simple_url: Option<String>,
    /// The fake issuer's base URL; `None` with `--no-issuer`.
    pub issuer_url: Option<String>,
    pub github_issuer: Option<String>,
    /// Every flavour's exact `iss`.
    pub issuers: Option<BTreeMap<Provider, String>>,
    /// What a CI job presents to the fake issuer (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub request_token: Option<String>,
    pub admin_token: Option<String>,
    /// The test CA alone.
    pub ca_file: Option<PathBuf>,
    /// The system's roots plus the test CA, for clients that also reach other hosts.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    pub audience: Option<String>,
    /// The fake Sigstore's base URL (Fulcio under `/fulcio`, Rekor under `/rekor`).
    #[serde(default)]
    pub sigstore_url: Option<String>,
    /// Its `trusted_root.json`.
    #[serde(default)]
    pub sigstore_trusted_root: Option<PathBuf>,
    /// The TestPyPI index beside this one (`serve --testpypi`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testpypi: Option<IndexInfo>,
    /// The workshop seat this directory acts as (`mock-pypi join`): `request_token` is
    /// then the seat's token, and there is no admin token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<u32>,
}

/// Where a second index (TestPyPI) answers on the same port.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Its base URL (`http://…/test`): control API under `/_mock/api`.
    pub http_url: String,
    pub upload_url: String,
    pub simple_url: String,
    pub audience: String,
    /// Its impersonated host name, when there is one (reached through the proxy).
    #[serde(default)]
    pub host: Option<String>,
}

impl ServerInfo {
    /// The base URL, admin token and audience of one index: `testpypi` (or `test`) for
    /// TestPyPI beside PyPI, anything else for PyPI.
    pub fn index(&self, name: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
        match name {
            "testpypi" | "test" => {
                let test = self.testpypi.as_ref().ok_or_else(|| {
                    anyhow::anyhow!(
                        "this server serves no TestPyPI: start it with `serve --testpypi`"
                    )
                })?;
                Ok((Some(test.http_url.clone()), Some(test.audience.clone())))
            }
            _ => Ok((self.http_url.clone(), self.audience.clone())),
        }
    }

    pub const FILE: &'static str = "server.json";

    /// The file of the server running with this data directory.
    pub fn read(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(Self::FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (is `mock-pypi serve` running with this data directory?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Write it readable by its owner only (it holds the admin token).
    pub async fn write(&self, path: &Path) -> anyhow::Result<()> {
        crate::util::write_private(path, serde_json::to_string_pretty(self)?.as_bytes()).await?;
        Ok(())
    }
}
