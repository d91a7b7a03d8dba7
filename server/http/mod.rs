//! Transport: every route the server answers, in one place, grouped by who calls it,
//! and the layers around them. Handlers live in the modules below and stay thin: they
//! read the request, call the domain (oidc, upload, index, services) and shape the
//! answer.

mod control;
mod control_faults;
mod dashboard;
mod drain;
mod faults;
pub(crate) mod idle;
mod index;
mod json;
mod oidc;
mod upload;
mod workshop;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::faults::faulted;
use crate::faults::Route;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::{AppState, IndexName, TEST_MOUNT};

/// Slack on top of the file limit for the other form fields of an upload.
const FORM_OVERHEAD: usize = 16 << 20;
/// Every route but the upload answers within this long (a hanging JWKS fetch is
/// bounded at 5 s already); uploads may legitimately take minutes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn build_router(state: AppState) -> Router {
    // Bodies left unread by an early refusal are drained up to the largest upload (and
    // at least 64 MiB, so a small upload limit still lets big refusals through).
    let drain_limit = state
        .settings
        .max_upload_bytes
        .saturating_add(FORM_OVERHEAD as u64)
        .max(64 << 20);
    let mut router = Router::new()
        .merge(uploaders(&state))
        .merge(installers(&state))
        .merge(operators(&state))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // Uploads stream for as long as the client sends: no timeout.
        .merge(uploads(&state));
    if let Some(issuer) = &state.issuer
        && state.index == IndexName::PyPI
    {
        // The issuer's token request and key sets are faultable too.
        let tag = |route, methods| faulted(&state, route, methods);
        router = router.nest_service("/issuer", crate::issuer::router_with(issuer.clone(), tag));
    }
    let testpypi = state.testpypi.clone();
    let nested = state.index == IndexName::TestPyPI;
    let test_hosts = testpypi_hosts(&state.settings.impersonate_hosts);
    // Faults act inside the drain: a fault's early answer still lets the client finish
    // sending.
    let router = router.with_state(state);
    let router = match testpypi {
        // TestPyPI's own router, layers and all, under its mount.
        Some(test) => router.nest(TEST_MOUNT, build_router(test)),
        // Nested under PyPI's router, which carries the outer layers.
        None if nested => return router,
        None => return with_layers(router, drain_limit),
    };
    // TestPyPI's host name (impersonated) reaches the same router under the mount: the
    // path is moved before routing, so the rewrite wraps the whole router.
    let rewrite =
        axum::middleware::from_fn_with_state(std::sync::Arc::new(test_hosts), testpypi_host);
    Router::new().fallback_service(tower::Layer::layer(
        &rewrite,
        with_layers(router, drain_limit),
    ))
}

fn with_layers(router: Router, drain_limit: u64) -> Router {
    router.layer((
        TraceLayer::new_for_http(),
        CatchPanicLayer::new(),
        axum::middleware::from_fn_with_state(drain_limit, drain::drain_unread),
    ))
}

/// The impersonated host names that are TestPyPI's: those whose first label is `test`
/// (the names come from the clients at run time; none is written here).
pub(crate) fn testpypi_hosts(impersonated: &[String]) -> Vec<String> {
    impersonated
        .iter()
        .filter(|h| h.split('.').next() == Some("test") && h.contains('.'))
        .cloned()
        .collect()
}

/// A request for TestPyPI's host name is TestPyPI's: its path moves under the mount.
async fn testpypi_host(
    State(hosts): State<std::sync::Arc<Vec<String>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // HTTP/2 carries the host in the URI (`:authority`), HTTP/1.1 in `Host`.
    let host = request
        .uri()
        .host()
        .map(str::to_owned)
        .or_else(|| {
            let h = request
                .headers()
                .get(axum::http::header::HOST)?
                .to_str()
                .ok()?;
            Some(h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned())
        })
        .map(|h| h.to_ascii_lowercase());
    let ours = host.is_some_and(|h| hosts.contains(&h));
    let path = request.uri().path();
    if ours && path != TEST_MOUNT && !path.starts_with(&format!("{TEST_MOUNT}/")) {
        let moved = match request.uri().query() {
            Some(q) => format!("{TEST_MOUNT}{path}?{q}"),
            None => format!("{TEST_MOUNT}{path}"),
        };
        // Keep scheme and authority (HTTP/2 requests carry them): only the path moves.
        let mut parts = request.uri().clone().into_parts();
        if let Ok(path) = moved.parse() {
            parts.path_and_query = Some(path);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
        }
    }
    next.run(request).await
}

