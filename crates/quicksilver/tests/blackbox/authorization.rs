//! Authorization (draft-07): where the token comes from and in which order, what makes it
//! invalid, who gets private updates, the cookie CSRF rule for publishing, asymmetric keys and
//! JWKS. Every failure is a bare 401 (the reference 0.x hub's answer) and the log names why.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::common::*;

const T: Duration = Duration::from_secs(5);
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const TOPIC: &str = "https://example.com/books/1";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn fixture(name: &str) -> String {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../auth/tests/fixtures/{name}"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn mint(opts: quicksilver_auth::MintOptions) -> String {
    quicksilver_auth::mint(&opts).expect("mint")
}

/// A unique scratch file path.
fn temp_path(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "qs-blackbox-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// An HS256 token over `claims` with an arbitrary HMAC key, signed by the `openssl` CLI (our
/// minting refuses PEM keys as HMAC secrets, which is what an algorithm-confusion attacker does).
fn hs256_with_key(key: &[u8], claims: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.as_bytes())
    );
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt"])
        .arg(format!("hexkey:{hex}"))
        .arg("-binary")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    assert!(
        out.status.success() && out.stdout.len() == 32,
        "openssl failed"
    );
    format!("{input}.{}", b64(&out.stdout))
}

/// Subscribes with arbitrary request headers and query, expecting the given status.
async fn subscribe_status(hub: &Hub, query: &str, headers: &[(&str, &str)]) -> u16 {
    let r = request(hub, reqwest::Method::GET, query, headers, "").await;
    r.status
}

/// Opens a subscription (asserting 200) to TOPIC with the given query suffix and headers.
async fn open(hub: &Hub, extra_query: &str, headers: &[(&str, &str)]) -> Sse {
    let mut q = topics_query(&[TOPIC]);
    if !extra_query.is_empty() {
        q = format!("{q}&{extra_query}");
    }
    let mut s = Sse::open(hub, &q, headers).await;
    assert_eq!(s.status, 200, "subscribe refused: {}", s.text());
    assert!(s.read_until(":\n", T).await);
    s.buf.drain(..2);
    s
}

/// Publishes a private update then a public marker to TOPIC; returns whether `sub` got the
/// private one (it must get the marker either way).
async fn gets_private(hub: &Hub, sub: &mut Sse, topics: &[&str]) -> bool {
    let mut f: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
    f.push(("private", "on"));
    f.push(("id", "private"));
    let (s, _) = publish(hub, &publisher(), &f).await;
    assert_eq!(s, 200);
    let (s, _) = publish(hub, &publisher(), &[("topic", TOPIC), ("id", "public")]).await;
    assert_eq!(s, 200);
    assert!(sub.read_until("id: public\n", T).await, "{:?}", sub.text());
    let ids = sub.ids();
    sub.buf.clear();
    match ids.as_slice() {
        [p] if p == "public" => false,
        [a, p] if a == "private" && p == "public" => true,
        other => panic!("unexpected events {other:?}"),
    }
}

#[tokio::test]
async fn token_in_the_authorization_header() {
    let hub = Hub::with_directives("");
    let t = token(None, Some(&["*"]));
    let mut s = open(&hub, "", &[("Authorization", &bearer(&t))]).await;
    assert!(gets_private(&hub, &mut s, &[TOPIC]).await);
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&publisher()))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn token_in_the_authorization_query_parameter() {
    let hub = Hub::with_directives("");
    let t = token(None, Some(&["*"]));
    let mut s = open(&hub, &format!("authorization={t}"), &[]).await;
    assert!(gets_private(&hub, &mut s, &[TOPIC]).await);
    // Publishing too.
    let r = request(
        &hub,
        reqwest::Method::POST,
        &format!("authorization={}", publisher()),
        &[FORM],
        form_body(&[("topic", TOPIC), ("id", "q")]),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "q"));
    // Malformed: too short, or given twice.
    assert_eq!(
        subscribe_status(&hub, "topic=a&authorization=short", &[]).await,
        401
    );
    assert_eq!(
        subscribe_status(
            &hub,
            &format!("topic=a&authorization={t}&authorization={t}"),
            &[]
        )
        .await,
        401
    );
    assert!(hub.wait_log("invalid authorization query parameter").await);
}

