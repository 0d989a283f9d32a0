//! Configuration and start-up: the reference hub's environment variables, directives from
//! `MERCURE_EXTRA_DIRECTIVES` and `--config`, refused settings with errors that say where, and
//! the `quicksilver token` command.
//!
//! Deviation from the reference v0.24.2, on purpose: unknown directives are errors (the
//! reference silently ignores them, hiding typos).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;

const T: Duration = Duration::from_secs(5);

/// Starts a hub that must fail; returns its stderr.
fn start_error(b: HubBuilder) -> String {
    match b.try_start() {
        Ok(hub) => panic!("the hub started: {}", hub.logs()),
        Err(e) => {
            assert!(e.starts_with("exited with exit status: 1"), "{e}");
            e
        }
    }
}

fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} not in:\n{text}");
}

/// A scratch file, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "quicksilver-blackbox-{}-{name}",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn missing_keys_are_refused() {
    let err = start_error(HubBuilder::new().unset("MERCURE_PUBLISHER_JWT_KEY"));
    assert_contains(
        &err,
        "error: no publisher key: set MERCURE_PUBLISHER_JWT_KEY",
    );
    // An empty variable counts as unset.
    let err = start_error(HubBuilder::new().env("MERCURE_PUBLISHER_JWT_KEY", ""));
    assert_contains(&err, "MERCURE_PUBLISHER_JWT_KEY");

    let err = start_error(HubBuilder::new().unset("MERCURE_SUBSCRIBER_JWT_KEY"));
    assert_contains(
        &err,
        "error: no subscriber key: set MERCURE_SUBSCRIBER_JWT_KEY",
    );
    assert_contains(&err, "anonymous");
    // Said once, without colour codes.
    assert_eq!(err.matches("no subscriber key").count(), 1, "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[tokio::test]
async fn anonymous_without_a_subscriber_key_starts() {
    let hub = HubBuilder::new()
        .unset("MERCURE_SUBSCRIBER_JWT_KEY")
        .directives("anonymous")
        .start();
    let _sse = Sse::subscribe(&hub, &["https://example.com/1"], None).await;
}

#[test]
fn directive_errors_name_the_line() {
    let err = start_error(HubBuilder::new().directives("anonymous\nfoo bar"));
    assert_contains(
        &err,
        "error: MERCURE_EXTRA_DIRECTIVES:2: foo: unknown directive",
    );
    let err = start_error(HubBuilder::new().directives("anonymous\nsubscription"));
    assert_contains(
        &err,
        "MERCURE_EXTRA_DIRECTIVES:2: subscription: unknown directive (did you mean \"subscriptions\"?)",
    );
    let err = start_error(HubBuilder::new().directives("anonymous\n\nheartbeat abc"));
    assert_contains(&err, "MERCURE_EXTRA_DIRECTIVES:3: heartbeat:");
    assert_contains(&err, "\"abc\"");
    let err = start_error(HubBuilder::new().directives("protocol draft-09"));
    assert_contains(&err, "MERCURE_EXTRA_DIRECTIVES:1: protocol:");
    assert_contains(
        &err,
        "expected draft-07 (the default) or draft-08, got \"draft-09\"",
    );
    let err = start_error(HubBuilder::new().directives("protocol_version_compatibility 8"));
    assert_contains(
        &err,
        "MERCURE_EXTRA_DIRECTIVES:1: protocol_version_compatibility:",
    );
    assert_contains(&err, "\"8\"");
}

#[tokio::test]
async fn protocol_directives_that_are_accepted() {
    let hub =
        Hub::with_directives("anonymous\nprotocol draft-07\nprotocol_version_compatibility 7");
    assert!(hub.wait_log("protocol=draft-07").await, "{}", hub.logs());
}

#[tokio::test]
async fn config_file_with_a_mercure_block() {
    let file = TempFile::new(
        "ok.conf",
        "# the hub\nmercure {\n\tanonymous\n\tsubscriptions\n\theartbeat 200ms\n}\n",
    );
    let hub = HubBuilder::new()
        .unset("MERCURE_SUBSCRIBER_JWT_KEY")
        .arg("--config")
        .arg(file.path())
        .start();
    // anonymous
    let mut sse = Sse::subscribe(&hub, &["https://example.com/1"], None).await;
    // heartbeat: a comment after ~200 ms
    assert!(sse.read_until(":\n", T).await, "{:?}", sse.text());
    // subscriptions: the API is served (open: no subscriber key)
    let r = hub
        .http_get("/.well-known/mercure/subscriptions", &[])
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("https://example.com/1"));
}

