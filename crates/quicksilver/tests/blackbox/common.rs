//! The black-box test harness: starts the real `quicksilver` binary on a free loopback port with
//! the given environment, and talks plain HTTP to it (reqwest for requests, a raw byte reader
//! for SSE streams so tests can assert exact bytes).

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;

/// The secret of the reference hub's examples and conformance suite.
pub const SECRET: &str = "!ChangeThisMercureHubJWTSecretKey!";

/// A running hub process, killed when dropped.
pub struct Hub {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
    workdir: WorkDir,
}

/// A fresh working directory per hub process, removed with it: the default transport keeps its
/// history in `./quicksilver.db`, which tests must never share.
struct WorkDir(std::path::PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("quicksilver-blackbox-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("hub working directory");
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builder for a hub process.
pub struct HubBuilder {
    env: HashMap<String, String>,
    args: Vec<String>,
    port: Option<u16>,
}

/// A port for a hub, chosen below the kernel's ephemeral range (32768-60999 here): a port the
/// kernel handed out is also used as the local end of the suite's many client connections, and
/// a hub binding every interface (`SERVER_NAME=:PORT`) would collide with those. The port must
/// be free on every interface when chosen.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..2000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(7919)) % 12_000) as u16;
        if TcpListener::bind(("0.0.0.0", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port in 20000-31999")
}

impl HubBuilder {
    /// Publisher and subscriber keys set to [`SECRET`], nothing else.
    pub fn new() -> HubBuilder {
        let mut env = HashMap::new();
        env.insert("MERCURE_PUBLISHER_JWT_KEY".into(), SECRET.into());
        env.insert("MERCURE_SUBSCRIBER_JWT_KEY".into(), SECRET.into());
        HubBuilder {
            env,
            args: vec!["run".into()],
            port: None,
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn unset(mut self, k: &str) -> Self {
        self.env.remove(k);
        self
    }

    /// Sets `MERCURE_EXTRA_DIRECTIVES`.
    pub fn directives(self, d: &str) -> Self {
        self.env("MERCURE_EXTRA_DIRECTIVES", d)
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn port(mut self, p: u16) -> Self {
        self.port = Some(p);
        self
    }

    /// Starts the process and waits until it answers.
    pub fn start(self) -> Hub {
        match self.try_start() {
            Ok(h) => h,
            Err(e) => panic!("hub did not start: {e}"),
        }
    }

    /// Starts the process; Err(stderr) if it exits or does not answer within 20 s.
    pub fn try_start(self) -> Result<Hub, String> {
        let port = self.port.unwrap_or_else(free_port);
        let workdir = WorkDir::new();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
        cmd.current_dir(&workdir.0);
        cmd.args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SERVER_NAME", format!("127.0.0.1:{port}"))
            .env("QUICKSILVER_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if std::env::var_os("QS_TEST_LOGS").is_some() {
                        eprintln!("[hub] {line}");
                    }
                    if let Ok(mut l) = logs.lock() {
                        l.push(line);
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let text = logs.lock().map(|l| l.join("\n")).unwrap_or_default();
                return Err(format!("exited with {status}: {text}"));
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Hub {
            child: Some(child),
            port,
            base: format!("http://127.0.0.1:{port}"),
            logs,
            workdir,
        })
    }
}

impl Hub {
    /// A hub with the two keys and the given extra directives.
    pub fn with_directives(d: &str) -> Hub {
        HubBuilder::new().directives(d).start()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn hub_url(&self) -> String {
        self.url("/.well-known/mercure")
    }

    /// Everything the hub logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Waits until the logs contain `needle`.
    pub async fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The process's working directory (where the default `quicksilver.db` goes).
    pub fn workdir(&self) -> &std::path::Path {
        &self.workdir.0
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the exit status (at most `within`).
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        unsafe_kill(child.id(), "TERM");
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn unsafe_kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A draft-07 token signed with [`SECRET`].
pub fn token(publish: Option<&[&str]>, subscribe: Option<&[&str]>) -> String {
    token_with(publish, subscribe, None, None)
}

pub fn token_with(
    publish: Option<&[&str]>,
    subscribe: Option<&[&str]>,
    payload: Option<serde_json::Value>,
    ttl: Option<Duration>,
) -> String {
    let opts = quicksilver_auth::MintOptions {
        key: SECRET.into(),
        alg: "HS256".into(),
        publish: publish.map(|p| p.iter().map(|s| s.to_string()).collect()),
        subscribe: subscribe.map(|p| p.iter().map(|s| s.to_string()).collect()),
        payload,
        ttl,
        kid: None,
        extra_claims: Default::default(),
    };
    quicksilver_auth::mint(&opts).expect("mint")
}

/// Publisher token for every topic.
pub fn publisher() -> String {
    token(Some(&["*"]), None)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Publishes a form; returns (status, body).
pub async fn publish(hub: &Hub, token: &str, form: &[(&str, &str)]) -> (u16, String) {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = client()
        .post(hub.hub_url())
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("publish request");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// Percent-encodes a form component.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds `?topic=..&topic=..` from selectors.
pub fn topics_query(topics: &[&str]) -> String {
    topics
        .iter()
        .map(|t| format!("topic={}", enc(t)))
        .collect::<Vec<_>>()
        .join("&")
}

/// An open SSE response, read as raw bytes.
pub struct Sse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    pub buf: Vec<u8>,
    pub ended: bool,
    /// Set when the stream ended with an error (a reset or a truncated chunked body) rather
    /// than a clean end.
    pub error: Option<String>,
}

impl Sse {
    /// Opens `GET hub?query` with optional headers.
    pub async fn open(hub: &Hub, query: &str, headers: &[(&str, &str)]) -> Sse {
        let mut req = client().get(format!("{}?{}", hub.hub_url(), query));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("subscribe request");
        Sse::from_response(r)
    }

    /// Wraps a response obtained any other way (another client, HTTP/2...).
    pub fn from_response(r: reqwest::Response) -> Sse {
        Sse {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            stream: r.bytes_stream().boxed(),
            buf: Vec::new(),
            ended: false,
            error: None,
        }
    }

    /// Subscribes to topics, with a bearer token if given, and waits for the initial comment.
    pub async fn subscribe(hub: &Hub, topics: &[&str], token: Option<&str>) -> Sse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = Vec::new();
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let mut s = Sse::open(hub, &topics_query(topics), &headers).await;
        assert_eq!(s.status, 200, "subscribe failed: {}", s.text());
        assert!(
            s.read_until(":\n", Duration::from_secs(5)).await,
            "no initial comment"
        );
        s.buf.drain(..2);
        s
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }

    /// Reads until the buffer contains `needle` or `timeout` passes; true if found.
    pub async fn read_until(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.text().contains(needle) {
                return true;
            }
            if self.ended {
                return false;
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(b))) => self.buf.extend_from_slice(&b),
                Ok(Some(Err(e))) => {
                    self.error = Some(format!("{e:?}"));
                    self.ended = true
                }
                Ok(None) => self.ended = true,
                Err(_) => return false,
            }
        }
    }

    /// Reads whatever arrives within `d`.
    pub async fn drain_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(b))) => self.buf.extend_from_slice(&b),
                Ok(Some(Err(e))) => {
                    self.error = Some(format!("{e:?}"));
                    self.ended = true
                }
                Ok(None) => self.ended = true,
                Err(_) => return,
            }
        }
    }

    /// Waits for the stream to end (true) within `timeout`.
    pub async fn wait_end(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(Some(Ok(b))) => self.buf.extend_from_slice(&b),
                Ok(Some(Err(e))) => {
                    self.error = Some(format!("{e:?}"));
                    self.ended = true
                }
                Ok(None) => self.ended = true,
                Err(_) => return false,
            }
        }
        true
    }

    /// The complete events received so far (blocks separated by a blank line), comments
    /// excluded; each event as its raw text.
    pub fn events(&self) -> Vec<String> {
        self.text()
            .split("\n\n")
            .filter(|b| !b.is_empty())
            .map(|b| {
                b.lines()
                    .filter(|l| !l.starts_with(':'))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .filter(|b| !b.is_empty())
            .collect()
    }
}

/// Runs the binary to completion (no server): `(exit code, stdout, stderr)`. The environment
/// is only PATH plus `env`.
pub fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run quicksilver");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Decodes unpadded base64url (JWT segments).
pub fn base64url_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {s:?}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The decoded claims (middle part) of a JWT.
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&base64url_decode(part)).expect("claims are JSON")
}

