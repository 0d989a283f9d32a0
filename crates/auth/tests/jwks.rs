//! JWKS verification: file:// and http:// sources, kid selection, refresh on
//! unknown kid (rate-limited), per-key algorithm pinning and attacks.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, Header};
use quicksilver_auth::{AuthError, KeySource, Verifier};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A scratch file that is removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "quicksilver-auth-{}-{n}-{name}.json",
            std::process::id()
        ));
        TempFile(path)
    }
    fn write(&self, content: &str) {
        std::fs::write(&self.0, content).expect("write temp file");
    }
    fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn jwks_verifier(url: &str) -> Verifier {
    Verifier::new(KeySource::Jwks {
        url: url.to_owned(),
    })
    .await
    .unwrap_or_else(|e| panic!("JWKS verifier: {e}"))
}

async fn jwks_new_err(url: &str) -> AuthError {
    match Verifier::new(KeySource::Jwks {
        url: url.to_owned(),
    })
    .await
    {
        Ok(v) => panic!("unexpectedly loaded: {v:?}"),
        Err(e) => e,
    }
}

fn rsa_jwk(kid: &str, with_alg: bool) -> Value {
    jwk(
        &fixture("rsa_private.pem"),
        Algorithm::RS256,
        Some(kid),
        with_alg,
    )
}
fn ec_jwk(kid: &str) -> Value {
    jwk(
        &fixture("ec256_private.pem"),
        Algorithm::ES256,
        Some(kid),
        true,
    )
}
fn ed_jwk(kid: &str) -> Value {
    jwk(
        &fixture("ed25519_private.pem"),
        Algorithm::EdDSA,
        Some(kid),
        false,
    )
}

#[tokio::test]
async fn file_kid_selection_and_rate_limited_refresh() {
    let file = TempFile::new("refresh");
    file.write(&jwks(&[rsa_jwk("k1", true)]));
    let v = jwks_verifier(&file.url()).await;
    assert_eq!(v.describe(), format!("JWKS {}", file.url()));

    let rsa = fixture("rsa_private.pem");
    let k1 = mint_with_kid(&rsa, "RS256", Some("k1"));
    assert_foo_claims(&verify_ok(&v, &k1).await);

    // Rotation: k2 appears; the unknown kid triggers a re-read.
    file.write(&jwks(&[rsa_jwk("k1", true), ec_jwk("k2")]));
    let k2 = mint_with_kid(&fixture("ec256_private.pem"), "ES256", Some("k2"));
    assert_foo_claims(&verify_ok(&v, &k2).await);

    // A second unknown kid within the rate-limit window does not re-read.
    file.write(&jwks(&[rsa_jwk("k1", true), ec_jwk("k2"), ed_jwk("k3")]));
    let k3 = mint_with_kid(&fixture("ed25519_private.pem"), "EdDSA", Some("k3"));
    let e = verify_err(&v, &k3).await;
    assert_eq!(
        e.to_string(),
        format!(
            "no key with kid k3 in JWKS {} (key set refresh rate-limited)",
            file.url()
        )
    );
    // Known keys keep working.
    assert_foo_claims(&verify_ok(&v, &k1).await);
    assert_foo_claims(&verify_ok(&v, &k2).await);
}

#[tokio::test]
async fn failed_refresh_keeps_previous_set() {
    let file = TempFile::new("failed-refresh");
    file.write(&jwks(&[rsa_jwk("k1", true)]));
    let v = jwks_verifier(&file.url()).await;
    std::fs::remove_file(file.path()).expect("remove");

    let rsa = fixture("rsa_private.pem");
    let e = verify_err(&v, &mint_with_kid(&rsa, "RS256", Some("other"))).await;
    let msg = e.to_string();
    assert!(matches!(e, AuthError::UnknownKid { .. }), "{msg}");
    assert!(
        msg.contains("(key set refresh failed: cannot fetch JWKS"),
        "{msg}"
    );
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&rsa, "RS256", Some("k1"))).await);
}

#[tokio::test]
async fn token_without_kid_tries_compatible_keys() {
    let file = TempFile::new("no-kid");
    file.write(&jwks(&[rsa_jwk("k1", false), ec_jwk("k2")]));
    let v = jwks_verifier(&file.url()).await;
    let rsa = fixture("rsa_private.pem");

    // An RSA JWK without "alg" accepts every RSA algorithm.
    for alg in ["RS256", "PS512"] {
        assert_foo_claims(&verify_ok(&v, &mint_with_kid(&rsa, alg, None)).await);
    }
    let ec = fixture("ec256_private.pem");
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&ec, "ES256", None)).await);

    let e = verify_err(
        &v,
        &mint_with_kid(&fixture("rsa2_private.pem"), "RS256", None),
    )
    .await;
    assert!(matches!(e, AuthError::SignatureInvalid), "{e}");

    let e = verify_err(&v, &mint_with_kid(SECRET, "HS256", None)).await;
    assert_eq!(
        e.to_string(),
        format!("no key in JWKS {} accepts algorithm HS256", file.url())
    );
    let e = verify_err(
        &v,
        &mint_with_kid(&fixture("ec384_private.pem"), "ES384", None),
    )
    .await;
    assert!(matches!(e, AuthError::NoCompatibleKey { .. }), "{e}");
}

