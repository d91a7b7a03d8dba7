//! Command line, `MOCK_PYPI_*` environment variables and the optional TOML file.
//! Precedence: flag or environment variable, then the file, then the default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::provider::Provider;

mod args;
#[cfg(test)]
mod tests;

use args::impersonate_hosts;
pub use args::{ServeArgs, parse_size};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    issuer: IssuerSection,
    #[serde(default)]
    trusted_issuers: Vec<IssuerSpec>,
    #[serde(default)]
    publishers: Vec<Map<String, Value>>,
    /// Project names nobody may create (PyPI's prohibited names).
    #[serde(default)]
    prohibited_names: Vec<String>,
    /// Faults armed at start (and again after a reset).
    #[serde(default)]
    faults: Vec<toml::Value>,
    /// Projects created at start with a lifecycle status.
    #[serde(default)]
    projects: Vec<ProjectFixture>,
    /// Releases' lifecycle statuses (the release need not be uploaded yet).
    #[serde(default)]
    releases: Vec<ReleaseFixture>,
}

/// `[[projects]]`: a project that exists from the start, with its status.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProjectFixture {
    pub name: String,
    #[serde(default = "active")]
    pub status: String,
    pub reason: Option<String>,
}

/// `[[releases]]`: a release's lifecycle status.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReleaseFixture {
    pub project: String,
    pub version: String,
    pub status: String,
    pub reason: Option<String>,
}

