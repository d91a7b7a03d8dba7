//! `mock-pypi serve`'s flags and their `MOCK_PYPI_*` variables (clap), and the parsers
//! they share with the config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML file with settings, trusted issuers and publishers (see fixtures/demo.toml).
    #[arg(long, env = "MOCK_PYPI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the database, files, keys and certificates live [default: ./.mock-pypi].
    #[arg(long, env = "MOCK_PYPI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one [default: 127.0.0.1:8000].
    #[arg(long, env = "MOCK_PYPI_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Base URL clients use to reach this server [default: http://<listen address>].
    #[arg(long, env = "MOCK_PYPI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// sqlite://PATH or postgres://… [default: SQLite in the data directory].
    #[arg(long, env = "MOCK_PYPI_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The OIDC audience the index expects [default: pypi].
    #[arg(long, env = "MOCK_PYPI_AUDIENCE")]
    pub audience: Option<String>,
    /// Bearer token for /_mock/api [default: generated once, kept in the data directory].
    #[arg(long, env = "MOCK_PYPI_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Lifetime of minted upload tokens, in seconds [default: 900].
    #[arg(long, env = "MOCK_PYPI_TOKEN_LIFETIME")]
    pub token_lifetime: Option<i64>,
    /// Days after which a release takes no new files, as PyPI's 14; 0 turns the rule
    /// off [default: 14].
    #[arg(long, env = "MOCK_PYPI_MAX_RELEASE_AGE_DAYS")]
    pub max_release_age_days: Option<u32>,
    /// Days a pending publisher stays usable, as PyPI's 30; 0 keeps them forever
    /// [default: 30].
    #[arg(long, env = "MOCK_PYPI_PENDING_PUBLISHER_EXPIRY_DAYS")]
    pub pending_publisher_expiry_days: Option<u32>,
    /// Seconds an upload may send nothing before it is answered 408 and its connection
    /// closed (a client that stalls mid-body never holds a connection forever)
    /// [default: 30].
    #[arg(long, env = "MOCK_PYPI_UPLOAD_IDLE_TIMEOUT")]
    pub upload_idle_timeout: Option<u64>,
    /// Largest accepted distribution file, e.g. 100MiB [default: 100MiB].
    #[arg(long, env = "MOCK_PYPI_MAX_UPLOAD_SIZE", value_parser = parse_size)]
    pub max_upload_size: Option<u64>,
    /// PEM certificate chain to serve instead of the generated one.
    #[arg(long, env = "MOCK_PYPI_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "MOCK_PYPI_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Extra DNS names or IPs for the generated certificate (comma-separated).
    #[arg(long, env = "MOCK_PYPI_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,
    /// PEM RSA key the fake issuer signs with [default: generated once in the data directory].
    #[arg(long, env = "MOCK_PYPI_ISSUER_KEY")]
    pub issuer_key: Option<PathBuf>,
    /// Directory with the fake Sigstore's CA, CT and log keys (ca-key.pem, ct-key.pem,
    /// rekor-key.pem; generated where missing) [default: <data dir>/sigstore].
    #[arg(long, env = "MOCK_PYPI_SIGSTORE_KEY_DIR")]
    pub sigstore_key_dir: Option<PathBuf>,
    /// Also accept attestations that verify against this Sigstore trusted_root.json
    /// (e.g. the public-good instance's, for a real CI job; repeatable). Never fetched.
    #[arg(long, env = "MOCK_PYPI_SIGSTORE_TRUSTED_ROOT", value_delimiter = ',')]
    pub sigstore_trusted_root: Vec<PathBuf>,
    /// Secret a CI job presents to the fake issuer (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
    #[arg(long, env = "MOCK_PYPI_ISSUER_REQUEST_TOKEN", hide_env_values = true)]
    pub issuer_request_token: Option<String>,
    /// Do not run the embedded fake issuer (for a separate `mock-pypi issuer`).
    #[arg(long, env = "MOCK_PYPI_NO_ISSUER")]
    pub no_issuer: bool,
    /// Sign one provider's tokens with this `iss` instead of `<issuer>/<provider>`,
    /// e.g. gitlab=https://gitlab.example (repeatable; comma-separated in the variable).
    #[arg(
        long,
        env = "MOCK_PYPI_ISSUER_IDENTITY",
        value_delimiter = ',',
        value_name = "PROVIDER=ISS"
    )]
    pub issuer_identity: Vec<String>,
    /// Sign every provider's tokens with the real provider's issuer string, so tokens
    /// look exactly like production ones (the index still takes keys from the fake issuer).
    #[arg(long, env = "MOCK_PYPI_IMPERSONATE_ISSUERS")]
    pub impersonate_issuers: bool,
    /// Tunnel HTTPS for this host name to the index (an HTTP CONNECT proxy on the same
    /// port) and cover it in the certificate; `twine` adds the hosts the installed twine
    /// treats as PyPI, `uv` the host of the installed uv's default upload URL
    /// (repeatable; comma-separated in the variable).
    #[arg(
        long,
        env = "MOCK_PYPI_IMPERSONATE_HOSTS",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub impersonate_host: Vec<String>,
    /// Refusals carry Warehouse's exact descriptions, without mock-pypi's explanations
    /// (the audit log and dashboard keep them).
    #[arg(long, env = "MOCK_PYPI_WAREHOUSE_EXACT_ERRORS")]
    pub warehouse_exact_errors: bool,
    /// Serve TestPyPI beside PyPI: a second index with its own projects, files,
    /// publishers, tokens and audience, under /test/ and, with --impersonate-host,
    /// under TestPyPI's host name.
    #[arg(long, env = "MOCK_PYPI_TESTPYPI")]
    pub testpypi: bool,
    /// Serve previews of PyPI's open pull requests, comma-separated: buildkite
    /// (warehouse#20515), circleci (#19349), semaphore (#19048), reusable-workflows
    /// (#20083). Off by default: without it their tokens are refused as PyPI refuses them.
    #[arg(long, env = "MOCK_PYPI_PREVIEW", value_delimiter = ',')]
    pub preview: Vec<String>,
    /// The OIDC audience of the TestPyPI index [default: testpypi].
    #[arg(long, env = "MOCK_PYPI_TESTPYPI_AUDIENCE")]
    pub testpypi_audience: Option<String>,
    /// PostgreSQL connections per process [default: two per core].
    #[arg(long, env = "MOCK_PYPI_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<u32>,
    /// Trust an issuer: PROVIDER=ISS, keys by discovery (repeatable; comma-separated in
    /// the variable). The file's [[trusted_issuers]] can also name a jwks_url.
    #[arg(
        long,
        env = "MOCK_PYPI_TRUST_ISSUER",
        value_delimiter = ',',
        value_name = "PROVIDER=ISS"
    )]
    pub trust_issuer: Vec<String>,
    /// Seconds before an issuer's key set may be fetched again for an unknown key id
    /// [default: 60, as PyPI].
    #[arg(long, env = "MOCK_PYPI_JWKS_COOLDOWN")]
    pub jwks_cooldown: Option<u64>,
    /// Also trust the real providers' issuers, with keys from their discovery documents
    /// (for running inside a real CI job with real tokens).
    #[arg(long, env = "MOCK_PYPI_TRUST_PRODUCTION_ISSUERS")]
    pub trust_production_issuers: bool,
}

/// Flags win over the file (`twine` stays a name here: `startup` asks the installed
/// twine for its hosts).
pub(super) fn impersonate_hosts(flags: &[String], file: Vec<String>) -> Vec<String> {
    let given: Vec<String> = if flags.iter().any(|h| !h.is_empty()) {
        flags.to_vec()
    } else {
        file
    };
    let mut hosts: Vec<String> = Vec::new();
    for host in given.iter().map(|h| h.trim().to_ascii_lowercase()) {
        if !host.is_empty() && !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// `1048576`, `512KiB`, `100MiB`, `1GiB` (also KB/MB/GB as powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a size like 100MiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size unit '{other}' (use KiB, MiB or GiB)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}
