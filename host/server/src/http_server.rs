//! `HttpServer`: the accept loop in front of the API router, with the bounds a public socket
//! needs.
//!
//! - **Connections are capped** (`server.max_connections`). One over the cap is answered with a
//!   503 problem and closed at once, so a flood of sockets costs the host one file descriptor
//!   each for a moment, never a task that waits.
//! - **A client has `server.header_timeout` to send a request head**, counted from the moment
//!   the connection is accepted or the previous response was sent: a connection that sends
//!   nothing, half a header, or sits idle between keep-alive requests is closed when it runs
//!   out (hyper's header-read timer, which starts before the first byte).
//! - **A request body must arrive within `server.body_timeout`** (a layer on the router).
//!
//! A stop closes the listener, asks every connection to finish its request in flight and
//! close, and waits at most [`SHUTDOWN_GRACE`] for them: a follower of an endless event stream
//! must not hold the host up.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use reef_engine::metrics::Metrics;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// How long a stop waits for connections to finish their requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The bounds of the HTTP server (`[server]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Time to send a request head, from accept or from the previous response.
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves.
pub struct HttpServer {
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
}

/// What a connection over the cap is told before it is closed.
fn over_capacity_response(max: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "https://reef.dev/problems/too-many-connections",
        "title": "Service Unavailable",
        "status": 503,
        "detail": format!("the host has {max} connections open (server.max_connections); retry shortly"),
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl HttpServer {
    /// A server for `app` on an already bound `listener`.
    pub fn new(
        listener: TcpListener,
        app: Router,
        limits: ConnectionLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            listener,
            app,
            limits,
            metrics,
        }
    }

    /// Accepts and serves connections until `shutdown` resolves, then lets the requests in
    /// flight finish (at most [`SHUTDOWN_GRACE`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Self {
            listener,
            app,
            limits,
            metrics,
        } = self;
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let refusal = Arc::new(over_capacity_response(limits.max_connections));
        // Dropping `stop` asks every connection to finish; `tracker.closed()` resolves once
        // every connection (each holding an `open` receiver) is gone.
        let (stop, stopping) = watch::channel(());
        let (tracker, open) = watch::channel(());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout);
        let builder = Arc::new(builder);
        tokio::pin!(shutdown);
        loop {
            let (stream, _peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_failed(&error).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                metrics.http_connections_refused.inc();
                // Best effort and never waiting: the socket buffer takes a response this small.
                let _ = stream.try_write(&refusal);
                continue;
            };
            let _ = stream.set_nodelay(true);
            metrics.http_connections.inc();
            let connection = Connection {
                builder: builder.clone(),
                app: app.clone(),
                stopping: stopping.clone(),
                _open: open.clone(),
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                connection.serve(stream).await;
                metrics.http_connections.dec();
                drop(permit);
            });
        }
        drop(listener);
        drop(stop);
        drop(open);
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.closed())
            .await
            .is_err()
        {
            tracing::info!(
                open = metrics.http_connections.get(),
                "connections still open after the shutdown grace are dropped"
            );
        }
    }
}

/// One accepted connection and what it needs to run to its end.
struct Connection {
    builder: Arc<hyper::server::conn::http1::Builder>,
    app: Router,
    stopping: watch::Receiver<()>,
    /// Dropped when the connection ends; the server's stop waits for every one.
    _open: watch::Receiver<()>,
}

impl Connection {
    async fn serve(mut self, stream: TcpStream) {
        let service = TowerToHyperService::new(self.app.clone());
        let connection = self.builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut asked_to_stop = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::trace!(%error, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stopping.changed(), if !asked_to_stop => {
                    asked_to_stop = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Errors of `accept` that concern one connection are skipped; others (out of file
/// descriptors) are logged and retried after a pause, so the loop does not spin.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "accepting a connection failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Binds `address` with an accept backlog of `max_connections` (the kernel caps it at
/// `net.core.somaxconn`), so that a burst of connections up to the cap waits to be accepted
/// rather than having its handshakes dropped (tokio's default backlog is 1024).
pub fn listen(address: SocketAddr, max_connections: u32) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(max_connections.max(128))
}

/// Raises the soft limit of open files to the hard limit, so `server.max_connections` is not
/// cut short by a low default; returns the limit in force.
pub fn raise_open_file_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 0,
    }
}
