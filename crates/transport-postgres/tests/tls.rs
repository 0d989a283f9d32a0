//! TLS to the server with rustls, against our own PostgreSQL (initdb in a temporary directory,
//! ports 15460..15463 or from `QS_PG_TLS_PORT`) that has `ssl = on` with a certificate from a
//! throwaway CA made with `openssl` (SAN `IP:127.0.0.1`, `DNS:localhost`) and a `pg_hba.conf`
//! that accepts TCP only over SSL. Through the real transport and a hub:
//! - `sslmode=verify-full&sslrootcert=<ca>` publishes and a subscriber receives (by IP and by
//!   name);
//! - `sslmode=disable` fails to start, with the server's rejection in the error;
//! - `sslmode=verify-full` with another CA fails with a certificate error;
//! - `sslmode=require` works without any CA (no verification, as in libpq).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::server::OwnServer;
use quicksilver_hub::{Hub, HubOptions, SubscribeRequest, UpdateData};
use quicksilver_transport_postgres::PostgresTransport;

const TOPIC: &str = "https://example.com/tls";

fn port(offset: u16) -> u16 {
    std::env::var("QS_PG_TLS_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(15460)
        + offset
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): install openssl"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`, `<name>.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=Quicksilver test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Certificates for one server: `ca.pem` (signed it), `other-ca.pem` (didn't), `server.crt`
/// and `server.key` (owned by the server's user, mode 600, as PostgreSQL requires).
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("qs-pg-tls-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "other-ca");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(
            d.join("server.ext"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap_or_else(|e| panic!("server.ext: {e}"));
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        // TCP only over SSL; the Unix socket stays open for pg_ctl.
        std::fs::write(
            d.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap_or_else(|e| panic!("pg_hba.conf: {e}"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod server.key: {e}"));
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", d.display()));
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(d)
                .status()
                .unwrap_or_else(|e| panic!("chown: {e}"));
            assert!(status.success(), "chown of {} failed", d.display());
        }
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Our own PostgreSQL with SSL on and these certificates.
    fn server(&self, port: u16) -> OwnServer {
        let settings = [
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", self.path("server.crt").display()),
            format!("ssl_key_file={}", self.path("server.key").display()),
            format!("hba_file={}", self.path("pg_hba.conf").display()),
        ];
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        OwnServer::start(port, &settings)
    }
}

fn url(host: &str, port: u16, query: &str) -> String {
    let mut url = format!("postgres://postgres@{host}:{port}/postgres?connect_timeout=5");
    if !query.is_empty() {
        url.push('&');
        url.push_str(query);
    }
    url
}

async fn start_hub(url: &str) -> Result<Arc<Hub>, String> {
    let opts = common::options_for(url, &common::table_name(), &[]);
    let t = Arc::new(PostgresTransport::new(opts).map_err(|e| e.to_string())?);
    let options = HubOptions {
        subscriptions: false,
        ..HubOptions::default()
    };
    match tokio::time::timeout(Duration::from_secs(30), Hub::start(t, options)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("Hub::start did not finish within 30 s".into()),
    }
}

/// A hub on `url` starts, publishes, and its subscriber receives the update.
async fn round_trip(url: &str) {
    let hub = start_hub(url)
        .await
        .unwrap_or_else(|e| panic!("hub on {url}: {e}"));
    let mut sub = hub
        .subscribe(SubscribeRequest {
            topics: vec![TOPIC.into()],
            private_topics: None,
            payload: None,
            last_event_id: None,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("subscribe: {e}"));
    let published = hub
        .publish(UpdateData {
            id: String::new(),
            topics: vec![TOPIC.into()],
            data: "over TLS".into(),
            private: false,
            event_type: None,
            retry: None,
        })
        .await
        .unwrap_or_else(|e| panic!("publish on {url}: {e}"));
    match tokio::time::timeout(Duration::from_secs(10), sub.next_update()).await {
        Ok(Some(u)) => {
            assert_eq!(u.data().data, "over TLS");
            assert_eq!(u.id(), published.id());
        }
        other => panic!("no update received on {url}: {:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_ca_publishes_and_delivers() {
    let certs = Certs::new();
    let port = port(0);
    let server = certs.server(port);
    let ca = certs.path("ca.pem");
    let query = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    round_trip(&url("127.0.0.1", port, &query)).await;
    round_trip(&url("localhost", port, &query)).await;
    // verify-ca too (the chain is checked, the name is not).
    let query = format!("sslmode=verify-ca&sslrootcert={}", ca.display());
    round_trip(&url("127.0.0.1", port, &query)).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_is_rejected_by_a_server_that_requires_ssl() {
    let certs = Certs::new();
    let port = port(1);
    let server = certs.server(port);
    let e = match start_hub(&url("127.0.0.1", port, "sslmode=disable")).await {
        Ok(_) => panic!("sslmode=disable started against a server that rejects non-SSL"),
        Err(e) => e,
    };
    assert!(
        e.contains("pg_hba.conf") && e.contains("no encryption"),
        "expected the server's rejection of a non-SSL connection, got: {e}"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_another_ca_fails_with_a_certificate_error() {
    let certs = Certs::new();
    let port = port(2);
    let server = certs.server(port);
    let query = format!(
        "sslmode=verify-full&sslrootcert={}",
        certs.path("other-ca.pem").display()
    );
    let e = match start_hub(&url("127.0.0.1", port, &query)).await {
        Ok(_) => panic!("verify-full accepted a certificate from an untrusted CA"),
        Err(e) => e,
    };
    assert!(
        e.contains("invalid peer certificate"),
        "expected a certificate error, got: {e}"
    );
    // Without sslrootcert the system's roots are used, which don't know our CA either.
    let e = match start_hub(&url("127.0.0.1", port, "sslmode=verify-full")).await {
        Ok(_) => panic!("verify-full accepted a certificate from a CA the system doesn't trust"),
        Err(e) => e,
    };
    assert!(
        e.contains("invalid peer certificate"),
        "expected a certificate error, got: {e}"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_without_verifying() {
    let certs = Certs::new();
    let port = port(3);
    let server = certs.server(port);
    round_trip(&url("127.0.0.1", port, "sslmode=require")).await;
    // The default, prefer, also ends up on TLS with this server (it would be rejected otherwise).
    round_trip(&url("127.0.0.1", port, "")).await;
    drop(server);
}
