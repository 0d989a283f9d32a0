//! A minimal HTTP/1.1 client: exactly what a benchmark client needs and nothing it pays for.
//!
//! Requests are written whole; responses are parsed with `httparse` (head) and a small
//! chunked-transfer decoder (body). Everything read from the network is treated as untrusted:
//! malformed input is an error, never a panic.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What went wrong talking HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("connection closed before the response was complete")]
    Closed,
    #[error("malformed response head: {0}")]
    Head(String),
    #[error("malformed chunked body: {0}")]
    Chunked(&'static str),
    #[error("timed out")]
    Timeout,
}

/// Opens a connection from `source` (port chosen by the kernel) with Nagle off: both the
/// publisher's requests and the server's frames are small and latency is what is measured.
pub async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Chunked,
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The server said `Connection: close`.
    pub close: bool,
}

/// Builds a request with the given extra header lines (each without CRLF).
pub fn request(method: &str, path: &str, host: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    out.extend_from_slice(format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n").as_bytes());
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if method == "POST" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Reads from `stream` into `buf` until a full response head is there; returns the head and
/// the number of bytes of `buf` it took (the rest is body).
pub async fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<(Head, usize), HttpError> {
    loop {
        if let Some(parsed) = parse_head(buf)? {
            return Ok(parsed);
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::Head("head larger than 64 KiB".into()));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HttpError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses a response head at the start of `buf`, if complete.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Head(e.to_string())),
    };
    let status = resp
        .code
        .ok_or_else(|| HttpError::Head("no status code".into()))?;
    let mut framing = Framing::Close;
    let mut close = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if contains_token(h.value, b"chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if framing != Framing::Chunked {
                let v = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| HttpError::Head("bad Content-Length".into()))?;
                framing = Framing::Length(v);
            }
        } else if h.name.eq_ignore_ascii_case("connection") && contains_token(h.value, b"close") {
            close = true;
        }
    }
    // Responses that cannot have a body.
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok(Some((
        Head {
            status,
            framing,
            close,
        },
        len,
    )))
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Incremental decoder of `Transfer-Encoding: chunked`.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size: u64,
    /// Bytes of the size line seen so far (sizes over 15 hex digits are refused).
    digits: u8,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// A chunk extension: skip to the end of the line.
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// After the last chunk: trailers are skipped, the body is over.
    Done,
}

impl ChunkedDecoder {
    /// Feeds `input`, passing each piece of body data to `out`. Returns `true` once the last
    /// chunk has been seen.
    pub fn decode(
        &mut self,
        mut input: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<bool, HttpError> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Size => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                            if self.digits >= 15 {
                                return Err(HttpError::Chunked("chunk size too large"));
                            }
                            let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                            self.size = self.size * 16 + d;
                            self.digits += 1;
                        }
                        b';' | b' ' | b'\t' => self.state = ChunkState::Extension,
                        b'\r' => self.state = ChunkState::SizeLf,
                        b'\n' => self.end_size_line()?,
                        _ => return Err(HttpError::Chunked("bad chunk size")),
                    }
                }
                ChunkState::Extension => match input.iter().position(|b| *b == b'\n') {
                    Some(p) => {
                        input = &input[p + 1..];
                        self.end_size_line()?;
                    }
                    None => input = &[],
                },
                ChunkState::SizeLf => {
                    if input[0] != b'\n' {
                        return Err(HttpError::Chunked("expected LF after chunk size"));
                    }
                    input = &input[1..];
                    self.end_size_line()?;
                }
                ChunkState::Data => {
                    let n = (self.size.min(input.len() as u64)) as usize;
                    out(&input[..n]);
                    input = &input[n..];
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                ChunkState::DataCr => {
                    let b = input[0];
                    input = &input[1..];
                    match b {
                        b'\r' => self.state = ChunkState::DataLf,
                        b'\n' => self.state = ChunkState::Size,
                        _ => return Err(HttpError::Chunked("expected CRLF after chunk data")),
                    }
                }
                ChunkState::DataLf => {
                    if input[0] != b'\n' {
                        return Err(HttpError::Chunked("expected LF after chunk data"));
                    }
                    input = &input[1..];
                    self.state = ChunkState::Size;
                }
                ChunkState::Done => return Ok(true),
            }
        }
        Ok(self.state == ChunkState::Done)
    }

    fn end_size_line(&mut self) -> Result<(), HttpError> {
        if self.digits == 0 {
            return Err(HttpError::Chunked("empty chunk size"));
        }
        self.digits = 0;
        self.state = if self.size == 0 {
            ChunkState::Done
        } else {
            ChunkState::Data
        };
        Ok(())
    }
}

/// A keep-alive connection for request/response exchanges (the publishers).
pub struct Client {
    addr: SocketAddr,
    source: Option<IpAddr>,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Client {
    pub fn new(addr: SocketAddr, source: Option<IpAddr>, timeout: Duration) -> Client {
        Client {
            addr,
            source,
            stream: None,
            buf: Vec::with_capacity(4096),
            timeout,
        }
    }

    /// Sends one request and reads the whole response; returns the status. On any error the
    /// connection is dropped and the next call reconnects.
    pub async fn send(&mut self, req: &[u8]) -> Result<u16, HttpError> {
        match tokio::time::timeout(self.timeout, self.exchange(req)).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err(HttpError::Timeout)
            }
        }
    }

    async fn exchange(&mut self, req: &[u8]) -> Result<u16, HttpError> {
        if self.stream.is_none() {
            self.stream = Some(connect(self.addr, self.source).await?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(HttpError::Closed);
        };
        stream.write_all(req).await?;
        self.buf.clear();
        let (head, used) = read_head(stream, &mut self.buf).await?;
        self.buf.drain(..used);
        let mut keep = !head.close;
        match head.framing {
            Framing::Length(mut n) => {
                let have = (self.buf.len() as u64).min(n);
                n -= have;
                let mut chunk = [0u8; 4096];
                while n > 0 {
                    let r = stream.read(&mut chunk).await?;
                    if r == 0 {
                        return Err(HttpError::Closed);
                    }
                    n = n.saturating_sub(r as u64);
                }
            }
            Framing::Chunked => {
                let mut dec = ChunkedDecoder::default();
                let mut done = dec.decode(&self.buf, &mut |_| {})?;
                let mut chunk = [0u8; 4096];
                while !done {
                    let r = stream.read(&mut chunk).await?;
                    if r == 0 {
                        return Err(HttpError::Closed);
                    }
                    done = dec.decode(&chunk[..r], &mut |_| {})?;
                }
            }
            Framing::Close => {
                let mut sink = Vec::new();
                stream.read_to_end(&mut sink).await?;
                keep = false;
            }
        }
        if !keep {
            self.stream = None;
        }
        Ok(head.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_across_splits() {
        let wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut dec = ChunkedDecoder::default();
            let mut body = Vec::new();
            let mut done = dec
                .decode(&wire[..split], &mut |d| body.extend_from_slice(d))
                .unwrap();
            done |= dec
                .decode(&wire[split..], &mut |d| body.extend_from_slice(d))
                .unwrap();
            assert!(done, "split at {split}");
            assert_eq!(body, b"hello world");
        }
    }

    #[test]
    fn chunked_rejects_garbage() {
        let mut dec = ChunkedDecoder::default();
        assert!(dec.decode(b"zz\r\n", &mut |_| {}).is_err());
    }

    #[test]
    fn head_framing() {
        let (h, n) = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing, n), (200, Framing::Chunked, 47));
        let (h, _) =
            parse_head(b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(h.framing, Framing::Length(12));
        assert!(h.close);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
    }
}