#[tokio::test]
async fn token_in_the_default_cookie() {
    let hub = Hub::with_directives("");
    let t = token(None, Some(&["*"]));
    let cookie = format!("other=1; mercureAuthorization={t}; x=y");
    let mut s = open(&hub, "", &[("Cookie", &cookie)]).await;
    assert!(gets_private(&hub, &mut s, &[TOPIC]).await);
    // Another cookie name is not looked at.
    assert_eq!(
        subscribe_status(&hub, "topic=a", &[("Cookie", &format!("custom={t}"))]).await,
        401
    );
}

#[tokio::test]
async fn token_in_a_custom_cookie() {
    let hub = Hub::with_directives("cookie_name myAuth");
    let t = token(None, Some(&["*"]));
    let mut s = open(&hub, "", &[("Cookie", &format!("myAuth={t}"))]).await;
    assert!(gets_private(&hub, &mut s, &[TOPIC]).await);
    // The default name is no longer read.
    assert_eq!(
        subscribe_status(
            &hub,
            "topic=a",
            &[("Cookie", &format!("mercureAuthorization={t}"))]
        )
        .await,
        401
    );
}

#[tokio::test]
async fn header_wins_over_query_wins_over_cookie() {
    let hub = Hub::with_directives("");
    let good = token(None, Some(&["*"]));
    let garbage = "x".repeat(60);
    let garbage_bearer = bearer(&garbage);
    let good_bearer = bearer(&good);
    let good_cookie = format!("mercureAuthorization={good}");
    let bad_cookie = format!("mercureAuthorization={garbage}");
    let q_good = format!("topic=a&authorization={good}");
    let q_bad = format!("topic=a&authorization={garbage}");
    for (query, headers, expected) in [
        // A valid header with a garbage cookie or query: the header is used.
        (
            "topic=a",
            vec![
                ("Authorization", good_bearer.as_str()),
                ("Cookie", bad_cookie.as_str()),
            ],
            200,
        ),
        (
            q_bad.as_str(),
            vec![("Authorization", good_bearer.as_str())],
            200,
        ),
        // A garbage header with a valid cookie or query: the header is used, and fails.
        (
            "topic=a",
            vec![
                ("Authorization", garbage_bearer.as_str()),
                ("Cookie", good_cookie.as_str()),
            ],
            401,
        ),
        (
            q_good.as_str(),
            vec![("Authorization", garbage_bearer.as_str())],
            401,
        ),
        // Query over cookie.
        (q_good.as_str(), vec![("Cookie", bad_cookie.as_str())], 200),
        (q_bad.as_str(), vec![("Cookie", good_cookie.as_str())], 401),
    ] {
        if expected == 200 {
            let mut s = Sse::open(&hub, query, &headers).await;
            assert_eq!(s.status, 200, "{query} {headers:?}");
            assert!(s.read_until(":\n", T).await);
        } else {
            assert_eq!(
                subscribe_status(&hub, query, &headers).await,
                401,
                "{query} {headers:?}"
            );
        }
    }
}

#[tokio::test]
async fn malformed_authorization_header_is_401() {
    let hub = Hub::with_directives("anonymous");
    let t = token(None, Some(&["*"]));
    let lower = format!("bearer {t}");
    let basic = format!("Basic {t}");
    let no_space = format!("Bearer{t}");
    for value in [
        lower.as_str(),
        basic.as_str(),
        no_space.as_str(),
        "Bearer abc",
        "Bearer ",
        "",
    ] {
        // Even with `anonymous`: a presented but unusable token is refused.
        assert_eq!(
            subscribe_status(&hub, "topic=a", &[("Authorization", value)]).await,
            401,
            "{value:?}"
        );
    }
    assert!(hub.wait_log("invalid Authorization header").await);
    // Two Authorization headers.
    let r = client()
        .get(format!("{}?topic=a", hub.hub_url()))
        .header("Authorization", bearer(&t))
        .header("Authorization", bearer(&t))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    // Publishing: same rule.
    let r = publish_with(
        &hub,
        &[("Authorization", &format!("bearer {}", publisher()))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized\n"));
}

#[tokio::test]
async fn invalid_signature_is_401() {
    let hub = Hub::with_directives("");
    let other = mint(quicksilver_auth::MintOptions {
        key: "another-secret-another-secret-xx".into(),
        alg: "HS256".into(),
        publish: Some(vec!["*".into()]),
        subscribe: Some(vec!["*".into()]),
        ..Default::default()
    });
    assert_eq!(
        subscribe_status(&hub, "topic=a", &[("Authorization", &bearer(&other))]).await,
        401
    );
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&other))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized\n"));
    // A valid token whose payload was altered.
    let good = publisher();
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(br#"{"mercure":{"publish":["*"],"subscribe":["*"]}}"#),
        parts[2]
    );
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&tampered))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("signature invalid").await);
}

