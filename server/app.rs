//! Building the server: state, router, the listener that serves HTTP and HTTPS on
//! one port (told apart by the first byte), fixtures, and graceful shutdown.

use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::config::Settings;
use crate::issuer::Issuer;
use crate::issuer::keys::SigningKey;
use crate::oidc::jwks::JwksCache;
use crate::provider::Provider;
use crate::store::{BlobStore, Store};
use crate::{control, index, oidc, tls, upload};

/// Which protocol a connection arrived on; handlers that build absolute URLs read it.
#[derive(Clone, Copy, Debug)]
pub struct Scheme(pub &'static str);

impl Scheme {
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

pub struct App {
    pub settings: Settings,
    /// `http://host:port` clients use.
    pub public_url: String,
    pub admin_token: String,
    pub store: Store,
    pub blobs: BlobStore,
    pub jwks: JwksCache,
    pub issuer: Option<Arc<Issuer>>,
    pub ca_file: Option<PathBuf>,
    pub pages: index::cache::PageCache,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// Slack on top of the file limit for the other form fields.
const FORM_OVERHEAD: usize = 16 << 20;

pub fn router(state: AppState) -> Router {
    let upload_limit = usize::try_from(state.settings.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FORM_OVERHEAD);
    let mut router = Router::new()
        .route("/", get(home))
        .route("/_/oidc/audience", get(oidc::routes::audience))
        .route(
            "/_/oidc/mint-token",
            post(oidc::routes::mint_token)
                .layer(DefaultBodyLimit::max(oidc::routes::MAX_BODY_BYTES)),
        )
        .route(
            "/_/oidc/github/mint-token",
            post(oidc::routes::mint_token)
                .layer(DefaultBodyLimit::max(oidc::routes::MAX_BODY_BYTES)),
        )
        .route(
            "/_/oidc/burn-token",
            post(oidc::routes::burn_token)
                .layer(DefaultBodyLimit::max(oidc::routes::MAX_BODY_BYTES)),
        )
        .route(
            "/legacy/",
            post(upload::upload)
                .get(upload::info)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/legacy",
            post(|| async { Redirect::permanent("/legacy/") }),
        )
        .route("/simple", get(|| async { index::moved("/simple/") }))
        .route("/simple/", get(index::simple::index))
        .route("/simple/{project}/", get(index::simple::detail))
        .route("/simple/{project}", get(index::simple::detail_no_slash))
        .route("/pypi/{project}/json", get(index::json_api::project))
        .route(
            "/pypi/{project}/{version}/json",
            get(index::json_api::release),
        )
        .route("/_mock/health", get(health))
        .nest("/_mock/dashboard", crate::dashboard::router())
        .nest("/_mock/api", control::router(state.clone()))
        .route("/files/{*path}", get(index::files::file));
    if let Some(issuer) = &state.issuer {
        router = router.nest_service("/issuer", crate::issuer::router(issuer.clone()));
    }
    router
        .with_state(state)
        .layer((TraceLayer::new_for_http(), CatchPanicLayer::new()))
}

async fn home(axum::extract::State(app): axum::extract::State<AppState>) -> String {
    format!(
        "mock-pypi {}\n\nupload:        {}/legacy/  (https)\nsimple index:  {}/simple/\ncontrol API:   {}/_mock/api/\n",
        env!("CARGO_PKG_VERSION"),
        app.public_url.replacen("http://", "https://", 1),
        app.public_url,
        app.public_url
    )
}

/// Healthy when the database answers (what a container health check should mean).
async fn health(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match app.store.ping().await {
        Ok(()) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable",
            )
                .into_response()
        }
    }
}

/// The embedded issuer is trusted by default; configured issuers and publishers are
/// (re)applied at start and after a reset.
pub async fn apply_fixtures(app: &App) -> anyhow::Result<()> {
    if app.settings.trust_production_issuers {
        for provider in Provider::ALL {
            app.store
                .upsert_issuer(provider.as_str(), provider.production_issuer(), None)
                .await?;
        }
    }
    if let Some(issuer) = &app.issuer {
        for provider in Provider::ALL {
            // An impersonated `iss` has its discovery document elsewhere: name the keys.
            let jwks = issuer
                .impersonates(provider)
                .then(|| issuer.jwks_url(provider));
            app.store
                .upsert_issuer(
                    provider.as_str(),
                    &issuer.issuer_url(provider),
                    jwks.as_deref(),
                )
                .await?;
        }
    }
    for spec in &app.settings.trusted_issuers {
        control::add_issuer(app, &spec.provider, &spec.url, spec.jwks_url.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("trusted issuer {}: {e}", spec.url))?;
    }
    for publisher in &app.settings.publishers {
        match control::add_publisher(app, publisher).await {
            Ok(_) | Err(crate::error::ApiError::Conflict(_)) => {}
            Err(e) => anyhow::bail!(
                "publisher {}: {e}",
                serde_json::Value::Object(publisher.clone())
            ),
        }
    }
    Ok(())
}

async fn secret_file(path: &Path) -> anyhow::Result<String> {
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

pub struct Server {
    pub state: AppState,
    listener: TcpListener,
    tls: TlsAcceptor,
    pub local_addr: SocketAddr,
}

impl Server {
    /// Bind, open the data directory and database, prepare TLS and the issuer.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        tls::install_crypto_provider();
        let data_dir = settings.data_dir.clone();
        tokio::fs::create_dir_all(&data_dir)
            .await
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let ip = if local_addr.ip().is_unspecified() {
                "127.0.0.1".parse().unwrap_or(local_addr.ip())
            } else {
                local_addr.ip()
            };
            format!("http://{}", SocketAddr::new(ip, local_addr.port()))
        });
        let public =
            url::Url::parse(&public_url).with_context(|| format!("public URL {public_url:?}"))?;
        let mut names = settings.tls_names.clone();
        names.extend(settings.impersonate_hosts.iter().cloned());
        if let Some(host) = public.host_str() {
            names.push(host.to_owned());
        }
        let user_cert = settings
            .tls_cert
            .as_deref()
            .zip(settings.tls_key.as_deref());
        let tls_material = tls::load(&data_dir, user_cert, &tls::leaf_names(&names)).await?;
        let blobs = BlobStore::new(&data_dir).context("preparing the file store")?;
        let store = Store::connect(
            &settings.database_url,
            blobs.clone(),
            settings.database_pool_size,
        )
        .await?;
        let admin_token = match &settings.admin_token {
            Some(t) => t.clone(),
            None => secret_file(&data_dir.join("admin-token")).await?,
        };
        let issuer = if settings.embedded_issuer {
            Some(Arc::new(
                build_issuer(&settings, &format!("{public_url}/issuer")).await?,
            ))
        } else {
            None
        };
        let app = App {
            public_url,
            admin_token,
            store,
            blobs,
            jwks: JwksCache::new(settings.jwks_cooldown)?,
            issuer,
            ca_file: tls_material.ca_file,
            pages: Default::default(),
            settings,
        };
        apply_fixtures(&app).await?;
        let state = AppState(Arc::new(app));
        write_server_file(&state).await?;
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
        let router = router(self.state.clone());
        // Tunnels lead back to this listener (loopback when it listens on all addresses).
        let mut target = self.local_addr;
        if target.ip().is_unspecified() {
            target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let tunnels = crate::proxy::Tunnels::new(&self.state.settings.impersonate_hosts, target);
        let graceful = GracefulShutdown::new();
        let purge = tokio::spawn(purge_loop(self.state.clone()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, _peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_connection(stream, router.clone(), tunnels.clone(), self.tls.clone(), graceful.watcher()));
                }
                _ = &mut shutdown => break,
            }
        }
        drop(self.listener);
        purge.abort();
        tokio::select! {
            _ = graceful.shutdown() => tracing::info!("gracefully shut down"),
            _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("shutdown timed out; dropping open connections"),
        }
        Ok(())
    }
}