fn active() -> String {
    "active".into()
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    database_url: Option<String>,
    audience: Option<String>,
    admin_token: Option<String>,
    token_lifetime: Option<i64>,
    max_release_age_days: Option<u32>,
    pending_publisher_expiry_days: Option<u32>,
    upload_idle_timeout: Option<u64>,
    max_upload_size: Option<toml::Value>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    tls_names: Vec<String>,
    trust_production_issuers: Option<bool>,
    jwks_cooldown: Option<u64>,
    database_pool_size: Option<u32>,
    #[serde(default)]
    impersonate_hosts: Vec<String>,
    warehouse_exact_errors: Option<bool>,
    #[serde(default)]
    sigstore_trusted_roots: Vec<PathBuf>,
    testpypi: Option<bool>,
    testpypi_audience: Option<String>,
    #[serde(default)]
    preview: Vec<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct IssuerSection {
    key_file: Option<PathBuf>,
    request_token: Option<String>,
    sigstore_key_dir: Option<PathBuf>,
    /// Run the fake issuer inside `serve` [default: true].
    embedded: Option<bool>,
    /// Provider → the `iss` to sign with.
    #[serde(default)]
    identities: BTreeMap<String, String>,
    /// Sign with the real providers' issuer strings.
    impersonate_production: Option<bool>,
}

/// A trusted issuer: the exact `iss`, its provider, and optionally where its keys are.
#[derive(Deserialize, Debug, Clone, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    pub provider: Provider,
    pub url: String,
    pub jwks_url: Option<String>,
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub database_url: String,
    pub audience: String,
    /// `None`: generate one and keep it in the data directory.
    pub admin_token: Option<String>,
    pub token_lifetime: i64,
    /// Seconds after which a release takes no new files (0: no limit).
    pub max_release_age: i64,
    /// Seconds a pending publisher stays usable (0: no limit).
    pub pending_publisher_expiry: i64,
    pub max_upload_bytes: u64,
    /// How long an upload body may stall.
    pub upload_idle_timeout: std::time::Duration,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_names: Vec<String>,
    pub embedded_issuer: bool,
    pub issuer_key: Option<PathBuf>,
    pub issuer_request_token: Option<String>,
    pub sigstore_key_dir: Option<PathBuf>,
    /// Extra Sigstore trusted roots the index verifies attestations against.
    pub sigstore_trusted_roots: Vec<PathBuf>,
    pub trusted_issuers: Vec<IssuerSpec>,
    /// Provider → `iss` the fake issuer signs with, where not `<issuer>/<provider>`.
    pub issuer_identities: BTreeMap<Provider, String>,
    pub trust_production_issuers: bool,
    pub jwks_cooldown: std::time::Duration,
    pub database_pool_size: u32,
    pub warehouse_exact_errors: bool,
    /// Host names the CONNECT proxy tunnels to this server (`twine`: the hosts the
    /// installed twine treats as PyPI).
    pub impersonate_hosts: Vec<String>,
    pub publishers: Vec<Map<String, Value>>,
    pub prohibited_names: Vec<String>,
    /// The TestPyPI index's audience, when it is served.
    pub testpypi: Option<String>,
    /// Previews of PyPI's open pull requests (`--preview`): provider names and
    /// `reusable-workflows`.
    pub preview: Vec<String>,
    /// Fault definitions (JSON) to arm at start.
    pub faults: Vec<Value>,
    pub projects: Vec<ProjectFixture>,
    pub releases: Vec<ReleaseFixture>,
    /// A workshop room (`mock-pypi workshop`): its seats and exercises.
    pub workshop: Option<crate::workshop::Plan>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
/// What `--preview` takes: PyPI's open pull requests.
pub const PREVIEWS: [&str; 4] = ["buildkite", "circleci", "semaphore", "reusable-workflows"];

/// `--preview a,b` (repeatable) or the file's `preview = [...]`, checked.
fn previews(flags: &[String], file: &[String]) -> anyhow::Result<Vec<String>> {
    let given: Vec<String> = if flags.is_empty() {
        file.to_vec()
    } else {
        flags.to_vec()
    };
    let mut out: Vec<String> = Vec::new();
    for name in given
        .iter()
        .flat_map(|f| f.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        anyhow::ensure!(
            PREVIEWS.contains(&name),
            "unknown preview '{name}' (one of: {})",
            PREVIEWS.join(", ")
        );
        if !out.iter().any(|o| o == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

impl Settings {
    /// The preview providers served.
    pub fn previews(&self) -> Vec<Provider> {
        Provider::PREVIEWS
            .into_iter()
            .filter(|p| self.preview.iter().any(|n| n == p.as_str()))
            .collect()
    }
}

/// TestPyPI's audience, as its `/_/oidc/audience` answers.
pub const TESTPYPI_AUDIENCE: &str = "testpypi";
pub const DEFAULT_MAX_UPLOAD: u64 = 100 << 20;

impl Settings {
    /// Each setting from its flag, the file or its default. Long because the settings
    /// are many: one field each, in the order of `Settings`.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let (file, base) = read_file(args.config.as_deref())?;
        // Paths in the file are relative to the file.
        let rel = |p: Option<PathBuf>| p.map(|p| if p.is_absolute() { p } else { base.join(p) });
        let s = file.server;
        let data_dir = args
            .data_dir
            .clone()
            .or(rel(s.data_dir))
            .unwrap_or_else(|| PathBuf::from(".mock-pypi"));
        let database_url = args
            .database_url
            .clone()
            .or(s.database_url)
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("mock-pypi.sqlite3").display()
                )
            });
        let mut tls_names = s.tls_names;
        tls_names.extend(args.tls_names.iter().filter(|n| !n.is_empty()).cloned());
        let token_lifetime = args.token_lifetime.or(s.token_lifetime).unwrap_or(900);
        anyhow::ensure!(token_lifetime > 0, "token_lifetime must be positive");
        let impersonate_production =
            args.impersonate_issuers || file.issuer.impersonate_production.unwrap_or(false);
        Ok(Self {
            data_dir,
            listen: match args.listen.or(s.listen) {
                Some(addr) => addr,
                None => DEFAULT_LISTEN.parse()?,
            },
            public_url: args
                .public_url
                .clone()
                .or(s.public_url)
                .map(|u| u.trim_end_matches('/').to_owned()),
            database_url,
            audience: args
                .audience
                .clone()
                .or(s.audience)
                .unwrap_or_else(|| "pypi".into()),
            admin_token: args.admin_token.clone().or(s.admin_token),
            token_lifetime,
            max_release_age: days(
                args.max_release_age_days.or(s.max_release_age_days),
                DEFAULT_MAX_RELEASE_AGE_DAYS,
            ),
            pending_publisher_expiry: days(
                args.pending_publisher_expiry_days
                    .or(s.pending_publisher_expiry_days),
                DEFAULT_PENDING_PUBLISHER_EXPIRY_DAYS,
            ),
            max_upload_bytes: max_upload(args.max_upload_size, s.max_upload_size)?,
            upload_idle_timeout: std::time::Duration::from_secs(
                args.upload_idle_timeout
                    .or(s.upload_idle_timeout)
                    .unwrap_or(30)
                    .max(1),
            ),
            tls_cert: args.tls_cert.clone().or(rel(s.tls_cert)),
            tls_key: args.tls_key.clone().or(rel(s.tls_key)),
            tls_names,
            embedded_issuer: !args.no_issuer && file.issuer.embedded.unwrap_or(true),
            issuer_key: args.issuer_key.clone().or(rel(file.issuer.key_file)),
            sigstore_key_dir: args
                .sigstore_key_dir
                .clone()
                .or(rel(file.issuer.sigstore_key_dir)),
            sigstore_trusted_roots: if args.sigstore_trusted_root.is_empty() {
                s.sigstore_trusted_roots
                    .iter()
                    .map(|p| {
                        if p.is_absolute() {
                            p.clone()
                        } else {
                            base.join(p)
                        }
                    })
                    .collect()
            } else {
                args.sigstore_trusted_root.clone()
            },
            issuer_request_token: args
                .issuer_request_token
                .clone()
                .or(file.issuer.request_token),
            trusted_issuers: trusted_issuers(&args.trust_issuer, file.trusted_issuers)?,
            issuer_identities: issuer_identities(
                impersonate_production,
                file.issuer.identities,
                &args.issuer_identity,
            )?,
            trust_production_issuers: args.trust_production_issuers
                || s.trust_production_issuers.unwrap_or(false),
            warehouse_exact_errors: args.warehouse_exact_errors
                || s.warehouse_exact_errors.unwrap_or(false),
            impersonate_hosts: impersonate_hosts(&args.impersonate_host, s.impersonate_hosts),
            database_pool_size: args
                .database_pool_size
                .or(s.database_pool_size)
                .unwrap_or_else(crate::store::default_pool_size),
            jwks_cooldown: std::time::Duration::from_secs(
                args.jwks_cooldown
                    .or(s.jwks_cooldown)
                    .unwrap_or(crate::oidc::jwks::REFRESH_COOLDOWN.as_secs()),
            ),
            publishers: file.publishers,
            prohibited_names: file.prohibited_names,
            preview: previews(&args.preview, &s.preview)?,
            testpypi: (args.testpypi || s.testpypi.unwrap_or(false)).then(|| {
                args.testpypi_audience
                    .clone()
                    .or(s.testpypi_audience.clone())
                    .unwrap_or_else(|| TESTPYPI_AUDIENCE.into())
            }),
            projects: file.projects,
            releases: file.releases,
            faults: file
                .faults
                .into_iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()
                .context("the config file's faults")?,
            workshop: None,
        })
    }
}

