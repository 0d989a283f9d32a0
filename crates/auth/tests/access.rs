//! Draft-08 access tokens end to end: `mint_access` / hand-built tokens with
//! real signatures, verified through `Issuers::verify` (static keys and
//! JWKS), one test per rule of the reference's validation order.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, Header};
use quicksilver_auth::{
    AUTHORIZATION_DETAIL_TYPE, AccessClaims, AccessMintOptions, AuthError, DEFAULT_JWKS_ALGORITHMS,
    Grant, Issuer, Issuers, KeySource, Role, Verifier, mint_access,
};
use serde_json::{Value, json};

const ISS: &str = "https://localhost";
const AUD: &str = "https://localhost/.well-known/mercure";
const T: &str = AUTHORIZATION_DETAIL_TYPE;

fn grant(pattern: &str, urlpattern: bool, payload: Option<Value>) -> Grant {
    Grant {
        pattern: pattern.to_owned(),
        urlpattern,
        payload,
    }
}

/// Usual options: HS256 with the test secret, one hour, both actions on `*`.
fn access_opts(key: &str, alg: &str) -> AccessMintOptions {
    AccessMintOptions {
        key: key.to_owned(),
        alg: alg.to_owned(),
        issuer: ISS.to_owned(),
        audience: vec![AUD.to_owned()],
        publish: vec![grant("*", false, None)],
        subscribe: vec![grant("*", false, None)],
        ttl: Some(Duration::from_secs(3600)),
        ..AccessMintOptions::default()
    }
}

fn mint_access_ok(opts: &AccessMintOptions) -> String {
    mint_access(opts).unwrap_or_else(|e| panic!("mint_access failed: {e}"))
}

fn issuer(id: &str, publisher: Option<Verifier>, subscriber: Option<Verifier>) -> Issuer {
    Issuer {
        id: id.to_owned(),
        publisher,
        subscriber,
        authorization_server: false,
    }
}

fn issuers(list: Vec<Issuer>) -> Issuers {
    Issuers::new(list).unwrap_or_else(|e| panic!("issuers: {e}"))
}

/// One issuer `ISS` whose publisher and subscriber share the test secret.
async fn hmac_issuers() -> Issuers {
    let v = static_verifier(SECRET, "HS256").await;
    issuers(vec![issuer(ISS, Some(v.clone()), Some(v))])
}

async fn verify(set: &Issuers, token: &str, role: Role) -> Result<AccessClaims, AuthError> {
    set.verify(token, role, AUD).await
}

async fn ok(set: &Issuers, token: &str, role: Role) -> AccessClaims {
    verify(set, token, role)
        .await
        .unwrap_or_else(|e| panic!("verification failed: {e}"))
}

async fn err(set: &Issuers, token: &str, role: Role) -> AuthError {
    match verify(set, token, role).await {
        Ok(c) => panic!("unexpectedly verified: {c:?}"),
        Err(e) => e,
    }
}

fn at_header() -> Value {
    json!({"alg": "HS256", "typ": "at+jwt"})
}

/// The usual claim set, with `extra` merged in (`null` values remove).
fn claims(extra: Value) -> Value {
    let mut base = json!({
        "iss": ISS,
        "aud": AUD,
        "exp": now() + 3600,
        "authorization_details": [
            {"type": T, "actions": ["publish", "subscribe"], "topics": [{"match": "*"}]}
        ],
    });
    if let (Some(map), Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (k, v) in extra {
            if v.is_null() {
                map.remove(&k);
            } else {
                map.insert(k, v);
            }
        }
    }
    base
}

/// An HS256 token over `claims(extra)` with the `at+jwt` header.
fn hs256(extra: Value) -> String {
    raw_token(&at_header(), &claims(extra), Some(SECRET.as_bytes()))
}

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

/// A scratch file that is removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, content: &str) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!(
            "quicksilver-auth-access-{}-{n}-{name}.json",
            std::process::id()
        ));
        std::fs::write(&path, content).expect("write temp file");
        TempFile(path)
    }
    fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn jwks_verifier(url: &str, algs: Option<&[&str]>) -> Verifier {
    let algs = algs.map(|a| a.iter().map(|s| (*s).to_owned()).collect());
    Verifier::with_algorithms(
        KeySource::Jwks {
            url: url.to_owned(),
        },
        algs,
    )
    .await
    .unwrap_or_else(|e| panic!("JWKS verifier: {e}"))
}