async fn build_issuer(settings: &Settings, base_url: &str) -> anyhow::Result<Issuer> {
    let key_path = settings
        .issuer_key
        .clone()
        .unwrap_or_else(|| settings.data_dir.join("issuer-key.pem"));
    let key = SigningKey::load_or_generate(&key_path).await?;
    let request_token = match &settings.issuer_request_token {
        Some(t) => t.clone(),
        None => secret_file(&settings.data_dir.join("issuer-request-token")).await?,
    };
    let identities = settings.issuer_identities.clone().into_iter().collect();
    Ok(Issuer::new(base_url, request_token, key).with_identities(identities))
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

/// Peek at the first byte: 0x16 starts a TLS handshake, anything else is plain HTTP.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    tunnels: Arc<crate::proxy::Tunnels>,
    tls: TlsAcceptor,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(Duration::from_secs(10), stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return;
    }
    let builder = auto::Builder::new(TokioExecutor::new());
    let result = if first[0] == 0x16 {
        let stream = match tokio::time::timeout(Duration::from_secs(10), tls.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            service(router, None, Scheme("https")),
        );
        watcher.watch(conn.into_owned()).await
    } else {
        // Only plain HTTP carries proxy requests (HTTPS_PROXY=http://…).
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            service(router, Some(tunnels), Scheme("http")),
        );
        watcher.watch(conn.into_owned()).await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

fn service(
    router: Router,
    tunnels: Option<Arc<crate::proxy::Tunnels>>,
    scheme: Scheme,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<
        Output = Result<axum::response::Response, std::convert::Infallible>,
    > + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let (router, tunnels) = (router.clone(), tunnels.clone());
        async move {
            if let Some(t) = tunnels.filter(|_| crate::proxy::Tunnels::is_proxy_request(&request)) {
                return Ok(t.connect(request));
            }
            request.extensions_mut().insert(scheme);
            router.oneshot(request).await
        }
    })
}

/// What other commands (`env`, `publisher`, tests) need to reach this server.
async fn write_server_file(app: &AppState) -> anyhow::Result<()> {
    let authority = app
        .public_url
        .split_once("://")
        .map(|(_, a)| a)
        .unwrap_or(&app.public_url);
    let info = json!({
        "pid": std::process::id(),
        "http_url": format!("http://{authority}"),
        "https_url": format!("https://{authority}"),
        "upload_url": format!("https://{authority}/legacy/"),
        "simple_url": format!("http://{authority}/simple/"),
        "issuer_url": app.issuer.as_ref().map(|i| i.base_url().to_owned()),
        "github_issuer": app.issuer.as_ref().map(|i| i.issuer_url(Provider::GitHub)),
        "issuers": app.issuer.as_ref().map(|i| i.issuer_urls()),
        "request_token": app.issuer.as_ref().map(|i| i.request_token().to_owned()),
        "admin_token": app.admin_token,
        "ca_file": app.ca_file,
        "audience": app.settings.audience,
    });
    crate::util::write_private(
        &app.settings.data_dir.join("server.json"),
        serde_json::to_string_pretty(&info)?.as_bytes(),
    )
    .await?;
    Ok(())
}
