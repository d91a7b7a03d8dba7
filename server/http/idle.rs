//! Upload bodies that stall: a client that stops sending mid-body (a retry that re-sent
//! the headers of a half-consumed stream, a dead network) is answered 408 after the
//! configured quiet time instead of holding a connection and a staging file forever.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use tokio::time::{Instant, Sleep};

use crate::error::BodyIdle;

struct Idle {
    inner: Body,
    quiet: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the last poll found nothing: only the client's silence is timed, not
    /// the handler's own work between reads.
    waiting: bool,
}

impl http_body::Body for Idle {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if !self.waiting {
            let deadline = Instant::now() + self.quiet;
            self.timer.as_mut().reset(deadline);
            self.waiting = true;
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Pending => {
                if self.timer.as_mut().poll(cx).is_ready() {
                    let quiet = self.quiet;
                    return Poll::Ready(Some(Err(axum::Error::new(BodyIdle(quiet)))));
                }
                Poll::Pending
            }
            ready => {
                self.waiting = false;
                ready
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// `axum::middleware::from_fn_with_state(quiet, idle_timeout)` on the upload route.
pub async fn idle_timeout(State(quiet): State<Duration>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = Body::new(Idle {
        inner: body,
        quiet,
        timer: Box::pin(tokio::time::sleep(quiet)),
        waiting: false,
    });
    next.run(Request::from_parts(parts, body)).await
}
