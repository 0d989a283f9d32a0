//! The HTTP/1.1 fast path: GET and HEAD requests parsed and answered without hyper.
//!
//! An idle SSE subscriber served by hyper holds hyper's h1 read buffer (grown to 16 KB by the
//! keep-alive read that follows the request) and its 8 KB write buffer, neither configurable
//! below 8 KB: most of the 26.8 KB an idle subscriber cost. Subscribing is a GET, so the accept
//! loop reads the request head itself into a small buffer, parses it with `httparse`, runs the
//! same router and handlers as hyper's path, and writes the response: the status line, the
//! handler's headers, `content-length` or `transfer-encoding: chunked`, `date`, then the body.
//! An SSE stream is written as chunks straight from the shared frame `Bytes` (one
//! `write_vectored` per batch of ready frames), and while it streams the socket is read into a
//! 64-byte stack buffer to notice the client leaving. Between requests nothing is buffered.
//!
//! Anything else (another method, a request body, `Upgrade`, `Expect`, HTTP/1.0, the HTTP/2
//! preface, too many headers, a head over the 1 MiB limit) is handed to hyper with the bytes
//! already read replayed in front ([`Rewind`]), so hyper serves it exactly as before.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::body::HubBody;
use crate::response::{Resp, error};
use crate::server::DeadlineIo;
use crate::subscribe::SseStream;
use crate::{AppState, router};

/// The largest request head, as configured for hyper (`max_buf_size`).
pub(crate) const MAX_HEAD: usize = 1 << 20;
/// The read buffer a request head starts in; doubled while the head is incomplete.
const INITIAL_BUF: usize = 1024;
/// As many headers as hyper accepts; more goes to hyper, which answers 431.
const MAX_HEADERS: usize = 100;
/// How long a request head may take to arrive, idle keep-alive time included (hyper's
/// `header_read_timeout`, which also starts when the connection waits for a request).
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The most SSE frames written in one `write_vectored` (3 slices each, under `IOV_MAX`).
const MAX_BATCH: usize = 64;
const CRLF: &[u8] = b"\r\n";
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Everything a connection task needs.
pub(crate) struct ConnCtx {
    pub state: Arc<AppState>,
    pub builder: Arc<auto::Builder<TokioExecutor>>,
    /// Keeps the graceful shutdown waiting until this connection is done.
    pub watcher: Watcher,
    /// Turns true when the hub shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// Serves one connection: GET/HEAD requests here, the rest of the connection by hyper as soon
/// as a request is not for the fast path.
pub(crate) async fn serve(mut io: DeadlineIo, mut ctx: ConnCtx) {
    let mut pending = Vec::new();
    loop {
        let head = read_head(&mut io, pending, &mut ctx.shutdown).await;
        let (req, rest) = match head {
            Head::Closed => return close(io).await,
            Head::Handoff(buf) => return Box::pin(handoff(io, buf, ctx)).await,
            Head::Bad(reason) => {
                tracing::info!(%reason, "malformed request rejected: 400 Bad Request");
                let mut resp = error(StatusCode::BAD_REQUEST, &format!("Bad Request: {reason}"));
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                let (parts, body) = resp.into_parts();
                let HubBody::Full(body) = body else { return };
                let len = body.as_ref().map_or(0, |b| b.len() as u64);
                let mut out = encode_head(parts.status, &parts.headers, Some(len), false);
                if let Some(b) = body {
                    out.extend_from_slice(&b);
                }
                let _ = io.write_all(&out).await;
                return close(io).await;
            }
            Head::Request(req, rest) => (req, rest),
        };
        pending = rest;
        let is_head = req.method == Method::HEAD;
        let mut keep_alive = !connection_has(&req.headers, "close");
        let resp = Box::pin(router::handle_parts(&ctx.state, *req, None)).await;
        keep_alive &= !*ctx.shutdown.borrow();
        match write_response(&mut io, resp, is_head, keep_alive, &mut pending).await {
            Ok(true) if keep_alive && !*ctx.shutdown.borrow() => {}
            Ok(_) => return close(io).await,
            Err(e) => {
                tracing::debug!(error = %e, "connection ended with an error");
                return;
            }
        }
    }
}

async fn close(mut io: DeadlineIo) {
    let _ = io.shutdown().await;
}

/// Hands the connection to hyper, replaying the bytes already read.
async fn handoff(io: DeadlineIo, buf: Vec<u8>, ctx: ConnCtx) {
    let io = TokioIo::new(Rewind::new(io, buf));
    let state = ctx.state;
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(router::handle(state, req).await) }
    });
    let conn = ctx
        .builder
        .serve_connection_with_upgrades(io, service)
        .into_owned();
    if let Err(e) = ctx.watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