// ----- positive paths -----

#[tokio::test]
async fn reference_conformance_token_is_accepted() {
    // Appendix B: the token of the reference's draft-08 conformance suite
    // (no sub, client_id, iat or jti; aud is the derived identifier).
    let token = raw_token(
        &at_header(),
        &json!({
            "aud": AUD,
            "iss": ISS,
            "authorization_details": [
                {"type": T, "actions": ["publish"], "topics": [{"match": "*"}]},
                {"type": T, "actions": ["subscribe"], "topics": [{"match": "*"}]}
            ],
            "exp": 4_102_444_800u64
        }),
        Some(SECRET.as_bytes()),
    );
    let set = hmac_issuers().await;
    for role in [Role::Publisher, Role::Subscriber] {
        let c = ok(&set, &token, role).await;
        assert_eq!(
            c,
            AccessClaims {
                publish: vec![grant("*", false, None)],
                subscribe: vec![grant("*", false, None)],
                exp: 4_102_444_800,
            }
        );
    }
}

#[tokio::test]
async fn minted_grants_round_trip_in_order() {
    let mut o = access_opts(SECRET, "HS256");
    o.publish = vec![
        grant("https://example.com/books/1", false, None),
        grant("https://example.com/books/:id", true, None),
    ];
    o.subscribe = vec![
        grant(
            "https://example.com/users/42/*",
            true,
            Some(json!({"user": 42})),
        ),
        grant("https://example.com/a", false, Some(json!({"user": 42}))),
        grant("/.well-known/mercure/subscriptions/:t/:m/:s", true, None),
        grant("https://example.com/b", false, Some(json!("other"))),
    ];
    let token = mint_access_ok(&o);
    let c = ok(&hmac_issuers().await, &token, Role::Subscriber).await;
    assert_eq!(c.publish, o.publish);
    assert_eq!(c.subscribe, o.subscribe);
    let exp = now() + 3600;
    assert!((exp - 1..=exp + 1).contains(&c.exp), "{}", c.exp);
}

#[tokio::test]
async fn every_static_algorithm_family() {
    for (private, public, alg) in [
        ("rsa_private.pem", "rsa_public.pem", "RS256"),
        ("rsa_private.pem", "rsa_public.pem", "PS384"),
        ("ec256_private.pem", "ec256_public.pem", "ES256"),
        ("ec384_private.pem", "ec384_public.pem", "ES384"),
        ("ed25519_private.pem", "ed25519_public.pem", "EdDSA"),
    ] {
        let v = static_verifier(&fixture(public), alg).await;
        let set = issuers(vec![issuer(ISS, Some(v), None)]);
        let token = mint_access_ok(&access_opts(&fixture(private), alg));
        let c = ok(&set, &token, Role::Publisher).await;
        assert_eq!(c.publish, vec![grant("*", false, None)], "{alg}");
    }
}

#[tokio::test]
async fn typ_variants_accepted() {
    let set = hmac_issuers().await;
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+jwt",
    ] {
        let token = raw_token(
            &json!({"alg": "HS256", "typ": typ}),
            &claims(json!({})),
            Some(SECRET.as_bytes()),
        );
        ok(&set, &token, Role::Publisher).await;
    }
}

#[tokio::test]
async fn aud_array_and_optional_claims() {
    let set = hmac_issuers().await;
    let token = hs256(json!({"aud": ["https://api.example", AUD]}));
    ok(&set, &token, Role::Subscriber).await;
    // sub, client_id, iat and jti are not required, but accepted.
    let token = hs256(json!({"sub": "u", "client_id": "c", "iat": now(), "jti": "urn:x"}));
    ok(&set, &token, Role::Subscriber).await;
}

#[tokio::test]
async fn absent_authorization_details_is_valid_without_grants() {
    let set = hmac_issuers().await;
    for extra in [
        json!({"authorization_details": null}),
        json!({"authorization_details": []}),
    ] {
        let c = ok(&set, &hs256(extra), Role::Subscriber).await;
        assert!(c.publish.is_empty() && c.subscribe.is_empty());
    }
}