#[tokio::test]
async fn algorithm_is_pinned_per_key() {
    let file = TempFile::new("pinning");
    file.write(&jwks(&[rsa_jwk("k1", true)]));
    let v = jwks_verifier(&file.url()).await;
    let rsa = fixture("rsa_private.pem");

    let e = verify_err(&v, &mint_with_kid(&rsa, "PS256", Some("k1"))).await;
    assert_eq!(
        e.to_string(),
        format!(
            "algorithm PS256 not allowed: key k1 of JWKS {} accepts RS256",
            file.url()
        )
    );

    // Key confusion: HS256 signed with the public key PEM as the secret.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    let forged = sign_raw(
        &header,
        &json!({"mercure": {"publish": ["*"]}}),
        &encoding_key(&fixture("rsa_public.pem"), Algorithm::HS256),
    );
    assert!(matches!(
        verify_err(&v, &forged).await,
        AuthError::AlgorithmNotAllowed { .. }
    ));

    // alg none, with and without kid.
    for header in [json!({"alg": "none", "kid": "k1"}), json!({"alg": "none"})] {
        let token = raw_token(&header, &json!({"mercure": {"publish": ["*"]}}), None);
        let e = verify_err(&v, &token).await;
        assert!(matches!(e, AuthError::AlgorithmNotAllowed { .. }), "{e}");
    }
}

#[tokio::test]
async fn embedded_jwk_header_is_ignored() {
    let file = TempFile::new("embedded-jwk");
    file.write(&jwks(&[rsa_jwk("k1", true)]));
    let v = jwks_verifier(&file.url()).await;

    let attacker_key = encoding_key(&fixture("rsa2_private.pem"), Algorithm::RS256);
    let attacker_jwk = Jwk::from_encoding_key(&attacker_key, Algorithm::RS256).expect("jwk");
    for kid in [Some("k1"), None] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        header.jwk = Some(attacker_jwk.clone());
        header.jku = Some("https://attacker.example/jwks.json".to_owned());
        header.x5u = Some("https://attacker.example/cert.pem".to_owned());
        let forged = sign_raw(
            &header,
            &json!({"mercure": {"publish": ["*"]}}),
            &attacker_key,
        );
        let e = verify_err(&v, &forged).await;
        assert!(matches!(e, AuthError::SignatureInvalid), "{e}");
    }
}

#[tokio::test]
async fn oct_and_okp_keys() {
    let file = TempFile::new("oct-okp");
    file.write(&jwks(&[
        jwk(SECRET, Algorithm::HS512, Some("hmac"), false),
        ed_jwk("ed"),
    ]));
    let v = jwks_verifier(&file.url()).await;
    for alg in ["HS256", "HS512"] {
        assert_foo_claims(&verify_ok(&v, &mint_with_kid(SECRET, alg, Some("hmac"))).await);
    }
    let ed = fixture("ed25519_private.pem");
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&ed, "EdDSA", Some("ed"))).await);
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&ed, "EdDSA", None)).await);
}

#[tokio::test]
async fn unusable_keys_are_skipped() {
    let mut enc = rsa_jwk("enc", false);
    enc["use"] = json!("enc");
    let mut no_verify = rsa_jwk("wrap", false);
    no_verify["key_ops"] = json!(["wrapKey"]);
    let mut mismatched = rsa_jwk("mismatch", false);
    mismatched["alg"] = json!("ES256");
    let file = TempFile::new("skipped");
    file.write(&jwks(&[
        enc,
        no_verify,
        mismatched,
        json!({"kty": "weird", "kid": "weird"}),
        json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"}),
        json!("not an object"),
        rsa_jwk("good", true),
    ]));
    let v = jwks_verifier(&file.url()).await;
    let rsa = fixture("rsa_private.pem");
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&rsa, "RS256", Some("good"))).await);
    for kid in ["enc", "wrap", "mismatch"] {
        let e = verify_err(&v, &mint_with_kid(&rsa, "RS256", Some(kid))).await;
        assert!(matches!(e, AuthError::UnknownKid { .. }), "{kid}: {e}");
    }
}

