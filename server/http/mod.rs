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

use crate::state::AppState;

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
    if let Some(issuer) = &state.issuer {
        // The issuer's token request and key sets are faultable too.
        let tag = |route, methods| faulted(&state, route, methods);
        router = router.nest_service("/issuer", crate::issuer::router_with(issuer.clone(), tag));
    }
    // Faults act inside the drain: a fault's early answer still lets the client finish
    // sending.
    router.with_state(state).layer((
        TraceLayer::new_for_http(),
        CatchPanicLayer::new(),
        axum::middleware::from_fn_with_state(drain_limit, drain::drain_unread),
    ))
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
                post(|| async { Redirect::permanent("/legacy/") }),
            ),
        )
}

/// Used by installers (pip, uv): the simple API, the JSON API and the files.
fn installers(s: &AppState) -> Router<AppState> {
    let moved = get(|| async { crate::index::moved("/simple/") });
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
        .nest("/_mock/api", control::router(state.clone()))
        .route("/_mock/dashboard/", get(dashboard::overview))
        .nest("/_mock/dashboard", dashboard::router())
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
