//! The fault layer around the index (and the embedded issuer): it names the route a
//! request is for, counts it, and if an armed fault fires, answers in its place, delays
//! it, drips its answer, drops the connection, or passes a tweak to the handler. The
//! control API and the dashboard are never faulted.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::engine::{Fired, MatchCtx};
use super::spec::{Action, Close, Route, Style};
use crate::provider::Provider;
use crate::state::AppState;

/// Drops the connection a request arrived on (set by the listener, one per connection).
#[derive(Clone)]
pub struct ConnectionKill(pub Arc<tokio::sync::Notify>);

impl ConnectionKill {
    fn fire(&self) {
        self.0.notify_one();
    }
}

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

/// A request's route and what it can be matched on (the project as the path spells it).
struct Target<'a> {
    route: Route,
    project: Option<&'a str>,
    filename: Option<&'a str>,
    provider: Option<Provider>,
}

fn target<'a>(route: Route) -> Target<'a> {
    Target {
        route,
        project: None,
        filename: None,
        provider: None,
    }
}

/// The route and what can be matched, from the method and path.
fn classify<'a>(method: &Method, path: &'a str) -> Option<Target<'a>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match (method, segments.as_slice()) {
        (_, ["_mock", ..]) => return None,
        (&Method::GET, ["_", "oidc", "audience"]) => target(Route::Audience),
        (&Method::POST, ["_", "oidc", "mint-token"]) => target(Route::MintToken),
        (&Method::POST, ["_", "oidc", "github", "mint-token"]) => target(Route::LegacyMintToken),
        (&Method::POST, ["_", "oidc", "burn-token"]) => target(Route::BurnToken),
        (&Method::POST, ["legacy", ..]) => target(Route::Upload),
        (&Method::GET, ["simple", ""] | ["simple"]) => target(Route::SimpleIndex),
        (&Method::GET, ["simple", p, ..]) => Target {
            project: Some(p),
            ..target(Route::SimpleProject)
        },
        (&Method::GET, ["pypi", p, .., "json"]) => Target {
            project: Some(p),
            ..target(Route::JsonApi)
        },
        (&Method::GET | &Method::HEAD, ["files", .., filename]) => Target {
            filename: Some(filename),
            ..target(Route::File)
        },
        (&Method::GET, ["issuer", "github", "token"]) => Target {
            provider: Some(Provider::GitHub),
            ..target(Route::IssuerToken)
        },
        (&Method::GET, ["issuer", provider, ".well-known", "jwks"]) => Target {
            provider: provider.parse().ok(),
            ..target(Route::IssuerJwks)
        },
        _ => return None,
    })
}

/// The layer: count the request, and if a fault fires, record it and act. Long because
/// it is one match over the actions, each a few lines.
pub async fn faults(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(t) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let route = t.route;
    app.faults.count(route);
    // The common case, nothing armed: no more work on the request's path.
    if !app.faults.armed() {
        return next.run(request).await;
    }
    let project = t.project.map(crate::packaging::normalize_name);
    let ctx = MatchCtx {
        project: project.as_deref(),
        filename: t.filename,
        provider: t.provider,
    };
    let Some(fired) = app.faults.pick(route, ctx, false) else {
        return next.run(request).await;
    };
    super::record(
        &app,
        &fired,
        request.method().as_str(),
        request.uri().path(),
        None,
    )
    .await;
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
        // Fired by the upload handler, never here.
        Action::StoredThenStatus { .. } | Action::StaleFor { .. } => next.run(request).await,
    }
}

/// A body that passes on whole chunks while they stay within `limit` bytes; the chunk
/// that would cross it drops the connection instead, and the body never ends (so the
/// handler cannot answer before the connection is gone).
/// For a response (`partial`), the bytes up to the limit are sent first.
fn cut_after(body: Body, limit: u64, kill: Option<ConnectionKill>, partial: bool) -> Body {
    Body::from_stream(Cut {
        inner: body.into_data_stream(),
        passed: 0,
        limit,
        kill,
        cut: false,
        partial,
    })
}

struct Cut {
    inner: axum::body::BodyDataStream,
    passed: u64,
    limit: u64,
    kill: Option<ConnectionKill>,
    cut: bool,
    partial: bool,
}