enum Head {
    /// The client left, the head timed out, or the hub is shutting down.
    Closed,
    /// Not for the fast path: hyper serves the connection, starting with these bytes.
    Handoff(Vec<u8>),
    /// A GET or HEAD we cannot parse.
    Bad(String),
    /// A request, and the bytes that followed its head (a pipelined request).
    Request(Box<Parts>, Vec<u8>),
}

/// Reads one request head. `buf` holds the bytes already read (usually none: then nothing is
/// allocated until the socket is readable).
async fn read_head(
    io: &mut DeadlineIo,
    mut buf: Vec<u8>,
    shutdown: &mut watch::Receiver<bool>,
) -> Head {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    loop {
        if !buf.is_empty() {
            match inspect(&buf) {
                Inspect::Partial if buf.len() >= MAX_HEAD => return Head::Handoff(buf),
                Inspect::Partial => {}
                Inspect::Handoff => return Head::Handoff(buf),
                Inspect::Bad(reason) => return Head::Bad(reason),
                Inspect::Request(req, len) => {
                    let rest = if len < buf.len() {
                        buf.split_off(len)
                    } else {
                        Vec::new()
                    };
                    return Head::Request(req, rest);
                }
            }
        }
        if buf.capacity() == 0 {
            // Idle: wait for the request without holding a buffer.
            tokio::select! {
                r = io.readable() => if r.is_err() { return Head::Closed },
                () = tokio::time::sleep_until(deadline) => {
                    tracing::debug!("read header from client timeout");
                    return Head::Closed;
                }
                _ = shutdown.wait_for(|s| *s) => return Head::Closed,
            }
            buf = Vec::with_capacity(INITIAL_BUF);
        } else if buf.len() == buf.capacity() {
            buf.reserve_exact(
                buf.capacity()
                    .min(MAX_HEAD - buf.len().min(MAX_HEAD))
                    .max(64),
            );
        }
        tokio::select! {
            r = io.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => return Head::Closed,
                Ok(_) => {}
            },
            () = tokio::time::sleep_until(deadline) => {
                tracing::debug!("read header from client timeout");
                return Head::Closed;
            }
            _ = shutdown.wait_for(|s| *s) => return Head::Closed,
        }
    }
}

enum Inspect {
    Partial,
    Handoff,
    Bad(String),
    Request(Box<Parts>, usize),
}

/// Decides what the bytes read so far are.
fn inspect(buf: &[u8]) -> Inspect {
    // Anything that cannot become "GET " or "HEAD " (the HTTP/2 preface, POST, OPTIONS...)
    // goes to hyper at once, before a body arrives. httparse skips empty lines before the
    // request line, as hyper does.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = &buf[start..];
    let could_be = |m: &[u8]| {
        let n = line.len().min(m.len());
        line[..n] == m[..n]
    };
    if !could_be(b"GET ") && !could_be(b"HEAD ") {
        return Inspect::Handoff;
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Partial) => return Inspect::Partial,
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => return Inspect::Handoff,
        Err(e) => return Inspect::Bad(format!("malformed request head: {e}")),
    };
    match build(&parsed) {
        Ok(Some(req)) => Inspect::Request(Box::new(req), len),
        Ok(None) => Inspect::Handoff,
        Err(reason) => Inspect::Bad(reason),
    }
}

/// The request's parts, or `None` when hyper should serve it.
fn build(parsed: &httparse::Request<'_, '_>) -> Result<Option<Parts>, String> {
    let method = match parsed.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Ok(None),
    };
    if parsed.version != Some(1) {
        // HTTP/1.0 and its keep-alive rules stay hyper's.
        return Ok(None);
    }
    let path = parsed.path.unwrap_or("");
    let uri = Uri::try_from(path).map_err(|e| format!("invalid request target: {e}"))?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| format!("invalid header name {:?}", h.name))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| format!("invalid value for header {:?}", h.name))?;
        headers.append(name, value);
    }
    // A body, a protocol switch or an interim response: hyper's job.
    if headers.contains_key(header::TRANSFER_ENCODING)
        || headers.contains_key(header::UPGRADE)
        || headers.contains_key(header::EXPECT)
        || connection_has(&headers, "upgrade")
        || headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0")
    {
        return Ok(None);
    }
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Ok(Some(req.into_parts().0))
}

