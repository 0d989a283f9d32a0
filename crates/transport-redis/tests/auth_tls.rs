//! Authentication and TLS through the real transport, each against a redis-server of our own
//! (private port, temporary directory, stopped by PID even when a test panics):
//!
//! - ACL: with `username` + `password` a hub publishes and another hub's subscriber receives;
//!   a wrong password fails at start with an error naming authentication.
//! - TLS: with a throwaway CA and server certificate made by `openssl`, a `rediss://` transport
//!   trusting that CA (`tls_ca`) publishes and receives; without `tls_ca` (system roots) the
//!   certificate is refused, and a plaintext client to the TLS port fails.
//!
//! Ports default to 16451 (ACL) and 16452 (TLS); `QS_AUTH_PORT` / `QS_TLS_PORT` override them.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quicksilver_hub::transport_options::OptionList;
use quicksilver_hub::{Hub, HubOptions, SubscribeRequest, Subscription, UpdateData};
use quicksilver_transport_redis::{RedisTransport, options::from_options};

const TOPIC: &str = "https://example.com/auth-tls";

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

fn open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A redis-server we start and stop by PID (killed on drop, so also when a test panics).
struct Server {
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts redis-server with `args`, and waits until `port` accepts connections.
    fn start(port: u16, dir: tempfile::TempDir, args: &[&str]) -> Server {
        assert!(
            !open(port),
            "something already listens on 127.0.0.1:{port}; stop it (this test starts its own redis-server there)"
        );
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with ./scripts/brokers")
            });
        let mut server = Server {
            child: Some(child),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !open(port) {
            if let Some(c) = server.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("redis-server {args:?} exited at start ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}"))
}

fn update(data: &str) -> UpdateData {
    UpdateData {
        id: String::new(),
        topics: vec![TOPIC.into()],
        data: data.into(),
        private: false,
        event_type: None,
        retry: None,
    }
}

fn subscribe_req() -> SubscribeRequest {
    SubscribeRequest {
        topics: vec![TOPIC.into()],
        private_topics: None,
        payload: None,
        last_event_id: None,
        ..Default::default()
    }
}

async fn next(s: &mut Subscription) -> String {
    match tokio::time::timeout(Duration::from_secs(10), s.next_update()).await {
        Ok(Some(u)) => u.data().data.clone(),
        _ => panic!("no update received"),
    }
}

/// A hub over a Redis transport built from `transport redis` options, as a user writes them.
async fn hub(opts: &[(&str, &[&str])]) -> Result<Arc<Hub>, String> {
    let options = from_options(OptionList::new(opts).at("test", 0)).map_err(|e| e.to_string())?;
    let t = Arc::new(RedisTransport::new(options).map_err(|e| e.to_string())?);
    match tokio::time::timeout(
        Duration::from_secs(20),
        Hub::start(t, HubOptions::default()),
    )
    .await
    {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("Hub::start did not return within 20s".into()),
    }
}