impl futures_util::Stream for Cut {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        if self.cut {
            return Poll::Pending;
        }
        match std::pin::Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) if self.passed + chunk.len() as u64 > self.limit => {
                self.cut = true;
                if let Some(k) = &self.kill {
                    k.fire();
                }
                let keep = usize::try_from(self.limit - self.passed).unwrap_or(0);
                if self.partial && keep > 0 {
                    Poll::Ready(Some(Ok(chunk.slice(..keep))))
                } else {
                    Poll::Pending
                }
            }
            Poll::Ready(Some(Ok(chunk))) => {
                self.passed += chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) if self.passed < self.limit => Poll::Ready(None),
            Poll::Ready(None) => {
                self.cut = true;
                if let Some(k) = &self.kill {
                    k.fire();
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

/// The answer, a slice every tenth of a second.
fn drip(response: Response, bytes_per_second: u64) -> Response {
    let slice = usize::try_from((bytes_per_second / 10).max(1)).unwrap_or(1);
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = body
        .into_data_stream()
        .flat_map(move |chunk| {
            let pieces: Vec<Result<Bytes, axum::Error>> = match chunk {
                Ok(c) => (0..c.len())
                    .step_by(slice)
                    .map(|at| Ok(c.slice(at..(at + slice).min(c.len()))))
                    .collect(),
                Err(e) => vec![Err(e)],
            };
            futures_util::stream::iter(pieces)
        })
        .then(|piece| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            piece
        });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Make the GitHub token request one for a reusable workflow: the called file in the
/// same repository, at the same ref.
fn reusable(request: &mut Request, file: &str) {
    let uri = request.uri().clone();
    let query = uri.query().unwrap_or("");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "job_workflow_ref")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let repository = get("repository").unwrap_or_default();
    let git_ref = get("ref").unwrap_or_else(|| crate::provider::DEFAULT_REF.into());
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.extend_pairs(&pairs);
    out.append_pair(
        "job_workflow_ref",
        &format!("{repository}/.github/workflows/{file}@{git_ref}"),
    );
    let new = format!("{}?{}", uri.path(), out.finish());
    if let Ok(parsed) = new.parse() {
        *request.uri_mut() = parsed;
    }
}

/// The answer a fired status fault (or a stored-then-status one, as the CDN's) gives.
pub fn injected(route: Route, fired: &Fired) -> Response {
    match &fired.action {
        Action::Status {
            status,
            style,
            body,
            content_type,
            retry_after,
        } => status_page(
            route,
            *status,
            *style,
            body.clone(),
            content_type.clone(),
            *retry_after,
            fired,
        ),
        Action::StoredThenStatus { status } => {
            status_page(route, *status, Style::Cdn, None, None, None, fired)
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// An injected answer: PyPI's shape for the route, or the CDN's error page.
fn status_page(
    route: Route,
    status: u16,
    style: Style,
    body: Option<String>,
    content_type: Option<String>,
    retry_after: Option<u64>,
    fired: &Fired,
) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let reason = code.canonical_reason().unwrap_or("Error");
    let why = format!("injected by mock-pypi {}", fired.label());
    let (default_type, default_body) = match style {
        Style::Cdn => (
            "text/html; charset=utf-8",
            format!(
                "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head><body>\n<h1>Error {status} {reason}</h1>\n<p>{reason}</p>\n<h3>Guru Mediation:</h3>\n<p>Details: cache-mock-1 {} ({why})</p>\n<hr><p>Varnish cache server</p>\n</body></html>\n",
                crate::util::now()
            ),
        ),
        Style::Pypi if route.is_mint() => (
            "application/json",
            serde_json::json!({
                "message": "Token request failed",
                "errors": [{"code": if status >= 500 { "server-error" } else { "invalid-payload" }, "description": format!("{status} {reason}: {why}")}],
            })
            .to_string(),
        ),
        Style::Pypi => ("text/plain; charset=utf-8", format!("{status} {reason}\n\n{why}\n")),
    };
    let mut response = (code, body.unwrap_or(default_body)).into_response();
    let h = response.headers_mut();
    let content_type = content_type.unwrap_or_else(|| default_type.to_owned());
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(seconds) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if style == Style::Cdn {
        h.insert(header::VIA, HeaderValue::from_static("1.1 varnish"));
        h.insert("x-served-by", HeaderValue::from_static("cache-mock-1"));
        h.insert("x-cache", HeaderValue::from_static("MISS"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_and_the_control_api_never_is() {
        let get = |p: &str| classify(&Method::GET, p).map(|c| c.route);
        let post = |p: &str| classify(&Method::POST, p).map(|c| c.route);
        assert_eq!(get("/_/oidc/audience"), Some(Route::Audience));
        assert_eq!(post("/_/oidc/mint-token"), Some(Route::MintToken));
        assert_eq!(
            post("/_/oidc/github/mint-token"),
            Some(Route::LegacyMintToken)
        );
        assert_eq!(post("/legacy/"), Some(Route::Upload));
        assert_eq!(get("/simple/"), Some(Route::SimpleIndex));
        assert_eq!(
            classify(&Method::GET, "/simple/Demo_Pkg/")
                .and_then(|c| c.project)
                .map(crate::packaging::normalize_name),
            Some("demo-pkg".into())
        );
        assert_eq!(get("/pypi/demo/1.0/json"), Some(Route::JsonApi));
        assert_eq!(
            classify(&Method::GET, "/files/ab/cd/ef/demo-1.0.tar.gz").map(|c| c.filename),
            Some(Some("demo-1.0.tar.gz"))
        );
        assert_eq!(
            get("/issuer/gitlab/.well-known/jwks"),
            Some(Route::IssuerJwks)
        );
        assert_eq!(get("/issuer/github/token"), Some(Route::IssuerToken));
        assert_eq!(get("/_mock/api/faults"), None);
        assert_eq!(post("/_mock/api/publishers"), None);
        assert_eq!(get("/_mock/dashboard/"), None);
    }
}
