//! The failure kit on the wire: the layer each faultable route is declared with (it
//! counts the request and, when an armed fault fires, answers in its place, delays it,
//! drips its answer, drops the connection, or hands the mint handler a tweak), the
//! upload's own hook (faults that need the project and file), and the recorder of every
//! firing. The engine itself (`crate::faults`) is pure; the control API and the
//! dashboard are never declared faultable.

mod answer;

use std::time::Duration;

use axum::extract::{RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

pub use answer::injected;
use answer::{cut_after, drip, reusable};

use crate::faults::{Action, Close, Fired, MatchCtx, Route};
use crate::listener::ConnectionKill;
use crate::provider::Provider;
use crate::state::{App, AppState};
use crate::store::{NewFaultEvent, Store};
use crate::upload::{BeforeStore, Turn};

/// Handed to the mint handler: the token's lifetime, or no `expires` in the answer,
/// and the fault in words for the exchange's audit.
#[derive(Clone, Debug, Default)]
pub struct MintTweak {
    pub lifetime: Option<i64>,
    pub omit_expires: bool,
    pub note: Option<String>,
}

/// A fault that fired, in words: "fault 3 (scenario token-expires-mid-publish): mint a
/// token that expires after 3 s".
fn note(fired: &Fired) -> String {
    format!("{}: {}", fired.label(), fired.action.describe())
}

/// The state of one faultable route's layer: the server and the route it guards.
#[derive(Clone)]
struct Tagged {
    app: AppState,
    route: Route,
}

/// Declare a route faultable as `route` (the one route table: `http/mod.rs` tags each
/// route where it declares it). Only the methods added so far are wrapped.
pub fn faulted<S>(app: &AppState, route: Route, methods: MethodRouter<S>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let tagged = Tagged {
        app: app.clone(),
        route,
    };
    methods.route_layer(axum::middleware::from_fn_with_state(tagged, layer))
}

/// What a request offers to match on, from its path parameters (the project as the
/// path spells it, the file's name, the issuer flavour).
fn match_params(
    route: Route,
    params: &RawPathParams,
) -> (Option<String>, Option<&str>, Option<Provider>) {
    let param = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    let project = param("project").map(crate::packaging::normalize_name);
    let filename = param("path").and_then(|p| p.rsplit('/').next());
    let provider = match route {
        Route::IssuerToken => Some(Provider::GitHub),
        _ => param("provider").and_then(|p| p.parse().ok()),
    };
    (project, filename, provider)
}

/// The fault that fires on this request, if any. The common case, nothing armed
/// anywhere, costs no more than an atomic load (the view is reloaded only when the
/// store's fault counter moved). A store that cannot be read serves without faults.
async fn due_here(app: &App, route: Route, params: &RawPathParams) -> Option<Fired> {
    if let Err(e) = crate::fault_state::refresh(app).await {
        tracing::error!(error = %e, "could not read the armed faults; serving without them");
        return None;
    }
    if !app.faults.armed() {
        return None;
    }
    let (project, filename, provider) = match_params(route, params);
    let ctx = MatchCtx {
        project: project.as_deref(),
        filename,
        provider,
    };
    crate::fault_state::pick(app, route, ctx, false)
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not count a request against the armed faults");
            None
        })
}

/// The layer: count the request, and if a fault fires, record it and act. Long because
/// it is one match over the actions, each a few lines.
async fn layer(
    State(t): State<Tagged>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let (app, route) = (&t.app, t.route);
    app.faults.count(route);
    let Some(fired) = due_here(app, route, &params).await else {
        return next.run(request).await;
    };
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    record(&app.store, &fired, method.as_str(), &path, None).await;
    let kill = request.extensions().get::<ConnectionKill>().cloned();
    match fired.action.clone() {
        Action::Status { .. } => injected(route, &fired),
        Action::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Action::Drip { bytes_per_second } => drip(next.run(request).await, bytes_per_second),
        Action::Close(Close::BeforeBody) => {
            if let Some(k) = kill {
                k.fire();
            }
            // The connection is gone; this request never answers.
            std::future::pending::<()>().await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Action::Close(Close::AfterBodyBytes { bytes }) => {
            let (parts, body) = request.into_parts();
            let body = cut_after(body, bytes, kill, false);
            next.run(Request::from_parts(parts, body)).await
        }
        Action::Close(Close::MidResponse { bytes }) => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, cut_after(body, bytes, kill, true))
        }
        Action::TokenLifetime { seconds } => {
            request.extensions_mut().insert(MintTweak {
                lifetime: Some(seconds),
                omit_expires: false,
                note: Some(note(&fired)),
            });
            next.run(request).await
        }
        Action::OmitExpires => {
            request.extensions_mut().insert(MintTweak {
                lifetime: None,
                omit_expires: true,
                note: Some(note(&fired)),
            });
            next.run(request).await
        }
        Action::ReusableWorkflow { file } => {
            reusable(&mut request, &file);
            next.run(request).await
        }
        // Fired by the upload itself, never here.
        Action::StoredThenStatus { .. } | Action::StaleFor { .. } => next.run(request).await,
    }
}

/// Record a fired fault next to the request it hit (a failure to record is logged:
/// the fault still fires).
pub async fn record(
    store: &Store,
    fired: &Fired,
    method: &str,
    path: &str,
    file: Option<(&str, &str)>,
) {
    let event = NewFaultEvent {
        fault_id: fired.id as i64,
        scenario: fired.scenario.clone(),
        route: fired.route.as_str().to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        action: serde_json::Value::Object(fired.action.fields()).to_string(),
        project: file.map(|f| f.0.to_owned()),
        filename: file.map(|f| f.1.to_owned()),
    };
    tracing::info!(
        fault = fired.id,
        route = fired.route.as_str(),
        path,
        "fault fired"
    );
    if let Err(e) = store.record_fault_event(event).await {
        tracing::warn!(error = %e, "recording a fired fault failed");
    }
}

/// The upload's faults that need its project and file: fired by the upload once its
/// checks pass, before anything is created or stored.
pub struct UploadFaults<'a> {
    pub app: &'a App,
}

impl BeforeStore for UploadFaults<'_> {
    type Answer = Response;

    async fn before_store(&self, project: &str, filename: &str) -> Turn<Response> {
        let ctx = MatchCtx {
            project: Some(project),
            filename: Some(filename),
            provider: None,
        };
        let f = match crate::fault_state::pick(self.app, Route::Upload, ctx, true).await {
            Ok(Some(f)) => f,
            Ok(None) => return Turn::Carry,
            Err(e) => {
                tracing::error!(error = %e, "could not count an upload against the armed faults");
                return Turn::Carry;
            }
        };
        record(
            &self.app.store,
            &f,
            "POST",
            "/legacy/",
            Some((project, filename)),
        )
        .await;
        match f.action.clone() {
            Action::Status { .. } => Turn::AnswerNow(injected(Route::Upload, &f)),
            Action::Delay { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Turn::Carry
            }
            Action::StoredThenStatus { .. } => {
                Turn::AnswerAfterStoring(injected(Route::Upload, &f))
            }
            Action::StaleFor { seconds } => {
                let until = crate::util::now() + seconds as i64;
                if let Err(e) = crate::fault_state::hide(self.app, project, filename, until).await {
                    tracing::error!(error = %e, "could not hide a file for a stale-page fault");
                }
                Turn::Carry
            }
            _ => Turn::Carry,
        }
    }
}
