//! One port for HTTP and HTTPS, told apart by the first byte (0x16 starts a TLS
//! handshake), plus the CONNECT proxy for impersonated hosts on the plain side; graceful
//! shutdown with a bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::proxy::Tunnels;
use crate::state::Scheme;

/// How long a connection may take to send its first byte, or to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may run on after shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Accept connections until `shutdown` resolves, then let open ones finish.
pub async fn serve(
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    tls: TlsAcceptor,
    impersonate_hosts: &[String],
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    // Tunnels lead back to this listener (loopback when it listens on all addresses).
    let mut target = local_addr;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let tunnels = Tunnels::new(impersonate_hosts, target);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, router.clone(), tunnels.clone(), tls.clone(), graceful.watcher()));
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("gracefully shut down"),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("shutdown timed out; dropping open connections"),
    }
    Ok(())
}

/// Peek at the first byte: 0x16 starts a TLS handshake, anything else is plain HTTP.
async fn connection(
    stream: TcpStream,
    router: Router,
    tunnels: Arc<Tunnels>,
    tls: TlsAcceptor,
    watcher: Watcher,
) {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await;
    if !matches!(peeked, Ok(Ok(1))) {
        return;
    }
    // A fault may drop this connection mid-request (see `http::faults`).
    let kill = ConnectionKill(Arc::new(tokio::sync::Notify::new()));
    let builder = auto::Builder::new(TokioExecutor::new());
    let result = if first[0] == 0x16 {
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => return,
        };
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            service(router, None, Scheme("https"), kill.clone()),
        );
        tokio::select! {
            r = watcher.watch(conn.into_owned()) => r,
            _ = kill.0.notified() => Ok(()),
        }
    } else {
        // Only plain HTTP carries proxy requests (HTTPS_PROXY=http://…).
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(stream),
            service(router, Some(tunnels), Scheme("http"), kill.clone()),
        );
        tokio::select! {
            r = watcher.watch(conn.into_owned()) => r,
            _ = kill.0.notified() => Ok(()),
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

fn service(
    router: Router,
    tunnels: Option<Arc<Tunnels>>,
    scheme: Scheme,
    kill: ConnectionKill,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl std::future::Future<
        Output = Result<axum::response::Response, std::convert::Infallible>,
    > + Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let (router, tunnels, kill) = (router.clone(), tunnels.clone(), kill.clone());
        async move {
            if let Some(t) = tunnels.filter(|_| Tunnels::is_proxy_request(&request)) {
                return Ok(t.connect(request));
            }
            request.extensions_mut().insert(scheme);
            request.extensions_mut().insert(kill);
            router.oneshot(request).await
        }
    })
}

/// Drops the connection a request arrived on (one per connection, in every request's
/// extensions; a fault fires it).
#[derive(Clone)]
pub struct ConnectionKill(pub Arc<tokio::sync::Notify>);

impl ConnectionKill {
    pub fn fire(&self) {
        self.0.notify_one();
    }
}