#[tokio::test]
async fn claims_rules_apply_to_jwks_tokens() {
    let file = TempFile::new("claims");
    file.write(&jwks(&[rsa_jwk("k1", true)]));
    let v = jwks_verifier(&file.url()).await;
    let mut o = opts(&fixture("rsa_private.pem"), "RS256");
    o.kid = Some("k1".to_owned());
    o.extra_claims = claims_with(json!({"exp": now() - 10}));
    assert!(matches!(
        verify_err(&v, &mint_ok(&o)).await,
        AuthError::Expired { .. }
    ));
}

#[tokio::test]
async fn startup_errors() {
    let missing = TempFile::new("missing");
    let e = jwks_new_err(&missing.url()).await;
    assert!(matches!(e, AuthError::JwksFetch { .. }), "{e}");
    assert!(
        e.to_string().starts_with(&format!(
            "cannot fetch JWKS from {}: cannot read",
            missing.url()
        )),
        "{e}"
    );

    for (content, expected) in [
        ("{not json", "not JSON"),
        (r#"{"foo": 1}"#, "no \"keys\" array"),
        (r#"{"keys": []}"#, "no usable signature verification key"),
        (
            r#"{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}"#,
            "no usable",
        ),
    ] {
        let file = TempFile::new("invalid");
        file.write(content);
        let e = jwks_new_err(&file.url()).await;
        assert!(matches!(e, AuthError::JwksInvalid { .. }), "{e}");
        assert!(e.to_string().contains(expected), "{e}");
    }

    for url in [
        "ftp://example.com/jwks.json",
        "file://remote.example/jwks.json",
        "not a url",
    ] {
        let e = jwks_new_err(url).await;
        assert!(matches!(e, AuthError::InvalidJwksUrl { .. }), "{url}: {e}");
    }
}

/// A one-route HTTP/1.1 server on 127.0.0.1 answering every request with the
/// current `(status, body)`; counts requests.
struct TestServer {
    url: String,
    response: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    async fn start(status: u16, body: String) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let response = Arc::new(Mutex::new((status, body)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (resp, counter) = (Arc::clone(&response), Arc::clone(&hits));
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (resp, counter) = (Arc::clone(&resp), Arc::clone(&counter));
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = resp.lock().expect("lock").clone();
                    let reply = format!(
                        "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        TestServer {
            url: format!("http://{addr}/.well-known/jwks.json"),
            response,
            hits,
            task,
        }
    }

    fn set_body(&self, body: String) {
        self.response.lock().expect("lock").1 = body;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn http_fetch_and_refresh() {
    let server = TestServer::start(200, jwks(&[rsa_jwk("k1", true)])).await;
    let v = jwks_verifier(&server.url).await;
    assert_eq!(server.hits(), 1);

    let rsa = fixture("rsa_private.pem");
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&rsa, "RS256", Some("k1"))).await);
    assert_eq!(server.hits(), 1, "known kid must be served from the cache");

    server.set_body(jwks(&[rsa_jwk("k1", true), ec_jwk("k2")]));
    let ec = fixture("ec256_private.pem");
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(&ec, "ES256", Some("k2"))).await);
    assert_eq!(server.hits(), 2);

    server.set_body(jwks(&[ed_jwk("k3")]));
    let ed = fixture("ed25519_private.pem");
    let e = verify_err(&v, &mint_with_kid(&ed, "EdDSA", Some("k3"))).await;
    assert!(matches!(e, AuthError::UnknownKid { .. }), "{e}");
    assert_eq!(server.hits(), 2, "refresh must be rate-limited");
}

#[tokio::test]
async fn http_concurrent_unknown_kids_share_one_fetch() {
    let server = TestServer::start(200, jwks(&[rsa_jwk("k1", true)])).await;
    let v = jwks_verifier(&server.url).await;
    server.set_body(jwks(&[rsa_jwk("k1", true), ec_jwk("k2")]));
    let token = mint_with_kid(&fixture("ec256_private.pem"), "ES256", Some("k2"));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (v, token) = (v.clone(), token.clone());
        tasks.push(tokio::spawn(async move { v.verify(&token).await.is_ok() }));
    }
    for t in tasks {
        assert!(
            t.await.expect("task"),
            "every waiter sees the refreshed set"
        );
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn http_error_status_fails_startup() {
    let server = TestServer::start(500, "oops".to_owned()).await;
    let e = jwks_new_err(&server.url).await;
    assert_eq!(
        e.to_string(),
        format!(
            "cannot fetch JWKS from {}: HTTP status 500 Internal Server Error",
            server.url
        )
    );
}

#[tokio::test]
async fn http_connection_refused_fails_startup() {
    // Bind then drop to get a port that (almost certainly) refuses.
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let e = jwks_new_err(&format!("http://{addr}/jwks.json")).await;
    assert!(matches!(e, AuthError::JwksFetch { .. }), "{e}");
}
