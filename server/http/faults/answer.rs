//! What a fired fault does to an answer or a connection: PyPI's or the CDN's error
//! page, a dripped answer, a request or response cut after N bytes (the connection
//! dropped), a GitHub token request turned into a reusable workflow's.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::faults::{Action, Fired, Route, Style};
use crate::listener::ConnectionKill;

/// A body that passes on whole chunks while they stay within `limit` bytes; the chunk
/// that would cross it drops the connection instead, and the body never ends (so the
/// handler cannot answer before the connection is gone).
/// For a response (`partial`), the bytes up to the limit are sent first.
pub(super) fn cut_after(
    body: Body,
    limit: u64,
    kill: Option<ConnectionKill>,
    partial: bool,
) -> Body {
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
pub(super) fn drip(response: Response, bytes_per_second: u64) -> Response {
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
pub(super) fn reusable(request: &mut Request, file: &str) {
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

/// What an injected error page is made of.
struct Page {
    status: u16,
    style: Style,
    body: Option<String>,
    content_type: Option<String>,
    retry_after: Option<u64>,
}

/// The answer a fired status fault (or a stored-then-status one, as the CDN's) gives.
pub fn injected(route: Route, fired: &Fired) -> Response {
    let page = match &fired.action {
        Action::Status {
            status,
            style,
            body,
            content_type,
            retry_after,
        } => Page {
            status: *status,
            style: *style,
            body: body.clone(),
            content_type: content_type.clone(),
            retry_after: *retry_after,
        },
        Action::StoredThenStatus { status } => Page {
            status: *status,
            style: Style::Cdn,
            body: None,
            content_type: None,
            retry_after: None,
        },
        _ => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    status_page(route, page, fired)
}

/// An injected answer: PyPI's shape for the route, or the CDN's error page.
fn status_page(route: Route, page: Page, fired: &Fired) -> Response {
    let Page {
        status,
        style,
        body,
        content_type,
        retry_after,
    } = page;
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
