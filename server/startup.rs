//! Building a server: bind, open the data directory and the database, prepare TLS and
//! the embedded issuer, apply the configured fixtures, write `server.json`; then serve
//! until told to stop.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::Settings;
use crate::issuer::Issuer;
use crate::issuer::keys::SigningKey;
use crate::oidc::exchange::Policy;
use crate::oidc::jwks::JwksCache;
use crate::provider::Provider;
use crate::server_info::ServerInfo;
use crate::state::{App, AppState, IndexName, TEST_MOUNT};
use crate::store::{BlobStore, Store};
use crate::{listener, services, tls};

pub struct Server {
    pub(crate) state: AppState,
    listener: TcpListener,
    tls: TlsAcceptor,
    pub local_addr: SocketAddr,
}

impl Server {
    /// Bind, open the data directory and database, prepare TLS and the issuer.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        tls::install_crypto_provider();
        settings.impersonate_hosts = impersonated(&settings.impersonate_hosts).await?;
        let data_dir = settings.data_dir.clone();
        tokio::fs::create_dir_all(&data_dir)
            .await
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let public_url = public_url(&settings, local_addr);
        let public =
            url::Url::parse(&public_url).with_context(|| format!("public URL {public_url:?}"))?;
        let blobs = BlobStore::new(&data_dir).context("preparing the file store")?;
        // Replicas started at once on a fresh shared directory would each generate a CA,
        // keys and tokens and keep different ones: one prepares it, the others read it.
        let start_lock = crate::util::lock_in(&data_dir, START_LOCK)
            .await
            .with_context(|| format!("locking {}", data_dir.join(START_LOCK).display()))?;
        // Independent, and a fresh data directory makes each do real work (certificates,
        // migrations, an RSA key on a blocking thread): side by side, not in a row.
        let (tls_material, store, admin_token, issuer) = tokio::try_join!(
            timed("TLS", tls_for(&settings, &public)),
            timed(
                "database",
                Store::connect(
                    &settings.database_url,
                    blobs.clone(),
                    settings.database_pool_size,
                ),
            ),
            async {
                match &settings.admin_token {
                    Some(t) => Ok(t.clone()),
                    None => secret_file(&data_dir.join("admin-token")).await,
                }
            },
            timed("issuer", async {
                if !settings.embedded_issuer {
                    return Ok(None);
                }
                let base = format!("{public_url}/issuer");
                Ok(Some(Arc::new(build_issuer(&settings, &base).await?)))
            }),
        )?;
        let sigstore_roots = Arc::new(sigstore_roots(&settings, issuer.as_deref()).await?);
        let shared = Shared {
            admin_token,
            issuer,
            ca_file: tls_material.ca_file.clone(),
            sigstore_roots,
        };
        let testpypi = match &settings.testpypi {
            Some(audience) => Some(testpypi_app(&settings, audience, &public_url, &shared).await?),
            None => None,
        };
        let other = settings.testpypi.clone().map(|a| ("TestPyPI", a));
        let plan = settings.workshop.take();
        let mut app = index_app(settings, IndexName::PyPI, public_url, store, blobs, &shared)?;
        app.testpypi = testpypi;
        app.policy.other_index = other;
        if let Some(plan) = plan {
            let room = Arc::new(crate::workshop::Room::open(plan, &data_dir).await?);
            if let Some(issuer) = &app.issuer {
                issuer.admit_seats(room.clone());
            }
            app.workshop = Some(room);
        }
        services::apply_fixtures(&app).await?;
        let state = AppState(Arc::new(app));
        server_info(&state, tls_material.ca_bundle)
            .write(&state.settings.data_dir.join(ServerInfo::FILE))
            .await?;
        drop(start_lock);
        Ok(Self {
            state,
            listener,
            tls: TlsAcceptor::from(tls_material.config),
            local_addr,
        })
    }

    /// Serve until `shutdown` resolves, then finish in-flight requests (bounded).
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> anyhow::Result<()> {
        let router = crate::http::build_router(self.state.clone());
        let purge = tokio::spawn(purge_loop(self.state.clone()));
        let result = listener::serve(
            self.listener,
            self.local_addr,
            router,
            self.tls,
            &self.state.settings.impersonate_hosts,
            shutdown,
        )
        .await;
        purge.abort();
        result
    }
}

/// The lock a process holds while it prepares a data directory.
pub const START_LOCK: &str = "start.lock";