/// Publishes on one hub and checks a subscriber of another hub (same server) receives it.
async fn round_trip(opts: &[(&str, &[&str])], what: &str) {
    let a = hub(opts)
        .await
        .unwrap_or_else(|e| panic!("{what}: publisher hub start: {e}"));
    let b = hub(opts)
        .await
        .unwrap_or_else(|e| panic!("{what}: subscriber hub start: {e}"));
    let mut sub = b
        .subscribe(subscribe_req())
        .await
        .unwrap_or_else(|e| panic!("{what}: subscribe: {e}"));
    for i in 0..3 {
        a.publish(update(&format!("{what}{i}")))
            .await
            .unwrap_or_else(|e| panic!("{what}: publish: {e}"));
    }
    for i in 0..3 {
        assert_eq!(next(&mut sub).await, format!("{what}{i}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_and_password() {
    let port = port("QS_AUTH_PORT", 16451);
    let p = port.to_string();
    let _server = Server::start(
        port,
        tempdir(),
        &[
            "--port", &p, "--user", "default", "off", "--user", "alice", "on", ">s3cret", "~*",
            "&*", "+@all",
        ],
    );
    let url = format!("redis://127.0.0.1:{port}");
    let stream: &[&str] = &["auth"];

    round_trip(
        &[
            ("url", &[&url]),
            ("stream", stream),
            ("username", &["alice"]),
            ("password", &["s3cret"]),
        ],
        "acl",
    )
    .await;
    // The credentials in the URL work the same.
    let in_url = format!("redis://alice:s3cret@127.0.0.1:{port}");
    round_trip(&[("url", &[&in_url]), ("stream", stream)], "acl-url").await;

    for (label, creds) in [
        (
            "wrong password",
            vec![("username", "alice"), ("password", "nope")],
        ),
        (
            "unknown user",
            vec![("username", "bob"), ("password", "s3cret")],
        ),
        ("no credentials (default user off)", vec![]),
    ] {
        let url_arg = [url.as_str()];
        let mut opts: Vec<(&str, &[&str])> = vec![("url", &url_arg), ("stream", stream)];
        let values: Vec<[&str; 1]> = creds.iter().map(|(_, v)| [*v]).collect();
        for ((name, _), v) in creds.iter().zip(&values) {
            opts.push((name, v));
        }
        let started = Instant::now();
        match hub(&opts).await {
            Ok(_) => panic!("{label}: the hub started"),
            Err(e) => {
                assert!(
                    e.to_lowercase().contains("authentication"),
                    "{label}: the error should name authentication: {e}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{label}: failing took {:?}",
                    started.elapsed()
                );
                eprintln!("{label}: {e}");
            }
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e})"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throwaway CA and a server certificate for IP 127.0.0.1 signed by it, in `dir`:
/// `ca.crt`, `server.crt`, `server.key`.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=quicksilver test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_private_ca() {
    let port = port("QS_TLS_PORT", 16452);
    let dir = tempdir();
    make_certs(dir.path());
    let file = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let p = port.to_string();
    let _server = Server::start(
        port,
        tempdir(),
        &[
            "--port",
            "0",
            "--tls-port",
            &p,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ],
    );
    let stream: &[&str] = &["tls"];

    // rediss:// trusting the test CA.
    let url = format!("rediss://127.0.0.1:{port}");
    round_trip(
        &[("url", &[&url]), ("stream", stream), ("tls_ca", &[&ca])],
        "tls-url",
    )
    .await;
    // `address` + `tls`, the same.
    let address = format!("127.0.0.1:{port}");
    round_trip(
        &[
            ("address", &[&address]),
            ("tls", &[]),
            ("tls_ca", &[&ca]),
            ("stream", stream),
        ],
        "tls-address",
    )
    .await;

    // Without `tls_ca` the system roots don't know the test CA: the certificate is refused.
    match hub(&[("url", &[&url]), ("stream", stream)]).await {
        Ok(_) => panic!("TLS without the test CA: the hub started"),
        Err(e) => assert!(e.contains("certificate"), "TLS without the test CA: {e}"),
    }
    // A plaintext client to the TLS port fails.
    let plain = format!("redis://127.0.0.1:{port}");
    match hub(&[("url", &[&plain]), ("stream", stream)]).await {
        Ok(_) => panic!("plaintext to the TLS port: the hub started"),
        Err(e) => eprintln!("plaintext to the TLS port: {e}"),
    }
    // `tls_ca` without TLS is a configuration error.
    match hub(&[("url", &[&plain]), ("tls_ca", &[&ca])]).await {
        Ok(_) => panic!("tls_ca without TLS: the hub started"),
        Err(e) => assert!(e.contains("tls_ca") && e.contains("TLS is off"), "{e}"),
    }
    // A missing CA file is named.
    match hub(&[("url", &[&url]), ("tls_ca", &["/nonexistent/ca.pem"])]).await {
        Ok(_) => panic!("missing tls_ca file: the hub started"),
        Err(e) => assert!(
            e.contains("tls_ca") && e.contains("/nonexistent/ca.pem"),
            "{e}"
        ),
    }
}