#[tokio::test]
async fn foreign_detail_types_are_ignored() {
    let set = hmac_issuers().await;
    let token = hs256(json!({"authorization_details": [
        {"type": "payment_initiation", "actions": ["initiate"], "topics": "free-form"},
        {"type": "mercure", "actions": ["publish"], "topics": [{"match": "*"}]},
        {"type": T, "actions": ["subscribe", "future-action"], "topics": [{"match": "x"}],
         "payload": {"a": 1}},
    ]}));
    let c = ok(&set, &token, Role::Subscriber).await;
    assert!(c.publish.is_empty());
    assert_eq!(c.subscribe, vec![grant("x", false, Some(json!({"a": 1})))]);
}

// ----- header checks -----

#[tokio::test]
async fn wrong_typ_is_refused() {
    let set = hmac_issuers().await;
    for header in [
        json!({"alg": "HS256", "typ": "JWT"}),
        json!({"alg": "HS256"}),
        json!({"alg": "HS256", "typ": "application/jwt"}),
        json!({"alg": "HS256", "typ": "at+jwt+x"}),
    ] {
        let token = raw_token(&header, &claims(json!({})), Some(SECRET.as_bytes()));
        let e = err(&set, &token, Role::Publisher).await;
        assert!(
            matches!(e, AuthError::InvalidTokenType { .. }),
            "{header}: {e}"
        );
    }
    // A draft-07 token minted with the hub's own key is not an access token.
    let draft07 = mint_ok(&opts(SECRET, "HS256"));
    let e = err(&set, &draft07, Role::Publisher).await;
    assert_eq!(
        e.to_string(),
        r#"typ header must be "at+jwt" or "application/at+jwt", got "JWT""#
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let set = hmac_issuers().await;
    for alg in ["none", "None"] {
        let token = raw_token(
            &json!({"alg": alg, "typ": "at+jwt"}),
            &claims(json!({})),
            None,
        );
        let e = err(&set, &token, Role::Publisher).await;
        assert!(matches!(e, AuthError::AlgorithmNotAllowed { .. }), "{e}");
    }
}

#[tokio::test]
async fn hs256_token_against_rs256_verifier_is_refused() {
    // Key confusion: HS256 signed with the public PEM text as the secret.
    let public = fixture("rsa_public.pem");
    let v = static_verifier(&public, "RS256").await;
    let set = issuers(vec![issuer(ISS, Some(v.clone()), Some(v))]);
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    let forged = sign_raw(
        &header,
        &claims(json!({})),
        &encoding_key(&public, Algorithm::HS256),
    );
    let e = err(&set, &forged, Role::Publisher).await;
    assert_eq!(
        e.to_string(),
        "algorithm HS256 not allowed: this verifier accepts RS256"
    );
    // Another algorithm of the same family is refused too (pinned exactly).
    let token = mint_access_ok(&access_opts(&fixture("rsa_private.pem"), "PS256"));
    assert!(matches!(
        err(&set, &token, Role::Publisher).await,
        AuthError::AlgorithmNotAllowed { .. }
    ));
}

#[tokio::test]
async fn token_supplied_keys_are_never_used() {
    // The attacker signs with their own key and ships its public half in the
    // `jwk` header, plus `jku` / `x5u` pointers; none of them is consulted.
    let attacker = fixture("rsa2_private.pem");
    let attacker_key = encoding_key(&attacker, Algorithm::RS256);
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("at+jwt".to_owned());
    header.jwk = Some(Jwk::from_encoding_key(&attacker_key, Algorithm::RS256).expect("jwk"));
    header.jku = Some("https://attacker.example/jwks.json".to_owned());
    header.x5u = Some("https://attacker.example/cert.pem".to_owned());
    let forged = sign_raw(&header, &claims(json!({})), &attacker_key);

    let v = static_verifier(&fixture("rsa_public.pem"), "RS256").await;
    let set = issuers(vec![issuer(ISS, Some(v), None)]);
    assert!(matches!(
        err(&set, &forged, Role::Publisher).await,
        AuthError::SignatureInvalid
    ));

    // Same with a JWKS verifier (no kid: every RSA key of the set is tried).
    let file = TempFile::new(
        "jwk-header",
        &jwks(&[jwk(
            &fixture("rsa_private.pem"),
            Algorithm::RS256,
            Some("k1"),
            true,
        )]),
    );
    let v = jwks_verifier(&file.url(), None).await;
    let set = issuers(vec![issuer(ISS, Some(v), None)]);
    assert!(matches!(
        err(&set, &forged, Role::Publisher).await,
        AuthError::SignatureInvalid
    ));
    // The header key is valid: the same token verifies against it, so the
    // refusals above are really about where the key comes from.
    let own = static_verifier(&fixture("rsa2_public.pem"), "RS256").await;
    let set = issuers(vec![issuer(ISS, Some(own), None)]);
    ok(&set, &forged, Role::Publisher).await;
}

// ----- issuer selection -----

#[tokio::test]
async fn unknown_or_missing_issuer_is_refused() {
    let set = hmac_issuers().await;
    let e = err(
        &set,
        &hs256(json!({"iss": "https://evil"})),
        Role::Publisher,
    )
    .await;
    assert_eq!(e.to_string(), r#"untrusted issuer "https://evil""#);
    // Exact comparison: no trailing-slash or case normalisation.
    for iss in ["https://localhost/", "HTTPS://localhost"] {
        let e = err(&set, &hs256(json!({"iss": iss})), Role::Publisher).await;
        assert!(matches!(e, AuthError::UntrustedIssuer { .. }), "{e}");
    }
    let e = err(&set, &hs256(json!({"iss": null})), Role::Publisher).await;
    assert!(matches!(e, AuthError::MissingClaim { claim: "iss" }), "{e}");
    let e = err(&set, &hs256(json!({"iss": 7})), Role::Publisher).await;
    assert!(
        matches!(e, AuthError::InvalidRegisteredClaim { claim: "iss", .. }),
        "{e}"
    );
}

#[tokio::test]
async fn issuer_without_that_role_is_refused() {
    let v = static_verifier(SECRET, "HS256").await;
    let set = issuers(vec![issuer(ISS, None, Some(v))]);
    assert!(set.has(Role::Subscriber) && !set.has(Role::Publisher));
    let token = hs256(json!({}));
    ok(&set, &token, Role::Subscriber).await;
    let e = err(&set, &token, Role::Publisher).await;
    assert_eq!(
        e.to_string(),
        r#"issuer "https://localhost" is not trusted for publisher tokens"#
    );
}

#[tokio::test]
async fn keys_are_not_pooled_across_issuers_or_roles() {
    let a_pub = static_verifier("issuer-a-publisher-secret", "HS256").await;
    let a_sub = static_verifier("issuer-a-subscriber-secret", "HS256").await;
    let b = static_verifier("issuer-b-secret", "HS256").await;
    let set = issuers(vec![
        issuer("https://a", Some(a_pub), Some(a_sub)),
        issuer("https://b", Some(b.clone()), Some(b)),
    ]);
    let token = |secret: &str, iss: &str| {
        let mut o = access_opts(secret, "HS256");
        o.issuer = iss.to_owned();
        mint_access_ok(&o)
    };

    ok(
        &set,
        &token("issuer-a-publisher-secret", "https://a"),
        Role::Publisher,
    )
    .await;
    ok(
        &set,
        &token("issuer-b-secret", "https://b"),
        Role::Publisher,
    )
    .await;
    // B's key signing a token claiming to come from A.
    let e = err(
        &set,
        &token("issuer-b-secret", "https://a"),
        Role::Publisher,
    )
    .await;
    assert!(matches!(e, AuthError::SignatureInvalid), "{e}");
    // A's subscriber key does not verify A's publisher tokens.
    let e = err(
        &set,
        &token("issuer-a-subscriber-secret", "https://a"),
        Role::Publisher,
    )
    .await;
    assert!(matches!(e, AuthError::SignatureInvalid), "{e}");
    ok(
        &set,
        &token("issuer-a-subscriber-secret", "https://a"),
        Role::Subscriber,
    )
    .await;
}

// ----- registered claims -----

#[tokio::test]
async fn exp_is_required_and_enforced() {
    let set = hmac_issuers().await;
    let e = err(&set, &hs256(json!({"exp": null})), Role::Subscriber).await;
    assert_eq!(e.to_string(), "the exp claim is required");

    let e = err(
        &set,
        &hs256(json!({"exp": 1_767_323_045u64})),
        Role::Subscriber,
    )
    .await;
    assert!(
        matches!(e, AuthError::Expired { exp: 1_767_323_045 }),
        "{e}"
    );

    // No leeway: expired from the exp second on.
    let e = err(&set, &hs256(json!({"exp": now()})), Role::Subscriber).await;
    assert!(matches!(e, AuthError::Expired { .. }), "{e}");

    // mint_access without ttl writes no exp: refused.
    let mut o = access_opts(SECRET, "HS256");
    o.ttl = None;
    let e = err(&set, &mint_access_ok(&o), Role::Subscriber).await;
    assert!(matches!(e, AuthError::MissingClaim { claim: "exp" }), "{e}");
}

#[tokio::test]
async fn nbf_in_the_future_is_refused() {
    let set = hmac_issuers().await;
    let e = err(&set, &hs256(json!({"nbf": now() + 60})), Role::Subscriber).await;
    assert!(matches!(e, AuthError::NotYetValid { .. }), "{e}");
    ok(&set, &hs256(json!({"nbf": now() - 1})), Role::Subscriber).await;
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let set = hmac_issuers().await;
    for aud in [
        json!("https://localhost/.well-known/mercure/"),
        json!("https://example.com/.well-known/mercure"),
        json!(["https://a", "https://b"]),
        json!([]),
    ] {
        let e = err(&set, &hs256(json!({"aud": aud})), Role::Subscriber).await;
        assert!(
            matches!(e, AuthError::AudienceMismatch { .. }),
            "{aud}: {e}"
        );
    }
    let e = err(&set, &hs256(json!({"aud": null})), Role::Subscriber).await;
    assert_eq!(
        e.to_string(),
        r#"aud claim null does not contain "https://localhost/.well-known/mercure""#
    );
    // The audience is the caller's (per-request) resource identifier.
    let token = hs256(json!({}));
    let e = set
        .verify(
            &token,
            Role::Subscriber,
            "https://hub.example/.well-known/mercure",
        )
        .await
        .err();
    assert!(matches!(e, Some(AuthError::AudienceMismatch { .. })));
}

#[tokio::test]
async fn tampered_and_malformed_tokens() {
    let set = hmac_issuers().await;
    let token = hs256(json!({}));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = b64(claims(json!({"aud": ["https://other", AUD]}))
        .to_string()
        .as_bytes());
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    assert!(matches!(
        err(&set, &forged, Role::Subscriber).await,
        AuthError::SignatureInvalid
    ));
    for bad in ["", "a.b", "a.b.c.d", "e30.e30.sig"] {
        assert!(
            matches!(
                err(&set, bad, Role::Subscriber).await,
                AuthError::Malformed(_)
            ),
            "{bad}"
        );
    }
    // Claims that are not an object.
    let token = raw_token(&at_header(), &json!([1]), Some(SECRET.as_bytes()));
    assert!(matches!(
        err(&set, &token, Role::Subscriber).await,
        AuthError::Malformed(_)
    ));
}

// ----- authorization_details -----

#[tokio::test]
async fn malformed_authorization_details_reject_the_whole_token() {
    let set = hmac_issuers().await;
    let good = json!({"type": T, "actions": ["publish"], "topics": [{"match": "*"}]});
    let cases = [
        json!({"not": "an array"}),
        json!(["a string entry"]),
        json!([{"type": 1}]),
        json!([good, {"type": T, "topics": [{"match": "x"}]}]),
        json!([{"type": T, "actions": [], "topics": [{"match": "x"}]}]),
        json!([{"type": T, "actions": "publish", "topics": [{"match": "x"}]}]),
        json!([{"type": T, "actions": ["publish", 2], "topics": [{"match": "x"}]}]),
        json!([{"type": T, "actions": ["publish"]}]),
        json!([{"type": T, "actions": ["publish"], "topics": []}]),
        json!([{"type": T, "actions": ["publish"], "topics": ["https://example.com/x"]}]),
        json!([{"type": T, "actions": ["publish"], "topics": [null]}]),
        json!([{"type": T, "actions": ["publish"], "topics": [{"match_type": "exact"}]}]),
        json!([{"type": T, "actions": ["publish"], "topics": [{"match": ""}]}]),
        json!([{"type": T, "actions": ["publish"], "topics": [{"match": ["x"]}]}]),
        json!([{"type": T, "actions": ["publish"], "topics": [{"match": "x", "match_type": "template"}]}]),
        json!([{"type": T, "actions": ["publish"], "topics": [{"match": "x", "match_type": "Exact"}]}]),
    ];
    for details in cases {
        let token = hs256(json!({ "authorization_details": details }));
        let e = err(&set, &token, Role::Publisher).await;
        assert!(
            matches!(e, AuthError::InvalidAuthorizationDetails(_)),
            "{details}: {e}"
        );
        assert!(e.is_token_error());
    }
}

#[tokio::test]
async fn authorization_details_caps() {
    let set = hmac_issuers().await;
    let one = json!({"type": T, "actions": ["subscribe"], "topics": [{"match": "x"}]});
    let at_cap = vec![one.clone(); 100];
    let c = ok(
        &set,
        &hs256(json!({"authorization_details": at_cap})),
        Role::Subscriber,
    )
    .await;
    assert_eq!(c.subscribe.len(), 100);

    let over = vec![one; 101];
    let e = err(
        &set,
        &hs256(json!({"authorization_details": over})),
        Role::Subscriber,
    )
    .await;
    assert_eq!(
        e.to_string(),
        "too many Mercure authorization details (at most 100 allowed)"
    );

    let topics: Vec<Value> = (0..51).map(|i| json!({"match": format!("t{i}")})).collect();
    let detail = json!({"type": T, "actions": ["publish"], "topics": topics});
    let token = hs256(json!({"authorization_details": [detail.clone(), detail]}));
    let e = err(&set, &token, Role::Publisher).await;
    assert!(
        matches!(e, AuthError::TooManyTopicMatchers { max: 100 }),
        "{e}"
    );
}

// ----- JWKS algorithm allowlist -----

#[tokio::test]
async fn jwks_default_allowlist() {
    let file = TempFile::new(
        "default-list",
        &jwks(&[
            jwk(
                &fixture("rsa_private.pem"),
                Algorithm::RS256,
                Some("rsa"),
                false,
            ),
            jwk(
                &fixture("ec256_private.pem"),
                Algorithm::ES256,
                Some("ec"),
                true,
            ),
            jwk(
                &fixture("ed25519_private.pem"),
                Algorithm::EdDSA,
                Some("ed"),
                false,
            ),
            jwk(SECRET, Algorithm::HS256, Some("oct"), true),
        ]),
    );
    let v = jwks_verifier(&file.url(), None).await;
    assert_eq!(
        v.describe(),
        format!(
            "JWKS {} ({})",
            file.url(),
            DEFAULT_JWKS_ALGORITHMS.join(", ")
        )
    );
    let set = issuers(vec![issuer(ISS, Some(v), None)]);

    for (private, alg, kid) in [
        ("rsa_private.pem", "RS256", "rsa"),
        ("rsa_private.pem", "PS512", "rsa"),
        ("ec256_private.pem", "ES256", "ec"),
        ("ed25519_private.pem", "EdDSA", "ed"),
    ] {
        let mut o = access_opts(&fixture(private), alg);
        o.kid = Some(kid.to_owned());
        ok(&set, &mint_access_ok(&o), Role::Publisher).await;
    }

    // HMAC is not in the default list, even with a matching oct key.
    let mut o = access_opts(SECRET, "HS256");
    o.kid = Some("oct".to_owned());
    let e = err(&set, &mint_access_ok(&o), Role::Publisher).await;
    assert_eq!(
        e.to_string(),
        format!(
            "algorithm HS256 not allowed: JWKS {} accepts {}",
            file.url(),
            DEFAULT_JWKS_ALGORITHMS.join(", ")
        )
    );
    let none = raw_token(
        &json!({"alg": "none", "typ": "at+jwt"}),
        &claims(json!({})),
        None,
    );
    assert!(matches!(
        err(&set, &none, Role::Publisher).await,
        AuthError::AlgorithmNotAllowed { .. }
    ));
}

#[tokio::test]
async fn jwks_configured_allowlist_and_key_type() {
    let file = TempFile::new(
        "configured-list",
        &jwks(&[
            jwk(
                &fixture("rsa_private.pem"),
                Algorithm::RS256,
                Some("rsa"),
                false,
            ),
            jwk(
                &fixture("ec256_private.pem"),
                Algorithm::ES256,
                Some("ec"),
                true,
            ),
            jwk(SECRET, Algorithm::HS256, Some("oct"), true),
        ]),
    );
    let v = jwks_verifier(&file.url(), Some(&["ES256", "HS256", "PS256"])).await;
    assert_eq!(
        v.describe(),
        format!("JWKS {} (ES256, HS256, PS256)", file.url())
    );
    let set = issuers(vec![issuer(ISS, None, Some(v))]);
    let with_kid = |key: &str, alg: &str, kid: &str| {
        let mut o = access_opts(key, alg);
        o.kid = Some(kid.to_owned());
        mint_access_ok(&o)
    };

    ok(
        &set,
        &with_kid(&fixture("ec256_private.pem"), "ES256", "ec"),
        Role::Subscriber,
    )
    .await;
    ok(
        &set,
        &with_kid(&fixture("rsa_private.pem"), "PS256", "rsa"),
        Role::Subscriber,
    )
    .await;
    ok(&set, &with_kid(SECRET, "HS256", "oct"), Role::Subscriber).await;

    // RS256 fits the RSA key but is not listed.
    let e = err(
        &set,
        &with_kid(&fixture("rsa_private.pem"), "RS256", "rsa"),
        Role::Subscriber,
    )
    .await;
    assert!(
        matches!(&e, AuthError::AlgorithmNotAllowed { accepted_by, .. } if accepted_by.starts_with("JWKS ")),
        "{e}"
    );
    // Listed, but the kid names a key of another type.
    let e = err(
        &set,
        &with_kid(&fixture("ec256_private.pem"), "ES256", "rsa"),
        Role::Subscriber,
    )
    .await;
    assert!(
        matches!(&e, AuthError::AlgorithmNotAllowed { accepted_by, .. } if accepted_by.starts_with("key rsa")),
        "{e}"
    );
    // HS256 signed with the RSA public key, naming the RSA key: refused by
    // the key type even though HS256 is listed.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some("rsa".to_owned());
    let forged = sign_raw(
        &header,
        &claims(json!({})),
        &encoding_key(&fixture("rsa_public.pem"), Algorithm::HS256),
    );
    assert!(matches!(
        err(&set, &forged, Role::Subscriber).await,
        AuthError::AlgorithmNotAllowed { .. }
    ));
}

fn names(algs: &[&str]) -> Vec<String> {
    algs.iter().map(|a| (*a).to_owned()).collect()
}

async fn new_err(source: KeySource, algs: Option<Vec<String>>) -> AuthError {
    match Verifier::with_algorithms(source, algs).await {
        Ok(v) => panic!("unexpectedly built: {v:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn algorithm_list_configuration_errors() {
    let file = TempFile::new(
        "list-errors",
        &jwks(&[jwk(
            &fixture("rsa_private.pem"),
            Algorithm::RS256,
            Some("rsa"),
            true,
        )]),
    );
    let jwks_source = || KeySource::Jwks { url: file.url() };
    let e = new_err(jwks_source(), Some(names(&[]))).await;
    assert!(matches!(e, AuthError::InvalidAlgorithmList(_)), "{e}");
    for bad in ["ES512", "none", "rs256"] {
        let e = new_err(jwks_source(), Some(names(&["RS256", bad]))).await;
        assert!(
            matches!(e, AuthError::UnsupportedAlgorithm { .. }),
            "{bad}: {e}"
        );
    }
    let static_source = KeySource::Static {
        key: SECRET.to_owned(),
        alg: "HS256".to_owned(),
    };
    let e = new_err(static_source, Some(names(&["HS256"]))).await;
    assert!(matches!(e, AuthError::InvalidAlgorithmList(_)), "{e}");
    assert!(!e.is_token_error());

    // Static keys: a PEM key needs a non-HMAC algorithm (the default HS256
    // refuses it), exactly as for draft-07.
    let pem = KeySource::Static {
        key: fixture("rsa_public.pem"),
        alg: String::new(),
    };
    let e = new_err(pem, None).await;
    assert!(matches!(e, AuthError::InvalidKey { .. }), "{e}");

    // A static key without a list behaves as Verifier::new.
    let v = Verifier::with_algorithms(
        KeySource::Static {
            key: SECRET.to_owned(),
            alg: String::new(),
        },
        None,
    )
    .await
    .expect("static verifier");
    assert_eq!(v.describe(), "HS256 key");
}

#[tokio::test]
async fn draft07_jwks_verifier_is_unrestricted() {
    // Verifier::new keeps the draft-07 behaviour: every algorithm the keys
    // support, including HMAC from oct keys.
    let file = TempFile::new(
        "draft07",
        &jwks(&[jwk(SECRET, Algorithm::HS256, Some("oct"), true)]),
    );
    let v = Verifier::new(KeySource::Jwks { url: file.url() })
        .await
        .expect("JWKS verifier");
    assert_eq!(v.describe(), format!("JWKS {}", file.url()));
    assert_foo_claims(&verify_ok(&v, &mint_with_kid(SECRET, "HS256", Some("oct"))).await);
}

// ----- issuers set -----

#[tokio::test]
async fn issuers_metadata_helpers() {
    let v = static_verifier(SECRET, "HS256").await;
    let set = issuers(vec![
        Issuer {
            authorization_server: true,
            ..issuer("https://as.example", Some(v.clone()), None)
        },
        issuer("https://self", None, None),
        Issuer {
            authorization_server: true,
            ..issuer("https://as2.example", None, Some(v))
        },
    ]);
    assert_eq!(
        set.authorization_servers(),
        vec!["https://as.example", "https://as2.example"]
    );
    assert!(set.has(Role::Publisher) && set.has(Role::Subscriber));
    let e = Issuers::new(vec![issuer("x", None, None), issuer("x", None, None)]).err();
    assert!(matches!(e, Some(AuthError::InvalidIssuerConfig(_))));
}

// ----- mint_access -----

#[test]
fn mint_access_layout() {
    let token = mint_access_ok(&AccessMintOptions {
        key: SECRET.to_owned(),
        issuer: ISS.to_owned(),
        audience: vec![AUD.to_owned()],
        subject: Some("urn:user:1".to_owned()),
        client_id: Some("cli".to_owned()),
        publish: vec![grant("https://example.com/:id", true, None)],
        subscribe: vec![
            grant("a", false, Some(json!({"u": 1}))),
            grant("b", true, Some(json!({"u": 1}))),
        ],
        ttl: Some(Duration::from_secs(60)),
        kid: Some("k1".to_owned()),
        ..AccessMintOptions::default()
    });
    assert_eq!(
        decode_part(&token, 0),
        json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
    );
    let mut c = decode_part(&token, 1);
    let iat = c["iat"].as_u64().expect("iat");
    let exp = c["exp"].as_u64().expect("exp");
    assert!(iat <= now() && exp >= now() + 59 && exp <= now() + 61);
    let map = c.as_object_mut().expect("object");
    map.remove("iat");
    map.remove("exp");
    assert_eq!(
        c,
        json!({
            "iss": ISS,
            "aud": AUD,
            "sub": "urn:user:1",
            "client_id": "cli",
            "authorization_details": [
                {"type": T, "actions": ["publish"],
                 "topics": [{"match": "https://example.com/:id", "match_type": "urlpattern"}]},
                {"type": T, "actions": ["subscribe"],
                 "topics": [{"match": "a"}, {"match": "b", "match_type": "urlpattern"}],
                 "payload": {"u": 1}},
            ]
        })
    );
}

#[test]
fn mint_access_several_audiences_and_omitted_fields() {
    let token = mint_access_ok(&AccessMintOptions {
        key: SECRET.to_owned(),
        audience: vec!["https://a".to_owned(), "https://b".to_owned()],
        ..AccessMintOptions::default()
    });
    let c = decode_part(&token, 1);
    assert_eq!(c["aud"], json!(["https://a", "https://b"]));
    for absent in ["iss", "sub", "client_id", "exp", "authorization_details"] {
        assert!(c.get(absent).is_none(), "{absent}");
    }

    // Extra claims (e.g. a raw authorization_details for tests) are kept
    // when no grant is given.
    let token = mint_access_ok(&AccessMintOptions {
        key: SECRET.to_owned(),
        extra_claims: claims_with(json!({"jti": "j", "authorization_details": [{"type": "x"}]})),
        ..AccessMintOptions::default()
    });
    let c = decode_part(&token, 1);
    assert_eq!(c["jti"], "j");
    assert_eq!(c["authorization_details"], json!([{"type": "x"}]));
}

#[test]
fn mint_access_key_errors() {
    let pem = fixture("rsa_private.pem");
    let e = mint_access(&access_opts(&pem, ""))
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("requires an explicit algorithm")),
        "{e:?}"
    );
    assert!(matches!(
        mint_access(&access_opts(&pem, "HS256")),
        Err(AuthError::Mint(_))
    ));
    assert!(matches!(
        mint_access(&access_opts(SECRET, "ES512")),
        Err(AuthError::UnsupportedAlgorithm { .. })
    ));
}
