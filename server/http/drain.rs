//! Early refusals every client can read (RFC 9112 §9.6). When a request is answered
//! before its body was read to the end (an unauthenticated upload, a body over a size
//! limit), the rest is read and discarded, up to a bound, before the answer goes out.
//! Clients that send the whole body before reading the response (Python's http.client,
//! so twine and requests) would otherwise hit a reset connection instead of the
//! refusal. Past the bound the answer goes out with `Connection: close`.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;

/// How long draining may take before the connection is closed instead.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The request body, shared with the middleware so what the handler left unread can be
/// read after the handler answered.
#[derive(Clone, Default)]
struct Shared {
    body: Arc<Mutex<Option<Body>>>,
    polled: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
}

struct Tracked(Shared);

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let shared = &self.0;
        shared.polled.store(true, Ordering::Relaxed);
        let mut guard = match shared.body.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(body) = guard.as_mut() else {
            return Poll::Ready(None);
        };
        let poll = Pin::new(body).poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) {
            shared.finished.store(true, Ordering::Relaxed);
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        match self.0.body.lock() {
            Ok(g) => g.as_ref().is_none_or(|b| b.is_end_stream()),
            Err(_) => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.0.body.lock() {
            Ok(g) => g.as_ref().map(|b| b.size_hint()).unwrap_or_default(),
            Err(_) => SizeHint::default(),
        }
    }
}

/// `axum::middleware::from_fn_with_state(limit, drain_unread)`: `limit` bytes at most
/// are read after the answer is decided.
pub async fn drain_unread(State(limit): State<u64>, request: Request, next: Next) -> Response {
    let expects_continue = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let shared = Shared::default();
    if let Ok(mut slot) = shared.body.lock() {
        *slot = Some(body);
    }
    let request = Request::from_parts(parts, Body::new(Tracked(shared.clone())));
    let mut response = next.run(request).await;
    if shared.finished.load(Ordering::Relaxed) {
        return response;
    }
    // A client waiting for 100 Continue has sent nothing: there is nothing to drain.
    if expects_continue && !shared.polled.load(Ordering::Relaxed) {
        return response;
    }
    let rest = match shared.body.lock() {
        Ok(mut slot) => slot.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    // An answer that closes the connection anyway (a stalled upload's 408) goes out now.
    let closing = response
        .headers()
        .get(header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    if let Some(rest) = rest.filter(|_| !closing) {
        let drained = tokio::time::timeout(DRAIN_TIME, discard(rest, limit)).await;
        if !matches!(drained, Ok(true)) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}

/// Read and drop the body to its end; `false` if it went past `limit` or broke.
async fn discard(mut body: Body, limit: u64) -> bool {
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    read += data.len() as u64;
                    if read > limit {
                        return false;
                    }
                }
            }
            Err(_) => return false,
        }
    }
    true
}