impl Hub {
    /// Sends `sig` (e.g. "INT", "TERM") and waits for the exit status (at most `within`).
    pub fn stop_with(&mut self, sig: &str, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        unsafe_kill(child.id(), sig);
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` without waiting; pair with [`Hub::wait_exit`].
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            unsafe_kill(c.id(), sig);
        }
    }

    /// Waits (without blocking the runtime) for the process to exit within `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(s)) = child.try_wait() {
                self.child = None;
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET path` with headers; returns the response.
    pub async fn http_get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = client().get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("GET request")
    }

    /// The value of a series in `/metrics` (the first sample whose line starts with `name`
    /// followed by a space or `{`).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self.http_get("/metrics", &[]).await.text().await.ok()?;
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

/// A header as a string ("" when absent).
pub fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Helpers added for the publish / subscribe / authorization / history tests.

/// A complete (non-streaming) response.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// A response header as a string ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// An `application/x-www-form-urlencoded` body.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Sends `method` to the hub URL (+ `?query` when not empty) with exactly the given headers and
/// body, and reads the whole response. Not for successful subscriptions (their body never ends).
pub async fn request(
    hub: &Hub,
    method: reqwest::Method,
    query: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    let url = if query.is_empty() {
        hub.hub_url()
    } else {
        format!("{}?{}", hub.hub_url(), query)
    };
    let mut req = client().request(method, url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request to the hub");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

/// POSTs a raw body with exactly the given headers.
pub async fn post_raw(
    hub: &Hub,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Reply {
    request(hub, reqwest::Method::POST, "", headers, body).await
}

/// Publishes a form with the given extra headers (and the form Content-Type), no implicit token.
pub async fn publish_with(hub: &Hub, headers: &[(&str, &str)], fields: &[(&str, &str)]) -> Reply {
    let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
    all.extend_from_slice(headers);
    post_raw(hub, &all, form_body(fields)).await
}

/// A token signed with [`SECRET`] carrying arbitrary claims (no `mercure` claim added unless
/// given in `claims`).
pub fn token_claims(claims: serde_json::Value) -> String {
    let extra_claims = match claims {
        serde_json::Value::Object(m) => m,
        _ => panic!("claims must be a JSON object"),
    };
    let opts = quicksilver_auth::MintOptions {
        key: SECRET.into(),
        alg: "HS256".into(),
        extra_claims,
        ..Default::default()
    };
    quicksilver_auth::mint(&opts).expect("mint")
}

impl Sse {
    /// The events completely received so far (a trailing partial event is left out), raw,
    /// comments excluded.
    pub fn complete_events(&self) -> Vec<String> {
        let text = self.text();
        let end = text.rfind("\n\n").map(|i| i + 2).unwrap_or(0);
        text[..end]
            .split("\n\n")
            .map(|b| {
                b.lines()
                    .filter(|l| !l.starts_with(':'))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .filter(|b| !b.is_empty())
            .collect()
    }

    /// The `id:` of every complete event received so far, in order.
    pub fn ids(&self) -> Vec<String> {
        self.complete_events()
            .iter()
            .filter_map(|e| {
                e.lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .map(str::to_string)
            })
            .collect()
    }

    /// A response header as a string ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Asserts the exact headers of a subscription response over HTTP/1.1 (both protocols send the
/// same ones, each exactly once), security headers included.
pub fn assert_sse_headers(headers: &reqwest::header::HeaderMap) {
    for (name, value) in [
        ("content-type", "text/event-stream"),
        (
            "cache-control",
            "private, no-cache, no-store, must-revalidate, max-age=0",
        ),
        ("pragma", "no-cache"),
        ("expire", "0"),
        ("x-accel-buffering", "no"),
        ("connection", "keep-alive"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("x-xss-protection", "1; mode=block"),
        ("content-security-policy", "default-src 'self'"),
    ] {
        assert_eq!(
            headers.get_all(name).iter().collect::<Vec<_>>(),
            vec![value],
            "header {name}"
        );
    }
}

/// Unpadded base64url, for tokens built by hand.
pub fn b64(bytes: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}