#[tokio::test]
async fn config_file_comes_after_the_environment() {
    // The file adds to MERCURE_EXTRA_DIRECTIVES; bare directives are accepted too.
    let file = TempFile::new("bare.conf", "subscriptions\n");
    let hub = HubBuilder::new()
        .directives("anonymous")
        .arg("-c")
        .arg(file.path())
        .start();
    let _sse = Sse::subscribe(&hub, &["https://example.com/1"], None).await;
    let r = hub
        .http_get("/.well-known/mercure/subscriptions", &[])
        .await;
    // The API exists (401 without a token: a subscriber key is configured).
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn config_file_errors_name_the_file_and_line() {
    let file = TempFile::new(
        "bad.conf",
        "mercure {\n  anonymous\n  subscriptions\n  bogus 1\n}\n",
    );
    let err = start_error(HubBuilder::new().arg("--config").arg(file.path()));
    assert_contains(
        &err,
        &format!("{}:4: bogus: unknown directive", file.path()),
    );
    let err = start_error(
        HubBuilder::new()
            .arg("--config")
            .arg("/nonexistent/quicksilver.conf"),
    );
    assert_contains(&err, "/nonexistent/quicksilver.conf");
}

#[tokio::test]
async fn local_transport_with_a_history_size() {
    let hub = Hub::with_directives("anonymous\ntransport local {\n\tsize 5\n}");
    assert!(hub.wait_log("history of 5 updates").await, "{}", hub.logs());
    for i in 1..=7 {
        let (status, _) = publish(
            &hub,
            &publisher(),
            &[
                ("topic", "https://example.com/h"),
                ("data", &i.to_string()),
                ("id", &format!("h{i}")),
            ],
        )
        .await;
        assert_eq!(status, 200);
    }
    // h3..h7 are kept: resuming after h3 replays h4..h7.
    let mut sse = Sse::open(
        &hub,
        "topic=https%3A%2F%2Fexample.com%2Fh",
        &[("Last-Event-ID", "h3")],
    )
    .await;
    assert_eq!(sse.status, 200);
    assert!(sse.read_until("data: 7\n\n", T).await, "{:?}", sse.text());
    assert_eq!(
        sse.events(),
        ["h4", "h5", "h6", "h7"]
            .iter()
            .map(|id| format!("id: {id}\ndata: {}", &id[1..]))
            .collect::<Vec<_>>()
    );
}

#[test]
fn transport_errors() {
    let err =
        start_error(HubBuilder::new().directives("anonymous\ntransport local {\n\tbogus 1\n}"));
    assert_contains(
        &err,
        "MERCURE_EXTRA_DIRECTIVES:3: transport local: unknown option \"bogus\"",
    );
    let err = start_error(HubBuilder::new().directives("transport local {\n\tsize many\n}"));
    assert_contains(&err, "MERCURE_EXTRA_DIRECTIVES:2: transport local: size:");
    let err = start_error(HubBuilder::new().directives("transport redis {\n\tmax_length many\n}"));
    assert_contains(
        &err,
        "MERCURE_EXTRA_DIRECTIVES:2: transport redis: max_length: expected the number of entries",
    );
    let err =
        start_error(HubBuilder::new().directives("transport postgres {\n\tmax_length many\n}"));
    assert_contains(
        &err,
        "MERCURE_EXTRA_DIRECTIVES:2: transport postgres: max_length",
    );
    // Known to the configuration, not built yet.
    let err = start_error(
        HubBuilder::new().directives("transport kafka {\n\turl kafka://127.0.0.1:9092\n}"),
    );
    assert_contains(&err, "transport \"kafka\" is not available");
    let err = start_error(HubBuilder::new().directives("transport nope"));
    assert_contains(&err, "unknown transport \"nope\"");
}

#[tokio::test]
async fn legacy_transport_url() {
    let hub = HubBuilder::new()
        .directives("anonymous")
        .env("MERCURE_TRANSPORT_URL", "local://local")
        .start();
    assert!(hub.wait_log("transport=local").await, "{}", hub.logs());
    let mut sse = Sse::subscribe(&hub, &["https://example.com/1"], None).await;
    let (status, id) = publish(&hub, &publisher(), &[("topic", "https://example.com/1")]).await;
    assert_eq!(status, 200);
    assert!(sse.read_until("\n\n", T).await);
    assert_eq!(sse.text(), format!("id: {id}\ndata: \n\n"));
}

#[tokio::test]
async fn server_name_forms() {
    // `:PORT` listens on every interface (loopback included).
    let port = free_port();
    let hub = HubBuilder::new()
        .directives("anonymous")
        .env("SERVER_NAME", &format!(":{port}"))
        .port(port)
        .start();
    let r = hub.http_get("/healthz", &[]).await;
    assert_eq!(r.status().as_u16(), 200);
    drop(hub);

    let port = free_port();
    let hub = HubBuilder::new()
        .directives("anonymous")
        .env("SERVER_NAME", &format!("http://127.0.0.1:{port}"))
        .port(port)
        .start();
    let _sse = Sse::subscribe(&hub, &["https://example.com/1"], None).await;
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../auth/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn mint(key: &str, alg: &str, publish: &[&str]) -> String {
    quicksilver_auth::mint(&quicksilver_auth::MintOptions {
        key: key.into(),
        alg: alg.into(),
        publish: Some(publish.iter().map(|s| s.to_string()).collect()),
        subscribe: None,
        payload: None,
        ttl: None,
        kid: None,
        extra_claims: Default::default(),
    })
    .expect("mint")
}

#[tokio::test]
async fn rsa_public_key_in_the_environment() {
    let hub = HubBuilder::new()
        .env("MERCURE_PUBLISHER_JWT_KEY", &fixture("rsa_public.pem"))
        .env("MERCURE_PUBLISHER_JWT_ALG", "RS256")
        .directives("anonymous")
        .start();
    let mut sse = Sse::subscribe(&hub, &["https://example.com/rsa"], None).await;
    let rs256 = mint(&fixture("rsa_private.pem"), "RS256", &["*"]);
    let (status, id) = publish(
        &hub,
        &rs256,
        &[("topic", "https://example.com/rsa"), ("data", "signed")],
    )
    .await;
    assert_eq!(status, 200, "{id}");
    assert!(sse.read_until("\n\n", T).await);
    assert_eq!(sse.text(), format!("id: {id}\ndata: signed\n\n"));

    // Another RSA key, or an HMAC token: refused.
    let other = mint(&fixture("rsa2_private.pem"), "RS256", &["*"]);
    assert_eq!(publish(&hub, &other, &[("topic", "x")]).await.0, 401);
    assert_eq!(publish(&hub, &publisher(), &[("topic", "x")]).await.0, 401);
}

#[test]
fn pem_key_needs_an_asymmetric_algorithm() {
    let err = start_error(
        HubBuilder::new()
            .env("MERCURE_PUBLISHER_JWT_KEY", &fixture("rsa_public.pem"))
            .env("MERCURE_PUBLISHER_JWT_ALG", "HS256"),
    );
    assert_contains(&err, "MERCURE_PUBLISHER_JWT");
}

#[test]
fn version_and_help() {
    let (code, out, _) = run_cli(&["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("quicksilver {}\n", env!("CARGO_PKG_VERSION")));
    let (code, out, _) = run_cli(&["--help"], &[]);
    assert_eq!(code, 0);
    assert_contains(&out, "run");
    assert_contains(&out, "token");
    let (code, out, _) = run_cli(&["run", "--help"], &[]);
    assert_eq!(code, 0);
    assert_contains(&out, "--config");
    let (code, out, _) = run_cli(&["token", "--help"], &[]);
    assert_eq!(code, 0);
    assert_contains(&out, "--publish");
    // No command: usage on stderr, exit 2 (clap).
    let (code, _, err) = run_cli(&[], &[]);
    assert_eq!(code, 2);
    assert_contains(&err, "Usage");
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn token_command() {
    let key = "a-key-only-this-test-uses-0123456789";
    let (code, out, err) = run_cli(
        &[
            "token",
            "--key",
            key,
            "--publish",
            "*",
            "--subscribe",
            "a",
            "--payload",
            r#"{"x":1}"#,
            "--ttl",
            "1h",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with('\n'));
    let jwt = out.trim_end();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    let header: serde_json::Value =
        serde_json::from_slice(&base64url_decode(jwt.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "HS256");
    let claims = jwt_claims(jwt);
    assert_eq!(
        claims["mercure"],
        serde_json::json!({"publish": ["*"], "subscribe": ["a"], "payload": {"x": 1}})
    );
    let exp = claims["exp"].as_i64().expect("exp");
    assert!((exp - now() - 3600).abs() <= 10, "exp {exp}, now {}", now());

    // It works against a hub with that key.
    let hub = HubBuilder::new()
        .env("MERCURE_PUBLISHER_JWT_KEY", key)
        .directives("anonymous")
        .start();
    let (status, _) = publish(&hub, jwt, &[("topic", "https://example.com/t")]).await;
    assert_eq!(status, 200);

    // Repeated selectors; no --ttl: no exp; no --subscribe: no subscribe claim.
    let (code, out, _) = run_cli(
        &["token", "--key", key, "--publish", "a", "--publish", "b"],
        &[],
    );
    assert_eq!(code, 0);
    let claims = jwt_claims(out.trim_end());
    assert_eq!(
        claims["mercure"],
        serde_json::json!({"publish": ["a", "b"]})
    );
    assert!(claims.get("exp").is_none(), "{claims}");
}

#[test]
fn token_key_sources() {
    let key = "a-key-from-a-file-0123456789abcdef";
    let file = TempFile::new("token.key", key);
    let from_file = run_cli(
        &[
            "token",
            "--key",
            &format!("@{}", file.path()),
            "--publish",
            "*",
        ],
        &[],
    );
    let inline = run_cli(&["token", "--key", key, "--publish", "*"], &[]);
    assert_eq!(from_file.0, 0, "{}", from_file.2);
    // Same key and claims (no exp): same token.
    assert_eq!(from_file.1, inline.1);
    // The environment variable of the hub is the default key.
    let from_env = run_cli(
        &["token", "--publish", "*"],
        &[("MERCURE_PUBLISHER_JWT_KEY", key)],
    );
    assert_eq!(from_env.1, inline.1);

    let (code, out, err) = run_cli(&["token", "--publish", "*"], &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_contains(&err, "--key");
    assert_contains(&err, "MERCURE_PUBLISHER_JWT_KEY");
    let (code, _, err) = run_cli(
        &["token", "--key", "@/nonexistent/key", "--publish", "*"],
        &[],
    );
    assert_eq!(code, 1);
    assert_contains(&err, "/nonexistent/key");
    let (code, _, err) = run_cli(&["token", "--key", key, "--payload", "{"], &[]);
    assert_eq!(code, 1);
    assert_contains(&err, "--payload");
    let (code, _, err) = run_cli(&["token", "--key", key, "--ttl", "soon"], &[]);
    assert_eq!(code, 1);
    assert_contains(&err, "--ttl");
}

#[tokio::test]
async fn token_command_with_an_rsa_key() {
    let private = TempFile::new("rsa.pem", &fixture("rsa_private.pem"));
    let (code, out, err) = run_cli(
        &[
            "token",
            "--key",
            &format!("@{}", private.path()),
            "--alg",
            "RS256",
            "--publish",
            "*",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let hub = HubBuilder::new()
        .env("MERCURE_PUBLISHER_JWT_KEY", &fixture("rsa_public.pem"))
        .env("MERCURE_PUBLISHER_JWT_ALG", "RS256")
        .directives("anonymous")
        .start();
    let (status, _) = publish(&hub, out.trim_end(), &[("topic", "https://example.com/t")]).await;
    assert_eq!(status, 200);
}