#[tokio::test]
async fn wrong_algorithm_is_401() {
    let hub = Hub::with_directives("");
    // Same secret, but HS512 while the hub is configured for HS256.
    let hs512 = mint(quicksilver_auth::MintOptions {
        key: SECRET.into(),
        alg: "HS512".into(),
        publish: Some(vec!["*".into()]),
        subscribe: Some(vec!["*".into()]),
        ..Default::default()
    });
    assert_eq!(
        subscribe_status(&hub, "topic=a", &[("Authorization", &bearer(&hs512))]).await,
        401
    );
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&hs512))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("algorithm HS512 not allowed").await);
    // alg "none", no signature.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(br#"{"mercure":{"publish":["*"],"subscribe":["*"]}}"#)
    );
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&none))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn expired_or_not_yet_valid_token_is_401() {
    let hub = Hub::with_directives("");
    let expired =
        token_claims(json!({"mercure": {"publish": ["*"], "subscribe": ["*"]}, "exp": now() - 10}));
    assert_eq!(
        subscribe_status(&hub, "topic=a", &[("Authorization", &bearer(&expired))]).await,
        401
    );
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&expired))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("token expired").await);
    let future = token_claims(json!({"mercure": {"publish": ["*"]}, "nbf": now() + 3600}));
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&future))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("token not valid before").await);
    // A token with exp in the future is fine.
    let fresh = token_claims(json!({"mercure": {"publish": ["*"]}, "exp": now() + 3600}));
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&fresh))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn anonymous_subscribers_need_the_directive_and_get_public_updates_only() {
    let strict = Hub::with_directives("");
    let r = request(&strict, reqwest::Method::GET, "topic=a", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized\n"));
    assert!(
        strict
            .wait_log("anonymous subscribers are not allowed")
            .await
    );
    // Authorization is checked before the topics.
    let r = request(&strict, reqwest::Method::GET, "", &[], "").await;
    assert_eq!(r.status, 401);

    let hub = Hub::with_directives("anonymous");
    let mut s = open(&hub, "", &[]).await;
    assert!(!gets_private(&hub, &mut s, &[TOPIC]).await);
    assert!(!gets_private(&hub, &mut s, &[TOPIC, "https://example.com/other"]).await);
    // A token without a subscribe claim is just as anonymous for private updates.
    let t = token(Some(&["*"]), None);
    let mut s = open(&hub, "", &[("Authorization", &bearer(&t))]).await;
    assert!(!gets_private(&hub, &mut s, &[TOPIC]).await);
}

#[tokio::test]
async fn private_updates_need_a_matching_subscribe_selector() {
    let hub = Hub::with_directives("");
    let cases: &[(&[&str], &[&str], bool)] = &[
        // (mercure.subscribe, update topics, delivered)
        (&[TOPIC], &[TOPIC], true),
        (&["https://example.com/books/2"], &[TOPIC], false),
        (&["*"], &[TOPIC], true),
        (&[], &[TOPIC], false),
        // Routed by the canonical topic, authorized by an alternate one.
        (
            &["https://example.com/users/42/{+rest}"],
            &[TOPIC, "https://example.com/users/42/books/1"],
            true,
        ),
        (
            &["https://example.com/users/42/{+rest}"],
            &[TOPIC, "https://example.com/users/7/books/1"],
            false,
        ),
        (&["https://example.com/books/{id}"], &[TOPIC], true),
        (&["https://example.com/authors/{id}"], &[TOPIC], false),
    ];
    for (granted, topics, delivered) in cases {
        let t = token(None, Some(granted));
        let mut s = open(&hub, "", &[("Authorization", &bearer(&t))]).await;
        assert_eq!(
            gets_private(&hub, &mut s, topics).await,
            *delivered,
            "subscribe {granted:?}, topics {topics:?}"
        );
    }
}

#[tokio::test]
async fn namespaced_claim_wins_over_mercure() {
    let hub = Hub::with_directives("");
    // Subscribe: namespaced grants all, legacy grants nothing.
    let t = token_claims(json!({
        "mercure": {"subscribe": []},
        "https://mercure.rocks/": {"subscribe": ["*"]}
    }));
    let mut s = open(&hub, "", &[("Authorization", &bearer(&t))]).await;
    assert!(gets_private(&hub, &mut s, &[TOPIC]).await);
    // And the other way round.
    let t = token_claims(json!({
        "mercure": {"subscribe": ["*"]},
        "https://mercure.rocks/": {"subscribe": []}
    }));
    let mut s = open(&hub, "", &[("Authorization", &bearer(&t))]).await;
    assert!(!gets_private(&hub, &mut s, &[TOPIC]).await);

    // Publish: the namespaced claim replaces the legacy one entirely.
    let t = token_claims(json!({
        "mercure": {},
        "https://mercure.rocks/": {"publish": ["*"]}
    }));
    let r = publish_with(&hub, &[("Authorization", &bearer(&t))], &[("topic", TOPIC)]).await;
    assert_eq!(r.status, 200);
    let t = token_claims(json!({
        "mercure": {"publish": ["*"]},
        "https://mercure.rocks/": {"subscribe": ["*"]}
    }));
    let r = publish_with(&hub, &[("Authorization", &bearer(&t))], &[("topic", TOPIC)]).await;
    assert_eq!(r.status, 401);
}

/// Publishes with the token in the default cookie and the given headers.
async fn cookie_publish(hub: &Hub, headers: &[(&str, &str)]) -> Reply {
    let cookie = format!("mercureAuthorization={}", publisher());
    let mut h = vec![("Cookie", cookie.as_str())];
    h.extend_from_slice(headers);
    publish_with(hub, &h, &[("topic", TOPIC), ("id", "c")]).await
}

#[tokio::test]
async fn cookie_publishing_needs_an_allowed_origin() {
    let hub = Hub::with_directives("publish_origins https://app.example.com https://*.example.org");
    let r = cookie_publish(&hub, &[]).await;
    assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized\n"));
    assert!(
        hub.wait_log("cookie-authenticated POST without an Origin or Referer header")
            .await
    );

    let r = cookie_publish(&hub, &[("Origin", "https://evil.example.net")]).await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("which is not in publish_origins").await);
    assert!(hub.logs().contains("https://evil.example.net"));

    for (name, value, expected) in [
        ("Origin", "https://app.example.com", 200),
        ("Origin", "http://app.example.com", 401),
        ("Origin", "https://app.example.com:8443", 401),
        ("Referer", "https://app.example.com/some/page?x=1", 200),
        ("Referer", "https://other.example.com/page", 401),
        // Wildcard origin.
        ("Origin", "https://a.example.org", 200),
        ("Origin", "https://a.b.example.org", 200),
        ("Origin", "https://example.org", 401),
        ("Referer", "https://x.example.org/p", 200),
    ] {
        let r = cookie_publish(&hub, &[(name, value)]).await;
        assert_eq!(r.status, expected, "{name}: {value}");
        if expected == 200 {
            assert_eq!(r.body, "c");
        }
    }
    // Origin wins over Referer.
    let r = cookie_publish(
        &hub,
        &[
            ("Origin", "https://evil.example.net"),
            ("Referer", "https://app.example.com/"),
        ],
    )
    .await;
    assert_eq!(r.status, 401);
    // Subscribing with the cookie is not origin-checked.
    let t = token(None, Some(&["*"]));
    let mut s = Sse::open(
        &hub,
        "topic=a",
        &[
            ("Cookie", &format!("mercureAuthorization={t}")),
            ("Origin", "https://evil.example.net"),
        ],
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(s.read_until(":\n", T).await);
    // A header token needs no origin.
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&publisher()))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn publish_origins_star_allows_any_origin() {
    let hub = Hub::with_directives("publish_origins *");
    let r = cookie_publish(&hub, &[("Origin", "https://whatever.example")]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "c"));
    // An origin is still required.
    let r = cookie_publish(&hub, &[]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn rs256_public_key_verifies_rs256_tokens() {
    let public = fixture("rsa_public.pem");
    let private = fixture("rsa_private.pem");
    let hub = HubBuilder::new()
        .env("MERCURE_PUBLISHER_JWT_KEY", &public)
        .env("MERCURE_PUBLISHER_JWT_ALG", "RS256")
        .env("MERCURE_SUBSCRIBER_JWT_KEY", &public)
        .env("MERCURE_SUBSCRIBER_JWT_ALG", "RS256")
        .start();
    let rs = |publish: bool| {
        mint(quicksilver_auth::MintOptions {
            key: private.clone(),
            alg: "RS256".into(),
            publish: publish.then(|| vec!["*".into()]),
            subscribe: Some(vec!["*".into()]),
            ..Default::default()
        })
    };
    let mut s = open(&hub, "", &[("Authorization", &bearer(&rs(false)))]).await;
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&rs(true)))],
        &[("topic", TOPIC), ("id", "rsa"), ("private", "on")],
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "rsa"));
    assert!(s.read_until("id: rsa\n", T).await);

    // HS256 signed with the public key as the secret (algorithm confusion): refused.
    let claims = r#"{"mercure":{"publish":["*"]}}"#;
    let confused = hs256_with_key(public.as_bytes(), claims);
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&confused))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("algorithm HS256 not allowed").await);
    // (The same construction with the right secret is a valid token for an HS256 hub.)
    let hs = Hub::with_directives("");
    let genuine = hs256_with_key(SECRET.as_bytes(), claims);
    let r = publish_with(
        &hs,
        &[("Authorization", &bearer(&genuine))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 200);
    // Another RSA key: refused.
    let other = mint(quicksilver_auth::MintOptions {
        key: fixture("rsa2_private.pem"),
        alg: "RS256".into(),
        publish: Some(vec!["*".into()]),
        ..Default::default()
    });
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&other))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("signature invalid").await);
    // The shared secret of the other tests is not accepted either.
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&publisher()))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn publisher_jwks_file_with_kid() {
    let secret = "a-jwks-secret-of-at-least-32-bytes!";
    let path = temp_path("jwks.json");
    std::fs::write(
        &path,
        json!({"keys": [
            {"kty": "oct", "kid": "k1", "alg": "HS256", "k": b64(secret.as_bytes())},
            {"kty": "oct", "kid": "k2", "alg": "HS256", "k": b64(b"another-secret-another-secret-!!")}
        ]})
        .to_string(),
    )
    .expect("write JWKS");
    let hub = Hub::with_directives(&format!(
        "anonymous\npublisher_jwks_url file://{}",
        path.display()
    ));
    let with = |key: &str, kid: Option<&str>| {
        mint(quicksilver_auth::MintOptions {
            key: key.into(),
            alg: "HS256".into(),
            publish: Some(vec!["*".into()]),
            kid: kid.map(str::to_string),
            ..Default::default()
        })
    };
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&with(secret, Some("k1"))))],
        &[("topic", TOPIC), ("id", "jwks")],
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "jwks"));
    // The right key under the wrong kid, an unknown kid: refused.
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&with(secret, Some("k2"))))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&with(secret, Some("nope"))))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(hub.wait_log("no key with kid nope").await);
    // The JWKS replaces MERCURE_PUBLISHER_JWT_KEY (still set by the harness).
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&publisher()))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn each_role_has_its_own_key() {
    let sub_secret = "a-subscriber-only-secret-0123456789";
    let hub = HubBuilder::new()
        .env("MERCURE_SUBSCRIBER_JWT_KEY", sub_secret)
        .start();
    let sub_token = mint(quicksilver_auth::MintOptions {
        key: sub_secret.into(),
        alg: "HS256".into(),
        publish: Some(vec!["*".into()]),
        subscribe: Some(vec!["*".into()]),
        ..Default::default()
    });
    // The subscriber key does not publish, the publisher key does not subscribe.
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&sub_token))],
        &[("topic", TOPIC)],
    )
    .await;
    assert_eq!(r.status, 401);
    let both = token(Some(&["*"]), Some(&["*"]));
    assert_eq!(
        subscribe_status(&hub, "topic=a", &[("Authorization", &bearer(&both))]).await,
        401
    );
    let mut s = open(&hub, "", &[("Authorization", &bearer(&sub_token))]).await;
    assert!(gets_private(&hub, &mut s, &[TOPIC]).await);
}

#[tokio::test]
async fn without_a_subscriber_key_tokens_are_not_read() {
    // Anonymous-only hub: a subscriber's token (even garbage) is ignored, private updates are
    // never delivered.
    let hub = HubBuilder::new()
        .unset("MERCURE_SUBSCRIBER_JWT_KEY")
        .directives("anonymous")
        .start();
    let garbage = bearer(&"x".repeat(60));
    let mut s = open(&hub, "", &[("Authorization", &garbage)]).await;
    assert!(!gets_private(&hub, &mut s, &[TOPIC]).await);
    let all = bearer(&token(None, Some(&["*"])));
    let mut s = open(&hub, "", &[("Authorization", &all)]).await;
    assert!(!gets_private(&hub, &mut s, &[TOPIC]).await);
}