/// Used by uploaders: PyPI's trusted-publishing endpoints. Each faultable route is
/// tagged with its fault route here, where it is declared (the only route table).
fn uploaders(s: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/_/oidc/audience",
            faulted(s, Route::Audience, get(oidc::audience)),
        )
        .route(
            "/_/oidc/mint-token",
            faulted(s, Route::MintToken, post(oidc::mint_token)),
        )
        .route(
            "/_/oidc/github/mint-token",
            faulted(s, Route::LegacyMintToken, post(oidc::mint_token)),
        )
        .route(
            "/_/oidc/burn-token",
            faulted(s, Route::BurnToken, post(oidc::burn_token)),
        )
        .route("/.well-known/pytp", get(oidc::discover))
        .layer(DefaultBodyLimit::max(crate::oidc::MAX_BODY_BYTES))
}

/// Used by uploaders: the legacy upload API.
fn uploads(state: &AppState) -> Router<AppState> {
    let mount = state.index.mount();
    let limit = usize::try_from(state.settings.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(FORM_OVERHEAD);
    Router::new()
        .route(
            "/legacy/",
            faulted(state, Route::Upload, post(upload::upload))
                .get(upload::info)
                .layer(DefaultBodyLimit::max(limit))
                .layer(axum::middleware::from_fn_with_state(
                    state.settings.upload_idle_timeout,
                    idle::idle_timeout,
                )),
        )
        .route(
            "/legacy",
            faulted(
                state,
                Route::Upload,
                post(move || async move { Redirect::permanent(&format!("{mount}/legacy/")) }),
            ),
        )
}

/// Used by installers (pip, uv): the simple API, the JSON API and the files.
fn installers(s: &AppState) -> Router<AppState> {
    let mount = s.index.mount();
    let moved = get(move || async move { crate::index::moved(&format!("{mount}/simple/")) });
    Router::new()
        .route("/simple", faulted(s, Route::SimpleIndex, moved))
        .route(
            "/simple/",
            faulted(s, Route::SimpleIndex, get(index::simple_index)),
        )
        .route(
            "/simple/{project}/",
            faulted(s, Route::SimpleProject, get(index::simple_detail)),
        )
        .route(
            "/simple/{project}",
            faulted(s, Route::SimpleProject, get(index::simple_detail_no_slash)),
        )
        .route(
            "/pypi/{project}/json",
            faulted(s, Route::JsonApi, get(index::json_project)),
        )
        .route(
            "/pypi/{project}/{version}/json",
            faulted(s, Route::JsonApi, get(index::json_release)),
        )
        .route("/files/{*path}", faulted(s, Route::File, get(index::file)))
        .route(
            "/integrity/{project}/{version}/{filename}/provenance",
            get(index::provenance),
        )
}

/// Used by people and test suites: the home page, health, the control API and the
/// dashboard.
fn operators(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/_mock/health", get(health))
        .nest("/_mock/api/workshop", workshop::router())
        .nest("/_mock/api", control::router(state.clone()))
        .route("/_mock/dashboard/", get(dashboard::overview))
        .nest("/_mock/dashboard", dashboard::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            current_faults,
        ))
}

/// Operators' pages show the armed faults as every replica sees them: the view is
/// brought up to the store's first (a read only when another replica changed them).
async fn current_faults(
    State(app): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Err(e) = crate::fault_state::refresh(&app).await {
        tracing::warn!(error = %e, "could not read the armed faults for the banner");
    }
    next.run(request).await
}

async fn home(State(app): State<AppState>) -> String {
    format!(
        "mock-pypi {}\n\nupload:        {}/legacy/  (https)\nsimple index:  {}/simple/\ncontrol API:   {}/_mock/api/\ndashboard:     {}/_mock/dashboard/\n",
        env!("CARGO_PKG_VERSION"),
        app.https_url(),
        app.public_url,
        app.public_url,
        app.public_url
    )
}

/// Healthy when the database answers (what a container health check should mean).
async fn health(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}