/// A start-up step, with how long it took in the debug log: where a slow start goes.
async fn timed<T>(
    step: &str,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let started = std::time::Instant::now();
    let result = work.await;
    tracing::debug!(
        "start-up: {step} took {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    result
}

/// What both indexes of one server share.
struct Shared {
    admin_token: String,
    issuer: Option<Arc<Issuer>>,
    ca_file: Option<std::path::PathBuf>,
    sigstore_roots: Arc<crate::sigstore::root::Roots>,
}

/// One index over its store and files.
fn index_app(
    settings: Settings,
    index: IndexName,
    public_url: String,
    store: Store,
    blobs: BlobStore,
    shared: &Shared,
) -> anyhow::Result<App> {
    Ok(App {
        index,
        testpypi: None,
        workshop: None,
        faults: Default::default(),
        sigstore_roots: shared.sigstore_roots.clone(),
        public_url,
        admin_token: shared.admin_token.clone(),
        store,
        blobs,
        jwks: JwksCache::new(settings.jwks_cooldown)?,
        trust: Default::default(),
        policy: Policy {
            audience: settings.audience.clone(),
            token_lifetime: settings.token_lifetime,
            pending_expiry: settings.pending_publisher_expiry,
            index: index.label(),
            other_index: None,
            previews: settings.previews(),
            reusable_workflows: settings.preview.iter().any(|p| p == "reusable-workflows"),
        },
        issuer: shared.issuer.clone(),
        ca_file: shared.ca_file.clone(),
        pages: Default::default(),
        settings,
    })
}

/// TestPyPI beside PyPI: its own database (a file of its own on SQLite, a schema of
/// its own on PostgreSQL), files and audience; the issuer, TLS and admin token shared.
/// Configured publishers with `index = "testpypi"` are its.
async fn testpypi_app(
    settings: &Settings,
    audience: &str,
    public_url: &str,
    shared: &Shared,
) -> anyhow::Result<AppState> {
    let mut test = settings.clone();
    test.data_dir = settings.data_dir.join("testpypi");
    test.audience = audience.to_owned();
    test.faults = Vec::new();
    test.workshop = None;
    test.projects = Vec::new();
    test.releases = Vec::new();
    tokio::fs::create_dir_all(&test.data_dir)
        .await
        .with_context(|| format!("creating {}", test.data_dir.display()))?;
    let blobs = BlobStore::new(&test.data_dir).context("preparing TestPyPI's file store")?;
    let (url, schema) = if settings.database_url.starts_with("sqlite:") {
        let file = test.data_dir.join("mock-pypi.sqlite3");
        (format!("sqlite://{}?mode=rwc", file.display()), None)
    } else {
        (settings.database_url.clone(), Some("testpypi"))
    };
    test.database_url = url.clone();
    let store = Store::connect_in(&url, schema, blobs.clone(), settings.database_pool_size)
        .await
        .context("opening TestPyPI's database")?;
    let public = format!("{public_url}{TEST_MOUNT}");
    let mut app = index_app(test, IndexName::TestPyPI, public, store, blobs, shared)?;
    app.policy.other_index = Some(("PyPI", settings.audience.clone()));
    services::apply_fixtures(&app).await?;
    Ok(AppState(Arc::new(app)))
}

/// `http://host:port` for clients: the configured URL, or the bound address (loopback
/// when bound to every address).
fn public_url(settings: &Settings, local_addr: SocketAddr) -> String {
    settings.public_url.clone().unwrap_or_else(|| {
        let ip = if local_addr.ip().is_unspecified() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            local_addr.ip()
        };
        format!("http://{}", SocketAddr::new(ip, local_addr.port()))
    })
}

/// A secret kept in a file of the data directory, generated on first use.
pub async fn secret_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(text) = tokio::fs::read_to_string(path).await {
        let text = text.trim().to_owned();
        if !text.is_empty() {
            return Ok(text);
        }
    }
    let secret = crate::util::random_hex(24);
    crate::util::write_private(path, secret.as_bytes()).await?;
    Ok(secret)
}

/// The fake issuer with its key (loaded or generated once) and request token.
pub async fn build_issuer(settings: &Settings, base_url: &str) -> anyhow::Result<Issuer> {
    let key_path = settings
        .issuer_key
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("issuer-key.pem"));
    let key_dir = settings
        .sigstore_key_dir
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("sigstore"));
    let sigstore_url = format!("{}/sigstore", base_url.trim_end_matches('/'));
    let (key, request_token, sigstore) = tokio::try_join!(
        SigningKey::load_or_generate(&key_path),
        async {
            match &settings.issuer_request_token {
                Some(t) => Ok(t.clone()),
                None => secret_file(&settings.data_dir.join("issuer-request-token")).await,
            }
        },
        async {
            crate::issuer::sigstore::Sigstore::open(&key_dir, &settings.data_dir, &sigstore_url)
                .await
                .context("starting the fake Sigstore")
        },
    )?;
    let identities = settings.issuer_identities.clone().into_iter().collect();
    Ok(Issuer::new(base_url, request_token, key)
        .with_identities(identities)
        .with_sigstore(sigstore)
        .with_control_file(&settings.data_dir.join("issuer-control.json")))
}