/// PyPI's `MAXIMUM_AGE_FOR_NEW_UPLOADS_DAYS`.
pub const DEFAULT_MAX_RELEASE_AGE_DAYS: u32 = 14;
/// PyPI's `PENDING_PUBLISHER_EXPIRY_DAYS`.
pub const DEFAULT_PENDING_PUBLISHER_EXPIRY_DAYS: u32 = 30;

fn days(given: Option<u32>, default: u32) -> i64 {
    i64::from(given.unwrap_or(default)) * 86_400
}

/// The config file (or an empty one) and the directory its relative paths start from.
fn read_file(path: Option<&Path>) -> anyhow::Result<(FileConfig, PathBuf)> {
    let Some(path) = path else {
        return Ok((FileConfig::default(), PathBuf::new()));
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let file: FileConfig =
        toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
    Ok((
        file,
        path.parent().map(Path::to_path_buf).unwrap_or_default(),
    ))
}

/// The flag's size, else the file's (a number or a size like "100MiB").
fn max_upload(flag: Option<u64>, file: Option<toml::Value>) -> anyhow::Result<u64> {
    Ok(match (flag, file) {
        (Some(n), _) => n,
        (None, Some(toml::Value::Integer(n))) => {
            u64::try_from(n).context("max_upload_size must be positive")?
        }
        (None, Some(toml::Value::String(text))) => parse_size(&text).map_err(anyhow::Error::msg)?,
        (None, Some(other)) => {
            anyhow::bail!("max_upload_size must be a number or a size like \"100MiB\", not {other}")
        }
        (None, None) => DEFAULT_MAX_UPLOAD,
    })
}

/// The file's `[[trusted_issuers]]` plus every `--trust-issuer PROVIDER=ISS`.
fn trusted_issuers(flags: &[String], file: Vec<IssuerSpec>) -> anyhow::Result<Vec<IssuerSpec>> {
    let mut issuers = file;
    for pair in flags.iter().filter(|p| !p.is_empty()) {
        let (provider, url) = pair
            .split_once('=')
            .with_context(|| format!("--trust-issuer takes PROVIDER=ISS, not '{pair}'"))?;
        let provider = provider
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("--trust-issuer {pair}: {e}"))?;
        issuers.push(IssuerSpec {
            provider,
            url: url.trim().to_owned(),
            jwks_url: None,
        });
    }
    Ok(issuers)
}

/// Provider → the `iss` the fake issuer signs with: the production strings when asked,
/// then the file's, then the flags' (later ones win).
fn issuer_identities(
    impersonate_production: bool,
    file: BTreeMap<String, String>,
    flags: &[String],
) -> anyhow::Result<BTreeMap<Provider, String>> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if impersonate_production {
        for provider in Provider::ALL {
            pairs.push((provider.to_string(), provider.production_issuer().into()));
        }
    }
    pairs.extend(file);
    for pair in flags.iter().filter(|p| !p.is_empty()) {
        let (provider, iss) = pair
            .split_once('=')
            .with_context(|| format!("--issuer-identity takes PROVIDER=ISS, not '{pair}'"))?;
        pairs.push((provider.trim().to_owned(), iss.trim().to_owned()));
    }
    let mut identities = BTreeMap::new();
    for (provider, iss) in pairs {
        let provider: Provider = provider
            .parse()
            .map_err(|e| anyhow::anyhow!("issuer identity for {e}"))?;
        url::Url::parse(&iss).with_context(|| format!("issuer identity '{iss}' is not a URL"))?;
        identities.insert(provider, iss);
    }
    Ok(identities)
}
