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
}

/// Builder for a hub process.
pub struct HubBuilder {
    env: HashMap<String, String>,
    args: Vec<String>,
    port: Option<u16>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
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
}

impl Sse {
    /// Opens `GET hub?query` with optional headers.
    pub async fn open(hub: &Hub, query: &str, headers: &[(&str, &str)]) -> Sse {
        let mut req = client().get(format!("{}?{}", hub.hub_url(), query));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.expect("subscribe request");
        Sse {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            stream: r.bytes_stream().boxed(),
            buf: Vec::new(),
            ended: false,
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
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
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
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
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
                Ok(Some(Err(_))) | Ok(None) => self.ended = true,
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