/// The trusted roots attestations are verified against.
async fn sigstore_roots(
    settings: &Settings,
    issuer: Option<&Issuer>,
) -> anyhow::Result<crate::sigstore::root::Roots> {
    let mut roots = crate::sigstore::root::Roots::default();
    if let Some(sigstore) = issuer.and_then(Issuer::sigstore) {
        roots.add(&sigstore.trusted_root)?;
    }
    for path in &settings.sigstore_trusted_roots {
        let text = tokio::fs::read_to_string(path)
            .await
            .with_context(|| format!("reading the Sigstore trusted root {}", path.display()))?;
        roots
            .add(&text)
            .with_context(|| format!("the Sigstore trusted root {}", path.display()))?;
    }
    Ok(roots)
}

/// Forget replay records once their tokens are long expired.
async fn purge_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = state.store.purge_expired_jti().await {
            tracing::warn!(error = %e, "purging expired jti records failed");
        }
    }
}

/// The impersonated host names with `twine` and `uv` asked of those clients (a
/// process each, off the reactor).
async fn impersonated(hosts: &[String]) -> anyhow::Result<Vec<String>> {
    if !hosts.iter().any(|h| h == "twine" || h == "uv") {
        return Ok(hosts.to_vec());
    }
    let hosts = hosts.to_vec();
    tokio::task::spawn_blocking(move || crate::proxy::expand_hosts(&hosts)).await?
}

/// The certificate and key: the user's, or generated for every name clients use (the
/// configured ones, the impersonated hosts and the public URL's host).
async fn tls_for(settings: &Settings, public: &url::Url) -> anyhow::Result<tls::TlsMaterial> {
    let mut names = settings.tls_names.clone();
    names.extend(settings.impersonate_hosts.iter().cloned());
    if let Some(host) = public.host_str() {
        names.push(host.to_owned());
    }
    let user_cert = settings
        .tls_cert
        .as_deref()
        .zip(settings.tls_key.as_deref());
    tls::load(&settings.data_dir, user_cert, &tls::leaf_names(&names)).await
}

/// What other commands (`env`, `publisher`, tests) need to reach this server.
fn server_info(app: &App, ca_bundle: Option<std::path::PathBuf>) -> ServerInfo {
    let authority = app
        .public_url
        .split_once("://")
        .map(|(_, a)| a)
        .unwrap_or(&app.public_url);
    ServerInfo {
        pid: std::process::id(),
        http_url: Some(format!("http://{authority}")),
        https_url: Some(format!("https://{authority}")),
        upload_url: Some(format!("https://{authority}/legacy/")),
        simple_url: Some(format!("http://{authority}/simple/")),
        admin_token: Some(app.admin_token.clone()),
        ca_file: app.ca_file.clone(),
        ca_bundle,
        audience: Some(app.settings.audience.clone()),
        testpypi: app.testpypi.as_ref().map(|test| {
            let base = test.public_url.split_once("://").map_or("", |(_, a)| a);
            crate::server_info::IndexInfo {
                http_url: format!("http://{base}"),
                upload_url: format!("https://{base}/legacy/"),
                simple_url: format!("http://{base}/simple/"),
                audience: test.settings.audience.clone(),
                host: crate::http::testpypi_hosts(&app.settings.impersonate_hosts)
                    .into_iter()
                    .next(),
            }
        }),
        ..app.issuer.as_deref().map(issuer_info).unwrap_or_default()
    }
}

/// What reaching a fake issuer takes: its URLs, request token and Sigstore root
/// (written by `serve` and by a standalone `issuer`).
pub fn issuer_info(issuer: &Issuer) -> ServerInfo {
    ServerInfo {
        pid: std::process::id(),
        issuer_url: Some(issuer.base_url().to_owned()),
        github_issuer: Some(issuer.issuer_url(Provider::GitHub)),
        issuers: Some(issuer.issuer_urls()),
        request_token: Some(issuer.request_token().to_owned()),
        sigstore_url: issuer.sigstore().map(|s| s.base_url().to_owned()),
        sigstore_trusted_root: issuer.sigstore().map(|s| s.trusted_root_path.clone()),
        ..Default::default()
    }
}