/// Whether a `Connection` header lists `token`.
fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Writes the response; `Ok(true)` when it ended cleanly and the connection may be reused.
/// Bytes the client sends while a stream is written are kept in `pending`.
async fn write_response(
    io: &mut DeadlineIo,
    resp: Resp,
    is_head: bool,
    keep_alive: bool,
    pending: &mut Vec<u8>,
) -> io::Result<bool> {
    let (mut parts, body) = resp.into_parts();
    if !keep_alive && !connection_has(&parts.headers, "close") {
        // As hyper does when keep-alive is off.
        parts
            .headers
            .append(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let no_body = is_head
        || matches!(
            parts.status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        );
    match body {
        HubBody::Full(body) => {
            let len = body.as_ref().map_or(0, |b| b.len() as u64);
            let head = encode_head(parts.status, &parts.headers, Some(len), is_head);
            drop(parts);
            match body {
                Some(b) if !no_body => {
                    let mut slices = [IoSlice::new(&head), IoSlice::new(&b)];
                    write_all_vectored(io, &mut slices).await?;
                }
                _ => io.write_all(&head).await?,
            }
            Ok(true)
        }
        HubBody::Sse(sse) if no_body => {
            drop(sse);
            let head = encode_head(parts.status, &parts.headers, Some(0), is_head);
            io.write_all(&head).await?;
            Ok(true)
        }
        HubBody::Sse(sse) => {
            let head = encode_head(parts.status, &parts.headers, None, is_head);
            drop(parts);
            stream(io, head, sse, pending).await
        }
    }
}

/// Streams an SSE body as chunks until it ends (`Ok(true)`) or the client leaves (`Ok(false)`).
async fn stream(
    io: &mut DeadlineIo,
    head: Vec<u8>,
    mut sse: Box<SseStream>,
    pending: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut head = Some(head);
    loop {
        let batch = poll_fn(|cx| poll_batch(io, &mut sse, pending, cx)).await;
        let Some((frames, ended)) = batch else {
            // The client closed the connection: dropping the stream unsubscribes.
            return Ok(false);
        };
        let mut sizes = Vec::with_capacity(frames.len() * 8);
        let mut bounds = Vec::with_capacity(frames.len());
        for f in &frames {
            let start = sizes.len();
            // Infallible: writing to a Vec.
            let _ = io::Write::write_fmt(&mut sizes, format_args!("{:X}\r\n", f.len()));
            bounds.push((start, sizes.len()));
        }
        let mut slices = Vec::with_capacity(frames.len() * 3 + 2);
        if let Some(h) = &head {
            slices.push(IoSlice::new(h));
        }
        for (f, (s, e)) in frames.iter().zip(&bounds) {
            slices.push(IoSlice::new(&sizes[*s..*e]));
            slices.push(IoSlice::new(f));
            slices.push(IoSlice::new(CRLF));
        }
        if ended {
            slices.push(IoSlice::new(LAST_CHUNK));
        }
        write_all_vectored(io, &mut slices).await?;
        head = None;
        if ended {
            return Ok(true);
        }
    }
}

/// The frames ready now (at least one, or the end of the stream), or `None` when the client
/// closed the connection.
fn poll_batch(
    io: &mut DeadlineIo,
    sse: &mut SseStream,
    pending: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> Poll<Option<(Vec<Bytes>, bool)>> {
    loop {
        let mut tmp = [0u8; 64];
        let mut rb = ReadBuf::new(&mut tmp);
        match Pin::new(&mut *io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) if rb.filled().is_empty() => return Poll::Ready(None),
            Poll::Ready(Ok(())) => {
                // A pipelined request: kept for after the stream, within the head limit.
                if pending.len() + rb.filled().len() > MAX_HEAD {
                    return Poll::Ready(None);
                }
                pending.extend_from_slice(rb.filled());
            }
            Poll::Ready(Err(_)) => return Poll::Ready(None),
            Poll::Pending => break,
        }
    }
    let mut frames = Vec::new();
    let mut ended = false;
    while frames.len() < MAX_BATCH {
        match sse.poll_chunk(cx) {
            Poll::Ready(Some(b)) => frames.push(b),
            Poll::Ready(None) => {
                ended = true;
                break;
            }
            Poll::Pending => break,
        }
    }
    if frames.is_empty() && !ended {
        return Poll::Pending;
    }
    Poll::Ready(Some((frames, ended)))
}

async fn write_all_vectored(io: &mut DeadlineIo, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        let n = io.write_vectored(slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// The response head as hyper writes it: status line, the handler's headers in order, the
/// length (`None`: chunked), `date`.
fn encode_head(
    status: StatusCode,
    headers: &HeaderMap,
    len: Option<u64>,
    is_head: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        64 + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>(),
    );
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(CRLF);
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(CRLF);
    }
    let bodyless_status = matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    match len {
        None if !bodyless_status => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        None => {}
        Some(0) if is_head || bodyless_status => {}
        Some(n) if !bodyless_status => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(CRLF);
        }
        Some(_) => {}
    }
    out.extend_from_slice(b"date: ");
    date(&mut out);
    out.extend_from_slice(b"\r\n\r\n");
    out
}

/// Appends the current HTTP date, formatted once per second per thread.
fn date(out: &mut Vec<u8>) {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            *c = (secs, httpdate::fmt_http_date(now));
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

/// An I/O object that yields `prefix` before reading from `inner`: hands hyper a connection
/// whose first bytes were already read.
pub(crate) struct Rewind<T> {
    prefix: Option<Bytes>,
    inner: T,
}

impl<T> Rewind<T> {
    pub(crate) fn new(inner: T, prefix: Vec<u8>) -> Rewind<T> {
        Rewind {
            prefix: (!prefix.is_empty()).then(|| Bytes::from(prefix)),
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.as_mut() {
            let n = prefix.len().min(buf.remaining());
            buf.put_slice(&prefix.split_to(n));
            if prefix.is_empty() {
                this.prefix = None;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(buf: &[u8]) -> &'static str {
        match inspect(buf) {
            Inspect::Partial => "partial",
            Inspect::Handoff => "handoff",
            Inspect::Bad(_) => "bad",
            Inspect::Request(..) => "request",
        }
    }

    #[test]
    fn only_plain_get_and_head_stay_on_the_fast_path() {
        assert_eq!(
            kind(b"GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n\r\n"),
            "request"
        );
        assert_eq!(
            kind(b"\r\nHEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            "request"
        );
        assert_eq!(kind(b"GE"), "partial");
        assert_eq!(kind(b"GET / HTTP/1.1\r\nHost: x\r\n"), "partial");
        assert_eq!(kind(b"P"), "handoff");
        assert_eq!(kind(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "handoff");
        assert_eq!(kind(b"GETX / HTTP/1.1\r\n\r\n"), "handoff");
        assert_eq!(kind(b"GET / HTTP/1.0\r\n\r\n"), "handoff");
        for h in [
            "Content-Length: 3",
            "Transfer-Encoding: chunked",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Expect: 100-continue",
        ] {
            assert_eq!(
                kind(format!("GET / HTTP/1.1\r\n{h}\r\n\r\n").as_bytes()),
                "handoff",
                "{h}"
            );
        }
        assert_eq!(kind(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), "bad");
        assert_eq!(kind(b"GET /a b HTTP/1.1\r\n\r\n"), "bad");
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: y\r\n")).collect();
        assert_eq!(
            kind(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            "handoff"
        );
    }

    #[test]
    fn parts_carry_method_uri_and_headers() {
        let Inspect::Request(req, len) =
            inspect(b"HEAD /x?y=1 HTTP/1.1\r\nLast-Event-ID: e\r\nConnection: close\r\n\r\nGET")
        else {
            panic!("not a request");
        };
        assert_eq!(len, 61);
        assert_eq!(req.method, Method::HEAD);
        assert_eq!(req.uri.path(), "/x");
        assert_eq!(req.uri.query(), Some("y=1"));
        assert_eq!(req.version, Version::HTTP_11);
        assert_eq!(req.headers["last-event-id"], "e");
        assert!(connection_has(&req.headers, "close"));
    }

    fn head_text(status: StatusCode, len: Option<u64>, is_head: bool) -> String {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let out = String::from_utf8(encode_head(status, &h, len, is_head)).unwrap_or_default();
        let (before, date) = out.split_once("date: ").unwrap_or_default();
        assert!(date.ends_with(" GMT\r\n\r\n"), "{date:?}");
        before.to_string()
    }

    #[test]
    fn heads_are_written_as_hyper_writes_them() {
        assert_eq!(
            head_text(StatusCode::OK, Some(5), false),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
        );
        assert_eq!(
            head_text(StatusCode::OK, Some(5), true),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
        );
        assert_eq!(
            head_text(StatusCode::OK, Some(0), true),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
        );
        assert_eq!(
            head_text(StatusCode::OK, Some(0), false),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n"
        );
        assert_eq!(
            head_text(StatusCode::NOT_MODIFIED, Some(0), false),
            "HTTP/1.1 304 Not Modified\r\ncontent-type: text/plain\r\n"
        );
        assert_eq!(
            head_text(StatusCode::OK, None, false),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n"
        );
    }

    #[tokio::test]
    async fn rewind_replays_the_prefix_first() {
        let mut r = Rewind::new(&b" world"[..], b"hello".to_vec());
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap_or_default();
        assert_eq!(s, "hello world");
    }
}
