//! The accept loop: GET and HEAD over HTTP/1.1 served by our own fast path (`crate::h1`), every
//! other request by hyper (HTTP/1.1 and h2c on one port), a per-write deadline, and a bounded
//! graceful shutdown.
//!
//! Owning the loop instead of a framework's `serve` is what lets us keep hyper's 24 KB of h1
//! buffers off idle SSE connections and enforce `dispatch_timeout` on writes.

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
use quicksilver_hub::{Hub, Protocol};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::authorize::OriginPolicy;
use crate::cors::Cors;
use crate::draft08::Edge;
use crate::metrics::Metrics;
use crate::{AppState, HttpOptions, h1, router};

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
    let draft08 = (opts.protocol == Protocol::Draft08).then(|| Edge::new(&opts));
    let state = Arc::new(AppState {
        origins: OriginPolicy::new(&opts.publish_origins),
        cors: (!opts.cors_origins.is_empty()).then(|| match opts.protocol {
            Protocol::Draft07 => Cors::new(&opts.cors_origins),
            Protocol::Draft08 => Cors::draft08(&opts.cors_origins),
        }),
        draft08,
        hub: hub.clone(),
        metrics,
        opts,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(h1::HEAD_TIMEOUT)
        // The largest request head accepted, like Go's 1 MB `DefaultMaxHeaderBytes`:
        // subscribing to hundreds of topics makes long query strings. The fast path applies
        // the same limit, and hands longer heads to hyper, which answers 431.
        .max_buf_size(h1::MAX_HEAD)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(1000);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    // GET and HEAD over HTTP/1.1 are served without hyper's buffers (`crate::h1`);
    // `QUICKSILVER_H1_FAST_PATH=0` hands every connection to hyper, for A/B measurements.
    let fast_path = std::env::var("QUICKSILVER_H1_FAST_PATH").map_or(true, |v| v != "0");
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

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
                let io = DeadlineIo::new(stream, state.opts.dispatch_timeout);
                if fast_path {
                    let ctx = h1::ConnCtx {
                        state: state.clone(),
                        builder: builder.clone(),
                        watcher: graceful.watcher(),
                        shutdown: shutdown_rx.clone(),
                    };
                    tokio::spawn(h1::serve(io, ctx));
                    continue;
                }
                let io = TokioIo::new(io);
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
    // Fast-path connections close when idle and after their response; each holds a graceful
    // watcher, so `graceful.shutdown()` waits for them too.
    let _ = shutdown_tx.send(true);
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
pub(crate) struct DeadlineIo {
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

    /// Waits until the socket has something to read, without a buffer.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.inner.readable().await
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
