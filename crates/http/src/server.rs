//! The accept loop: our own hyper connection handling (HTTP/1.1 and h2c on one port), small
//! read buffers, a per-write deadline, and a bounded graceful shutdown.
//!
//! Driving hyper directly instead of a framework's `serve` is what lets us cap the per-connection
//! buffer (most of an idle SSE connection's memory) and enforce `dispatch_timeout` on writes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use quicksilver_hub::Hub;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::authorize::OriginPolicy;
use crate::cors::Cors;
use crate::metrics::Metrics;
use crate::{AppState, HttpOptions, router};

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no listener to serve on")]
    NoListener,
}

/// Serves the hub on `listeners` until `shutdown` completes, then stops accepting, ends every
/// stream cleanly (EventSource clients reconnect elsewhere), lets in-flight requests finish, and
/// returns within `opts.shutdown_timeout`.
pub async fn serve(
    listeners: Vec<TcpListener>,
    hub: Arc<Hub>,
    opts: HttpOptions,
    metrics: Metrics,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    if listeners.is_empty() {
        return Err(ServeError::NoListener);
    }
    let state = Arc::new(AppState {
        origins: OriginPolicy::new(&opts.publish_origins),
        cors: (!opts.cors_origins.is_empty()).then(|| Cors::new(&opts.cors_origins)),
        hub: hub.clone(),
        metrics,
        opts,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        // The largest request head accepted, like Go's 1 MB `DefaultMaxHeaderBytes`:
        // subscribing to hundreds of topics makes long query strings. Idle connections keep
        // hyper's 8 KB initial read buffer; only a connection that sends a long head grows it.
        .max_buf_size(1 << 20)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();

    let (conn_tx, mut conn_rx) = tokio::sync::mpsc::channel::<TcpStream>(64);
    let mut acceptors = Vec::new();
    for listener in listeners {
        let tx = conn_tx.clone();
        acceptors.push(tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        if tx.send(stream).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: keep serving the connections we
                        // have and try again shortly instead of exiting.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    drop(conn_tx);

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            conn = conn_rx.recv() => {
                let Some(stream) = conn else { break };
                let _ = stream.set_nodelay(true);
                let io = TokioIo::new(DeadlineIo::new(stream, state.opts.dispatch_timeout));
                let state = state.clone();
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(router::handle(state, req).await) }
                });
                let conn = builder.serve_connection_with_upgrades(io, service).into_owned();
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }

    tracing::info!("shutting down: no longer accepting connections, closing streams");
    for a in acceptors {
        a.abort();
    }
    hub.close_streams();
    let timeout = state.opts.shutdown_timeout;
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(timeout) => tracing::warn!(?timeout, "shutdown timeout reached, dropping remaining connections"),
    }
    Ok(())
}

/// A TCP stream whose writes fail when they make no progress for `timeout`: a client that stops
/// reading cannot hold a connection (and its queue) forever.
struct DeadlineIo {
    inner: TcpStream,
    timeout: Option<Duration>,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl DeadlineIo {
    fn new(inner: TcpStream, timeout: Option<Duration>) -> DeadlineIo {
        DeadlineIo {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Called when a write is pending: arms the deadline once, fails when it passes.
    fn check_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(timeout) = self.timeout else {
            return Poll::Pending;
        };
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "write made no progress within dispatch_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.check_stall(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.check_stall(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
