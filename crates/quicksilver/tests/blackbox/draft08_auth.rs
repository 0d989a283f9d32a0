//! Draft-08 authorization, checklist items 31-44 (§1.5, spec §Authorization): where the token
//! comes from (header, cookie, never the URL), the RFC 9068 checks (`typ`, algorithm pinning,
//! `alg=none`, algorithm confusion, `exp`, `nbf`, `aud`, `iss` and per-issuer keys), keys
//! carried by the token, `authorization_details` validation and caps, the RFC 6750 answers
//! (401 bare / `invalid_token`, 400 `invalid_request`, 403 `insufficient_scope`, each with
//! `resource_metadata`), connection close at `exp` and at the write timeout, and the CSRF check
//! of cookie-authenticated publishing.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::draft08_common::*;

const BOOK: &str = "https://example.com/books/1";

/// Details granting publish and subscribe on everything.
fn all_details() -> Value {
    json!([detail(&["publish", "subscribe"], json!([{"match": "*"}]))])
}

/// Opens `GET ?match=BOOK` with `headers`; returns the status and headers (a 200 stream is
/// dropped at once).
async fn sub_status(hub: &Hub, headers: &[(&str, &str)]) -> (u16, String) {
    let s = open_stream(hub, Method::GET, &q(&[("match", BOOK)]), headers, "").await;
    (s.status, s.header("www-authenticate").to_string())
}

/// The token's verdict on both endpoints: (subscribe status, publish status).
async fn verdict(hub: &Hub08, token: &str) -> (u16, u16) {
    let auth = bearer(token);
    let (s, _) = sub_status(hub, &[("Authorization", &auth)]).await;
    let p = pub08(hub, token, &[("topic", BOOK)]).await;
    (s, p.status)
}

/// Both endpoints answer 401 `invalid_token` with the exact challenge.
async fn assert_invalid(hub: &Hub08, token: &str, why: &str) {
    let auth = bearer(token);
    let expected = hub.challenge_err("invalid_token");
    let (s, www) = sub_status(hub, &[("Authorization", &auth)]).await;
    assert_eq!(
        (s, www.as_str()),
        (401, expected.as_str()),
        "subscribe: {why}"
    );
    let p = pub08(hub, token, &[("topic", BOOK)]).await;
    assert_eq!(
        (p.status, p.header("www-authenticate")),
        (401, expected.as_str()),
        "publish: {why}"
    );
}

/// Both endpoints accept the token (which must grant publishing on BOOK).
async fn assert_valid(hub: &Hub08, token: &str, why: &str) {
    assert_eq!(verdict(hub, token).await, (200, 200), "{why}");
}

/// Publishes a private update on BOOK then a public marker; whether `s` got the private one.
async fn gets_private(hub: &Hub08, s: &mut Sse) -> bool {
    s.buf.clear();
    let r = pub08(
        hub,
        &hub.publisher(),
        &[("topic", BOOK), ("private", "on"), ("id", "private")],
    )
    .await;
    assert_eq!(r.status, 200);
    pub08_ok(hub, &[("topic", BOOK), ("id", "public")]).await;
    wait_id(s, "public").await;
    let ids = s.ids();
    s.buf.clear();
    match ids.as_slice() {
        [p] if p == "public" => false,
        [a, p] if a == "private" && p == "public" => true,
        other => panic!("unexpected events {other:?}"),
    }
}

fn cookie(token: &str) -> String {
    format!("{COOKIE}={token}")
}

fn rsa_hub() -> Hub08 {
    let public = fixture("rsa_public.pem");
    Hub08::from_builder(
        HubBuilder::new()
            .env("MERCURE_PUBLISHER_JWT_KEY", &public)
            .env("MERCURE_PUBLISHER_JWT_ALG", "RS256")
            .env("MERCURE_SUBSCRIBER_JWT_KEY", &public)
            .env("MERCURE_SUBSCRIBER_JWT_ALG", "RS256"),
        "",
    )
}

fn pem_key(name: &str, alg: Algorithm) -> EncodingKey {
    let pem = fixture(name);
    match alg {
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .expect("PEM fixture")
}

fn jwk_of(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_string());
    serde_json::to_value(jwk).expect("jwk json")
}

// ---------------------------------------------------------------------------------------------
// 31-32: presentation

#[tokio::test]
async fn c31_bearer_scheme_is_case_insensitive() {
    let hub = Hub08::start("");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {}", hub.subscriber());
        let mut s = sub08_with(&hub, &q(&[("match", BOOK)]), &[("Authorization", &auth)]).await;
        assert!(gets_private(&hub, &mut s).await, "{scheme}");
        let r = publish_with(
            &hub,
            &[("Authorization", &format!("{scheme} {}", hub.publisher()))],
            &[("topic", BOOK)],
        )
        .await;
        assert_eq!(r.status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn c31_the_cookie_carries_the_token() {
    let hub = Hub08::start("anonymous");
    let c = cookie(&hub.subscriber());
    let mut s = sub08_with(&hub, &q(&[("match", BOOK)]), &[("Cookie", &c)]).await;
    assert!(gets_private(&hub, &mut s).await);
    // Among other cookies.
    let c2 = format!("a=b; {c}; c=d");
    let mut s = sub08_with(&hub, &q(&[("match", BOOK)]), &[("Cookie", &c2)]).await;
    assert!(gets_private(&hub, &mut s).await);
    // The draft-07 cookie name is not read in draft-08.
    let legacy = format!("mercureAuthorization={}", hub.subscriber());
    let mut s = sub08_with(&hub, &q(&[("match", BOOK)]), &[("Cookie", &legacy)]).await;
    assert!(!gets_private(&hub, &mut s).await);
    // An invalid token in the cookie is refused like one in the header.
    let (st, www) = sub_status(&hub, &[("Cookie", &cookie(&"x".repeat(60)))]).await;
    assert_eq!(
        (st, www.as_str()),
        (401, hub.challenge_err("invalid_token").as_str())
    );
}

#[tokio::test]
async fn c31_cookie_name_directive() {
    let hub = Hub08::start("cookie_name my_token");
    let mine = format!("my_token={}", hub.subscriber());
    let mut s = sub08_with(&hub, &q(&[("match", BOOK)]), &[("Cookie", &mine)]).await;
    assert!(gets_private(&hub, &mut s).await);
    let (st, www) = sub_status(&hub, &[("Cookie", &cookie(&hub.subscriber()))]).await;
    assert_eq!((st, www.as_str()), (401, hub.challenge().as_str()));
}

#[tokio::test]
async fn c31_the_header_wins_over_the_cookie() {
    let hub = Hub08::start("");
    let garbage = cookie(&"x".repeat(60));
    let auth = bearer(&hub.subscriber());
    let mut s = sub08_with(
        &hub,
        &q(&[("match", BOOK)]),
        &[("Authorization", &auth), ("Cookie", &garbage)],
    )
    .await;
    assert!(gets_private(&hub, &mut s).await);
    // A bad header is not rescued by a good cookie.
    let good = cookie(&hub.subscriber());
    let bad = bearer(&"x".repeat(60));
    let (st, www) = sub_status(&hub, &[("Authorization", &bad), ("Cookie", &good)]).await;
    assert_eq!(
        (st, www.as_str()),
        (401, hub.challenge_err("invalid_token").as_str())
    );
    // The header's grants are the ones used.
    let weak = bearer(&hub.token(&[], &[]));
    let mut s = sub08_with(
        &hub,
        &q(&[("match", BOOK)]),
        &[("Authorization", &weak), ("Cookie", &good)],
    )
    .await;
    assert!(!gets_private(&hub, &mut s).await);
}

#[tokio::test]
async fn c32_no_token_in_the_url() {
    let hub = Hub08::start("");
    let t = hub.subscriber();
    for param in ["access_token", "authorization", "jwt", "token"] {
        let r = get08(&hub, &q(&[("match", BOOK), (param, &t)]), &[]).await;
        assert_eq!(
            (r.status, r.header("www-authenticate")),
            (401, hub.challenge().as_str()),
            "{param}"
        );
    }
    let p = hub.publisher();
    let r = request(
        &hub,
        Method::POST,
        &q(&[("authorization", &p), ("access_token", &p)]),
        &[FORM],
        form_body(&[("topic", BOOK)]),
    )
    .await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, hub.challenge().as_str())
    );
    // On an anonymous hub a URL token grants nothing.
    let hub = Hub08::start("anonymous");
    let mut s = sub08(
        &hub,
        &q(&[("match", BOOK), ("access_token", &hub.subscriber())]),
        None,
    )
    .await;
    assert!(!gets_private(&hub, &mut s).await);
}

// ---------------------------------------------------------------------------------------------
// 33: typ and algorithms

#[tokio::test]
async fn c33_typ_must_be_at_jwt() {
    let hub = Hub08::start("");
    let claims = hub.claims(all_details());
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/At+Jwt",
    ] {
        let t = hs256(&json!({"alg": "HS256", "typ": typ}), &claims);
        assert_valid(&hub, &t, typ).await;
    }
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("application/jwt"),
        json!("at+jwt "),
        json!("dpop+jwt"),
        json!(""),
        json!(null),
        json!(["at+jwt"]),
    ] {
        let t = hs256(&json!({"alg": "HS256", "typ": typ}), &claims);
        assert_invalid(&hub, &t, &format!("typ {typ}")).await;
    }
    let t = hs256(&json!({"alg": "HS256"}), &claims);
    assert_invalid(&hub, &t, "no typ").await;
    // A draft-07 token signed with the same key.
    assert_invalid(&hub, &token(Some(&["*"]), Some(&["*"])), "draft-07 token").await;
}

#[tokio::test]
async fn c33_alg_none_is_refused() {
    let hub = Hub08::start("anonymous");
    let claims = hub.claims(all_details());
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "at+jwt"});
        let unsigned = format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        assert_invalid(&hub, &unsigned, alg).await;
        // With a signature part that is some valid HMAC, still refused.
        let signed = hs256(&header, &claims);
        assert_invalid(&hub, &signed, &format!("{alg} with a signature")).await;
    }
}

#[tokio::test]
async fn c33_algorithms_are_pinned_per_verifier() {
    let hub = rsa_hub();
    let claims = hub.claims(all_details());
    let rsa = pem_key("rsa_private.pem", Algorithm::RS256);
    let ok = jws(
        &json!({"alg": "RS256", "typ": "at+jwt"}),
        &claims,
        &rsa,
        Algorithm::RS256,
    );
    assert_valid(&hub, &ok, "RS256 with the issuer's key").await;
    // Through mint_access too.
    let mut o = hub.opts();
    o.key = fixture("rsa_private.pem");
    o.alg = "RS256".into();
    o.publish = vec![ex("*")];
    o.subscribe = vec![ex("*")];
    assert_valid(&hub, &mint08(&o), "minted RS256").await;

    // Algorithm confusion: HS256 keyed with the public key's PEM text.
    let public = fixture("rsa_public.pem");
    let confused = jws(
        &json!({"alg": "HS256", "typ": "at+jwt"}),
        &claims,
        &secret_key(&public),
        Algorithm::HS256,
    );
    assert_invalid(&hub, &confused, "HS256 keyed with the RSA public key").await;
    let hs = hs256(&at_header(), &claims);
    assert_invalid(&hub, &hs, "HS256 with the harness secret").await;
    // The right RSA key under another RSA algorithm than the configured one.
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let name = format!("{alg:?}");
        let t = jws(&json!({"alg": name, "typ": "at+jwt"}), &claims, &rsa, alg);
        assert_invalid(&hub, &t, &name).await;
    }
    // The header lying about the algorithm.
    let lying = jws(
        &json!({"alg": "RS256", "typ": "at+jwt"}),
        &claims,
        &rsa,
        Algorithm::RS384,
    );
    assert_invalid(&hub, &lying, "RS384 signature under an RS256 header").await;
    // Another key type altogether.
    let ec = jws(
        &json!({"alg": "ES256", "typ": "at+jwt"}),
        &claims,
        &pem_key("ec256_private.pem", Algorithm::ES256),
        Algorithm::ES256,
    );
    assert_invalid(&hub, &ec, "ES256").await;
    // Another RSA key.
    let other = jws(
        &json!({"alg": "RS256", "typ": "at+jwt"}),
        &claims,
        &pem_key("rsa2_private.pem", Algorithm::RS256),
        Algorithm::RS256,
    );
    assert_invalid(&hub, &other, "another RSA key").await;
}

#[tokio::test]
async fn c33_hs256_issuer_refuses_other_hmac_algorithms() {
    let hub = Hub08::start("");
    let claims = hub.claims(all_details());
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let name = format!("{alg:?}");
        let t = jws(
            &json!({"alg": name, "typ": "at+jwt"}),
            &claims,
            &secret_key(SECRET),
            alg,
        );
        assert_invalid(&hub, &t, &name).await;
    }
}

#[tokio::test]
async fn c33_jwks_issuer_allowlist() {
    let rsa = pem_key("rsa_private.pem", Algorithm::RS256);
    let ec = pem_key("ec256_private.pem", Algorithm::ES256);
    let oct_secret = "a-jwks-secret-of-at-least-32-bytes!";
    let oct = secret_key(oct_secret);
    let path = temp_path("jwks.json");
    std::fs::write(
        &path,
        json!({"keys": [
            jwk_of(&rsa, Algorithm::RS256, "rsa"),
            jwk_of(&ec, Algorithm::ES256, "ec"),
            jwk_of(&oct, Algorithm::HS256, "oct"),
        ]})
        .to_string(),
    )
    .expect("write JWKS");
    let iss_restricted = "https://restricted.example";
    let iss_default = "https://default.example";
    let directives = format!(
        "issuer {iss_restricted} {{\n\tpublisher {{\n\t\tjwks_uri file://{p} ES256\n\t}}\n\t\
         subscriber {{\n\t\tjwks_uri file://{p} ES256\n\t}}\n}}\n\
         issuer {iss_default} {{\n\tpublisher {{\n\t\tjwks_uri file://{p}\n\t}}\n\t\
         subscriber {{\n\t\tjwks_uri file://{p}\n\t}}\n}}",
        p = path.display()
    );
    let hub = Hub08::start(&directives);
    let sign = |iss: &str, alg: Algorithm, kid: &str, key: &EncodingKey| {
        let mut claims = hub.claims(all_details());
        claims["iss"] = json!(iss);
        jws(
            &json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": kid}),
            &claims,
            key,
            alg,
        )
    };
    // Restricted to ES256.
    assert_valid(
        &hub,
        &sign(iss_restricted, Algorithm::ES256, "ec", &ec),
        "ES256 listed",
    )
    .await;
    assert_invalid(
        &hub,
        &sign(iss_restricted, Algorithm::RS256, "rsa", &rsa),
        "RS256 not listed",
    )
    .await;
    // Default list: the asymmetric algorithms, no HMAC.
    assert_valid(
        &hub,
        &sign(iss_default, Algorithm::RS256, "rsa", &rsa),
        "RS256 default",
    )
    .await;
    assert_valid(
        &hub,
        &sign(iss_default, Algorithm::ES256, "ec", &ec),
        "ES256 default",
    )
    .await;
    assert_invalid(
        &hub,
        &sign(iss_default, Algorithm::HS256, "oct", &oct),
        "HS256 is not in the default list",
    )
    .await;
    // A key used with an algorithm of another family.
    assert_invalid(
        &hub,
        &sign(
            iss_default,
            Algorithm::HS256,
            "rsa",
            &secret_key(&fixture("rsa_public.pem")),
        ),
        "HS256 under an RSA kid",
    )
    .await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn c33_asymmetric_static_keys_es256_and_eddsa() {
    let ec_public = fixture("ec256_public.pem");
    let ed_public = fixture("ed25519_public.pem");
    let hub = Hub08::from_builder(
        HubBuilder::new()
            .env("MERCURE_PUBLISHER_JWT_KEY", &ec_public)
            .env("MERCURE_PUBLISHER_JWT_ALG", "ES256")
            .env("MERCURE_SUBSCRIBER_JWT_KEY", &ec_public)
            .env("MERCURE_SUBSCRIBER_JWT_ALG", "ES256")
            .env("ED_KEY", &ed_public),
        "issuer https://ed.example {\n\tpublisher {\n\t\tjwt {env.ED_KEY} EdDSA\n\t}\n\t\
         subscriber {\n\t\tjwt {env.ED_KEY} EdDSA\n\t}\n}",
    );
    let mint_with = |iss: &str, key: &str, alg: &str| {
        let mut o = hub.opts();
        o.issuer = iss.into();
        o.key = fixture(key);
        o.alg = alg.into();
        o.publish = vec![ex("*")];
        o.subscribe = vec![ex("*")];
        mint08(&o)
    };
    assert_valid(&hub, &mint_with(ISS, "ec256_private.pem", "ES256"), "ES256").await;
    assert_valid(
        &hub,
        &mint_with("https://ed.example", "ed25519_private.pem", "EdDSA"),
        "EdDSA",
    )
    .await;
    // Each issuer's key only.
    assert_invalid(
        &hub,
        &mint_with(ISS, "ed25519_private.pem", "EdDSA"),
        "EdDSA token under the ES256 issuer",
    )
    .await;
    assert_invalid(
        &hub,
        &mint_with("https://ed.example", "ec256_private.pem", "ES256"),
        "ES256 token under the EdDSA issuer",
    )
    .await;
    // Same curve, another key.
    assert_invalid(
        &hub,
        &mint_with(ISS, "ec256b_private.pem", "ES256"),
        "another P-256 key",
    )
    .await;
}

#[tokio::test]
async fn c34_an_issuer_block_named_like_the_environment_issuer_replaces_its_keys() {
    let other = "a-replacement-secret-0123456789abcdef";
    let hub = Hub08::from_builder(
        HubBuilder::new().env("OTHER_KEY", other),
        "issuer https://localhost {\n\tpublisher {\n\t\tjwt {env.OTHER_KEY}\n\t}\n\t\
         subscriber {\n\t\tjwt {env.OTHER_KEY}\n\t}\n}",
    );
    let mut o = hub.opts();
    o.publish = vec![ex("*")];
    o.subscribe = vec![ex("*")];
    assert_invalid(&hub, &mint08(&o), "the environment key is replaced").await;
    o.key = other.into();
    assert_valid(&hub, &mint08(&o), "the block's key").await;
}

// ---------------------------------------------------------------------------------------------
// 34: exp, nbf, aud, iss

#[tokio::test]
async fn c34_exp_is_required_and_enforced_nbf_enforced() {
    let hub = Hub08::start("");
    let base = hub.claims(all_details());
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v;
        }
        hs256(&at_header(), &c)
    };
    assert_valid(&hub, &with("exp", json!(now() + 60)), "exp in a minute").await;
    assert_invalid(&hub, &with("exp", Value::Null), "no exp").await;
    assert_invalid(&hub, &with("exp", json!(now() - 5)), "expired").await;
    assert_invalid(&hub, &with("exp", json!("4102444800")), "exp as a string").await;
    let mut o = hub.opts();
    o.ttl = None;
    o.publish = vec![ex("*")];
    o.subscribe = vec![ex("*")];
    assert_invalid(&hub, &mint08(&o), "minted without ttl").await;
    assert_valid(&hub, &with("nbf", json!(now() - 5)), "nbf passed").await;
    assert_invalid(&hub, &with("nbf", json!(now() + 60)), "nbf in the future").await;
}

#[tokio::test]
async fn c34_aud_must_contain_the_derived_resource_identifier() {
    let hub = Hub08::start("");
    let base = hub.claims(all_details());
    let with_aud = |aud: Value| {
        let mut c = base.clone();
        if aud.is_null() {
            c.as_object_mut().expect("object").remove("aud");
        } else {
            c["aud"] = aud;
        }
        hs256(&at_header(), &c)
    };
    let own = hub.hub_url();
    assert_valid(&hub, &with_aud(json!(own)), "own identifier").await;
    assert_valid(
        &hub,
        &with_aud(json!(["https://other.example/api", own])),
        "array containing it",
    )
    .await;
    for (why, aud) in [
        ("no aud", Value::Null),
        ("empty", json!("")),
        ("empty array", json!([])),
        (
            "another hub",
            json!("https://localhost/.well-known/mercure"),
        ),
        ("trailing slash", json!(format!("{own}/"))),
        (
            "https instead of http",
            json!(own.replacen("http://", "https://", 1)),
        ),
        (
            "another port",
            json!(format!("http://127.0.0.1:1/.well-known/mercure")),
        ),
        ("origin only", json!(hub.base.clone())),
        ("array without it", json!(["https://other.example/api"])),
    ] {
        assert_invalid(&hub, &with_aud(aud), why).await;
    }
}

#[tokio::test]
async fn c34_the_derived_identifier_follows_the_host_but_not_forwarded_headers() {
    let hub = Hub08::start("");
    let host = format!("localhost:{}", hub.port);
    let via_localhost = format!("http://{host}/.well-known/mercure");
    let mut o = hub.opts();
    o.publish = vec![ex("*")];
    o.audience = vec![via_localhost.clone()];
    let t = mint08(&o);
    let auth = bearer(&t);
    let r = publish_with(
        &hub,
        &[("Authorization", &auth), ("Host", &host)],
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(r.status, 200, "aud derived from Host {host}");
    let r = publish_with(&hub, &[("Authorization", &auth)], &[("topic", BOOK)]).await;
    assert_eq!(r.status, 401, "aud of another host");
    // The challenge follows the Host too.
    let r = publish_with(&hub, &[("Host", &host)], &[("topic", BOOK)]).await;
    assert_eq!(
        r.header("www-authenticate"),
        format!("Bearer resource_metadata=\"http://{host}{METADATA_PATH}\"")
    );
    // Forwarding headers from an untrusted client are not believed.
    o.audience = vec!["https://evil.example/.well-known/mercure".into()];
    let evil = bearer(&mint08(&o));
    let forwarded = [
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "host=evil.example;proto=https"),
    ];
    let mut headers = vec![("Authorization", evil.as_str())];
    headers.extend_from_slice(&forwarded);
    let r = publish_with(&hub, &headers, &[("topic", BOOK)]).await;
    assert_eq!(r.status, 401, "aud taken from forwarding headers");
    let r = publish_with(&hub, &forwarded, &[("topic", BOOK)]).await;
    assert_eq!(r.header("www-authenticate"), hub.challenge());
}

#[tokio::test]
async fn c34_aud_must_contain_the_pinned_resource_identifier() {
    let rid = "https://localhost/.well-known/mercure";
    let hub = Hub08::pinned("", rid);
    let mut o = hub.opts();
    o.publish = vec![ex("*")];
    o.subscribe = vec![ex("*")];
    assert_valid(&hub, &mint08(&o), "pinned identifier").await;
    o.audience = vec![hub.hub_url()];
    assert_invalid(&hub, &mint08(&o), "the request-derived identifier").await;
    // The challenges point at the pinned identifier's metadata.
    assert_eq!(
        hub.challenge(),
        "Bearer resource_metadata=\"https://localhost/.well-known/oauth-protected-resource/.well-known/mercure\""
    );
    let (st, www) = sub_status(&hub, &[]).await;
    assert_eq!((st, www.as_str()), (401, hub.challenge().as_str()));
}

#[tokio::test]
async fn c34_iss_must_equal_a_trusted_issuer() {
    let hub = Hub08::start("");
    let base = hub.claims(all_details());
    for (why, iss) in [
        ("no iss", Value::Null),
        ("unknown", json!("https://evil.example")),
        ("trailing slash", json!("https://localhost/")),
        ("case", json!("HTTPS://LOCALHOST")),
        ("empty", json!("")),
        ("not a string", json!(["https://localhost"])),
    ] {
        let mut c = base.clone();
        if iss.is_null() {
            c.as_object_mut().expect("object").remove("iss");
        } else {
            c["iss"] = iss;
        }
        assert_invalid(&hub, &hs256(&at_header(), &c), why).await;
    }
}

#[tokio::test]
async fn c34_trusted_issuers_env_names_the_environment_keys_issuer() {
    let hub = Hub08::from_builder(
        HubBuilder::new().env("MERCURE_TRUSTED_ISSUERS", "https://auth.example"),
        "",
    );
    let mut o = hub.opts();
    o.publish = vec![ex("*")];
    o.subscribe = vec![ex("*")];
    o.issuer = "https://auth.example".into();
    assert_valid(&hub, &mint08(&o), "the configured issuer").await;
    o.issuer = ISS.into();
    assert_invalid(&hub, &mint08(&o), "the default issuer is replaced").await;
}

#[tokio::test]
async fn c34_only_the_named_issuers_keys_verify_its_tokens() {
    let other_secret = "another-issuer-secret-0123456789abcdef";
    let sub_only_secret = "a-subscriber-only-issuer-secret-012345";
    let hub = Hub08::from_builder(
        HubBuilder::new()
            .env("IDP_KEY", other_secret)
            .env("SUB_ONLY_KEY", sub_only_secret),
        "issuer https://idp.example {\n\tauthorization_server\n\tpublisher {\n\t\tjwt {env.IDP_KEY}\n\t}\n\t\
         subscriber {\n\t\tjwt {env.IDP_KEY} HS256\n\t}\n}\n\
         issuer https://sub-only.example {\n\tsubscriber {\n\t\tjwt {env.SUB_ONLY_KEY}\n\t}\n}",
    );
    let mint_as = |iss: &str, key: &str| {
        let mut o = hub.opts();
        o.issuer = iss.into();
        o.key = key.into();
        o.publish = vec![ex("*")];
        o.subscribe = vec![ex("*")];
        mint08(&o)
    };
    assert_valid(&hub, &mint_as("https://idp.example", other_secret), "idp").await;
    assert_valid(&hub, &mint_as(ISS, SECRET), "env issuer").await;
    assert_invalid(
        &hub,
        &mint_as("https://idp.example", SECRET),
        "idp's iss signed with the env issuer's key",
    )
    .await;
    assert_invalid(
        &hub,
        &mint_as(ISS, other_secret),
        "env iss signed with idp's key",
    )
    .await;
    // A role without a verifier: the subscriber-only issuer cannot authorize publishing.
    let t = mint_as("https://sub-only.example", sub_only_secret);
    let (s, p) = verdict(&hub, &t).await;
    assert_eq!((s, p), (200, 401));
    let r = pub08(&hub, &t, &[("topic", BOOK)]).await;
    assert_eq!(
        r.header("www-authenticate"),
        hub.challenge_err("invalid_token")
    );
}

// ---------------------------------------------------------------------------------------------
// 35: keys supplied by the token

#[tokio::test]
async fn c35_keys_carried_by_the_token_are_never_used() {
    let hub = rsa_hub();
    let claims = hub.claims(all_details());
    let attacker = pem_key("rsa2_private.pem", Algorithm::RS256);
    let attacker_jwk = jwk_of(&attacker, Algorithm::RS256, "attacker");
    // A listener the token points to: the hub must never connect to it.
    let trap = TcpListener::bind("127.0.0.1:0").expect("trap listener");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_url = format!("http://{}/jwks.json", trap.local_addr().expect("addr"));
    for (why, header) in [
        (
            "embedded jwk",
            json!({"alg": "RS256", "typ": "at+jwt", "jwk": attacker_jwk}),
        ),
        (
            "jku",
            json!({"alg": "RS256", "typ": "at+jwt", "jku": trap_url, "kid": "attacker"}),
        ),
        (
            "x5u",
            json!({"alg": "RS256", "typ": "at+jwt", "x5u": trap_url}),
        ),
    ] {
        let t = jws(&header, &claims, &attacker, Algorithm::RS256);
        assert_invalid(&hub, &t, why).await;
    }
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the hub fetched a key from a URL given by the token"
    );
    // HMAC: an embedded `oct` key with the attacker's secret.
    let hub = Hub08::start("");
    let claims = hub.claims(all_details());
    let secret = "attacker-secret-attacker-secret-0123";
    let header = json!({
        "alg": "HS256",
        "typ": "at+jwt",
        "jwk": {"kty": "oct", "k": b64(secret.as_bytes())},
    });
    let t = jws(&header, &claims, &secret_key(secret), Algorithm::HS256);
    assert_invalid(&hub, &t, "embedded oct jwk").await;
}

// ---------------------------------------------------------------------------------------------
// 36-37: authorization_details

#[tokio::test]
async fn c36_malformed_mercure_details_invalidate_the_whole_token() {
    let hub = Hub08::start("");
    let ok = detail(&["publish", "subscribe"], json!([{"match": "*"}]));
    let cases: Vec<(&str, Value)> = vec![
        ("details not an array", json!(ok.clone())),
        ("details a string", json!("publish")),
        (
            "actions empty",
            json!([{"type": DETAIL_TYPE, "actions": [], "topics": [{"match": "*"}]}]),
        ),
        (
            "actions missing",
            json!([{"type": DETAIL_TYPE, "topics": [{"match": "*"}]}]),
        ),
        (
            "actions not strings",
            json!([{"type": DETAIL_TYPE, "actions": ["publish", 1], "topics": [{"match": "*"}]}]),
        ),
        (
            "actions a string",
            json!([{"type": DETAIL_TYPE, "actions": "publish", "topics": [{"match": "*"}]}]),
        ),
        ("topics empty", json!([detail(&["publish"], json!([]))])),
        (
            "topics missing",
            json!([{"type": DETAIL_TYPE, "actions": ["publish"]}]),
        ),
        ("topics a string", json!([detail(&["publish"], json!("*"))])),
        (
            "bare string topic",
            json!([detail(&["publish"], json!(["*"]))]),
        ),
        ("null topic", json!([detail(&["publish"], json!([null]))])),
        (
            "topic without match",
            json!([detail(&["publish"], json!([{}]))]),
        ),
        (
            "topic with only match_type",
            json!([detail(&["publish"], json!([{"match_type": "exact"}]))]),
        ),
        (
            "empty match",
            json!([detail(&["publish"], json!([{"match": ""}]))]),
        ),
        (
            "numeric match",
            json!([detail(&["publish"], json!([{"match": 1}]))]),
        ),
        (
            "unknown match_type",
            json!([detail(
                &["publish"],
                json!([{"match": "*", "match_type": "regex"}])
            )]),
        ),
        (
            "match_type case",
            json!([detail(
                &["publish"],
                json!([{"match": "*", "match_type": "URLPattern"}])
            )]),
        ),
        (
            "match_type Exact",
            json!([detail(
                &["publish"],
                json!([{"match": "*", "match_type": "Exact"}])
            )]),
        ),
        (
            "invalid URL pattern",
            json!([detail(
                &["publish"],
                json!([{"match": "https://example.com/(", "match_type": "urlpattern"}])
            )]),
        ),
        (
            "one valid and one invalid",
            json!([ok.clone(), detail(&["subscribe"], json!([]))]),
        ),
        (
            "match longer than 4096 bytes",
            json!([detail(&["subscribe"], json!([{"match": "a".repeat(4097)}]))]),
        ),
        (
            "control character in match",
            json!([detail(
                &["subscribe"],
                json!([{"match": "https://example.com/\u{1}"}])
            )]),
        ),
        (
            "format character in a URL pattern",
            json!([detail(
                &["subscribe"],
                json!([{"match": "https://example.com/\u{200b}:id", "match_type": "urlpattern"}])
            )]),
        ),
    ];
    // Every case is tried, and all the accepted ones reported at once.
    let expected = hub.challenge_err("invalid_token");
    let mut accepted = Vec::new();
    for (why, details) in cases {
        let t = hs256(&at_header(), &hub.claims(details));
        let (s, www) = sub_status(&hub, &[("Authorization", &bearer(&t))]).await;
        let p = pub08(&hub, &t, &[("topic", BOOK)]).await;
        if (s, www.as_str()) != (401, expected.as_str())
            || (p.status, p.header("www-authenticate")) != (401, expected.as_str())
        {
            accepted.push(format!("{why}: subscribe {s}, publish {}", p.status));
        }
    }
    assert!(
        accepted.is_empty(),
        "not refused as invalid_token: {accepted:#?}"
    );
    // The same token shape, well-formed, is fine.
    assert_valid(&hub, &hs256(&at_header(), &hub.claims(json!([ok]))), "ok").await;
}

#[tokio::test]
async fn c36_foreign_details_and_unknown_actions_are_ignored() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let foreign = json!({"type": "https://example.com/other", "actions": ["publish"],
        "topics": [{"match": "*"}]});
    let foreign_junk = json!({"type": "urn:x", "whatever": [1, 2], "topics": "not validated"});
    let publish_book = detail(&["publish"], json!([{"match": BOOK}]));
    let insufficient = hub.challenge_err("insufficient_scope");
    for (why, details, status) in [
        ("only a foreign detail", json!([foreign.clone()]), 403),
        (
            "a foreign malformed detail next to a Mercure one",
            json!([foreign_junk.clone(), publish_book.clone()]),
            200,
        ),
        (
            "unknown action next to publish",
            json!([detail(&["frobnicate", "publish"], json!([{"match": BOOK}]))]),
            200,
        ),
        (
            "only unknown actions",
            json!([detail(&["frobnicate"], json!([{"match": "*"}]))]),
            403,
        ),
        ("no authorization_details", Value::Null, 403),
        ("empty details", json!([]), 403),
    ] {
        let mut claims = hub.claims(details);
        if claims["authorization_details"].is_null() {
            claims
                .as_object_mut()
                .expect("object")
                .remove("authorization_details");
        }
        let t = hs256(&at_header(), &claims);
        let r = pub08(&hub, &t, &[("topic", BOOK)]).await;
        assert_eq!(r.status, status, "{why}: {}", r.body);
        if status == 403 {
            assert_eq!(r.header("www-authenticate"), insufficient, "{why}");
            assert_nothing_dispatched(&hub, &mut w).await;
        } else {
            wait_id(&mut w, &r.body).await;
            w.buf.clear();
        }
        // The token itself is valid for subscribing.
        let (s, _) = sub_status(&hub, &[("Authorization", &bearer(&t))]).await;
        assert_eq!(s, 200, "{why}");
    }
}

#[tokio::test]
async fn c37_caps_on_details_and_topic_matchers_are_401() {
    let hub = Hub08::start("");
    let one = |i: usize| {
        detail(
            &["publish", "subscribe"],
            json!([{"match": format!("t{i}")}]),
        )
    };
    let star = detail(&["publish", "subscribe"], json!([{"match": "*"}]));
    // 100 details (99 + the `*` one) are fine, 101 are not.
    let mut hundred: Vec<Value> = (0..99).map(one).collect();
    hundred.push(star.clone());
    assert_valid(
        &hub,
        &hs256(&at_header(), &hub.claims(json!(hundred))),
        "100 details",
    )
    .await;
    let mut over: Vec<Value> = (0..100).map(one).collect();
    over.push(star.clone());
    assert_invalid(
        &hub,
        &hs256(&at_header(), &hub.claims(json!(over))),
        "101 details",
    )
    .await;
    // 100 topic matchers summed over details are fine, 101 are not.
    let topics = |n: usize| -> Vec<Value> {
        let mut t: Vec<Value> = (0..n - 1)
            .map(|i| json!({"match": format!("t{i}")}))
            .collect();
        t.push(json!({"match": "*"}));
        t
    };
    let split = |n: usize| {
        let all = topics(n);
        let (a, b) = all.split_at(n / 2);
        json!([
            detail(&["publish", "subscribe"], json!(a)),
            detail(&["publish", "subscribe"], json!(b)),
        ])
    };
    assert_valid(
        &hub,
        &hs256(&at_header(), &hub.claims(split(100))),
        "100 topics",
    )
    .await;
    assert_invalid(
        &hub,
        &hs256(&at_header(), &hub.claims(split(101))),
        "101 topics",
    )
    .await;
    let single = json!([detail(&["publish", "subscribe"], json!(topics(101)))]);
    assert_invalid(
        &hub,
        &hs256(&at_header(), &hub.claims(single)),
        "101 in one",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// 38-41: RFC 6750 answers

#[tokio::test]
async fn c38_no_token_when_required_is_401_with_a_bare_challenge() {
    let hub = Hub08::start("");
    let expected = format!(
        "Bearer resource_metadata=\"http://127.0.0.1:{}/.well-known/oauth-protected-resource/.well-known/mercure\"",
        hub.port
    );
    assert_eq!(hub.challenge(), expected);
    let (st, www) = sub_status(&hub, &[]).await;
    assert_eq!((st, www.as_str()), (401, expected.as_str()));
    let r = publish_with(&hub, &[], &[("topic", BOOK)]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, expected.as_str())
    );
    // On an anonymous hub, publishing still needs a token.
    let hub = Hub08::start("anonymous");
    let r = publish_with(&hub, &[], &[("topic", BOOK)]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, hub.challenge().as_str())
    );
}

#[tokio::test]
async fn c39_invalid_token_is_401_invalid_token() {
    let hub = Hub08::start("anonymous");
    let mut o = hub.opts();
    o.key = "not-the-hub-secret-not-the-hub-secret".into();
    o.publish = vec![ex("*")];
    o.subscribe = vec![ex("*")];
    let wrong_key = mint08(&o);
    // A valid token with another signature.
    let good = hub.token(&[ex("*")], &[ex("*")]);
    let signed_part = good.rsplit_once('.').expect("3 parts").0.to_string();
    let tampered = format!("{signed_part}.{}", b64(&[0u8; 32]));
    for (why, t) in [
        ("garbage", "x".repeat(60)),
        ("wrong key", wrong_key),
        ("tampered signature", tampered),
        ("two segments", signed_part),
    ] {
        // Invalid even on an anonymous hub: a presented token must be valid.
        assert_invalid(&hub, &t, why).await;
    }
}

#[tokio::test]
async fn c40_valid_token_lacking_the_grant_is_403_insufficient_scope() {
    let hub = Hub08::start("");
    let t = hub.token(&[ex("https://example.com/other")], &[]);
    let r = pub08(&hub, &t, &[("topic", BOOK)]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (403, hub.challenge_err("insufficient_scope").as_str())
    );
}

#[tokio::test]
async fn c41_malformed_presentation_is_400_invalid_request() {
    let hub = Hub08::start("anonymous");
    let expected = hub.challenge_err("invalid_request");
    let t = hub.subscriber();
    let malformed = [
        "Bearer".to_string(),
        "Bearer ".to_string(),
        format!("Basic {}", b64(b"user:password")),
        format!("Token {t}"),
        format!("Bearer{t}"),
        format!("Bearer {}", "x".repeat(40)),
        "Bearer short".to_string(),
    ];
    for value in &malformed {
        let (st, www) = sub_status(&hub, &[("Authorization", value)]).await;
        assert_eq!(
            (st, www.as_str()),
            (400, expected.as_str()),
            "GET {value:?}"
        );
        let r = publish_with(&hub, &[("Authorization", value)], &[("topic", BOOK)]).await;
        assert_eq!(
            (r.status, r.header("www-authenticate")),
            (400, expected.as_str()),
            "POST {value:?}"
        );
    }
    // Two Authorization headers.
    let auth = bearer(&t);
    let (st, www) = sub_status(&hub, &[("Authorization", &auth), ("Authorization", &auth)]).await;
    assert_eq!((st, www.as_str()), (400, expected.as_str()), "two headers");
}

// ---------------------------------------------------------------------------------------------
// 42-43: connection lifetime

/// Subscribes with a token expiring in about two seconds and checks the stream ends cleanly
/// no later than `exp`.
async fn closes_at_exp(directives: &str) {
    let hub = Hub08::start(directives);
    let mut o = hub.opts();
    o.ttl = Some(Duration::from_secs(2));
    o.subscribe = vec![ex("*")];
    let t = mint08(&o);
    let exp = jwt_claims(&t)["exp"].as_u64().expect("exp");
    let start = Instant::now();
    let lifetime = exp as f64 - now_f64();
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), Some(&t)).await;
    let remaining = Duration::from_secs(exp.saturating_sub(now()) + 3);
    assert!(s.wait_end(remaining).await, "still open after exp");
    let ended = now_f64();
    // exp is in whole seconds; allow for this side's scheduling.
    assert!(
        ended <= exp as f64 + 0.5,
        "closed at {ended}, after exp {exp}"
    );
    assert!(s.error.is_none(), "not a clean end: {:?}", s.error);
    // Not at once either (a subscriber would reconnect in a loop): the reference keeps the
    // stream for 80-100 % of the token's remaining lifetime.
    let lived = start.elapsed().as_secs_f64();
    assert!(
        lived >= lifetime * 0.5,
        "closed after {lived} s of {lifetime} s"
    );
}

fn now_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

#[tokio::test]
async fn c42_connection_closed_no_later_than_token_exp() {
    closes_at_exp("").await;
}

#[tokio::test]
async fn c42_connection_closed_at_exp_even_without_write_timeout() {
    closes_at_exp("write_timeout 0s\nheartbeat 0s").await;
}

#[tokio::test]
async fn c43_write_timeout_bounds_the_connection_lifetime() {
    let hub = Hub08::start("anonymous\nwrite_timeout 1s");
    let start = Instant::now();
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    assert!(s.wait_end(Duration::from_secs(3)).await, "still open");
    let lived = start.elapsed();
    assert!(lived <= Duration::from_millis(1500), "{lived:?}");
    assert!(
        lived >= Duration::from_millis(500),
        "closed too early: {lived:?}"
    );
    assert!(s.error.is_none(), "not a clean end: {:?}", s.error);
}

// ---------------------------------------------------------------------------------------------
// 44: cookie-authenticated publishing

#[tokio::test]
async fn c44_cookie_publish_checks_origin_then_referer() {
    let hub = Hub08::start("publish_origins https://app.example");
    let mut w = watch_all(&hub).await;
    let c = cookie(&hub.publisher());
    let invalid_request = hub.challenge_err("invalid_request");
    let cases: &[(&[(&str, &str)], u16)] = &[
        (&[], 400),
        (&[("Origin", "https://evil.example")], 400),
        (&[("Origin", "https://app.example.evil")], 400),
        (&[("Origin", "http://app.example")], 400),
        (&[("Referer", "https://evil.example/page")], 400),
        // Origin wins over Referer.
        (
            &[
                ("Origin", "https://evil.example"),
                ("Referer", "https://app.example/page"),
            ],
            400,
        ),
        (&[("Origin", "https://app.example")], 200),
        (&[("Referer", "https://app.example/some/page?x=1")], 200),
    ];
    for (extra, status) in cases {
        let mut headers = vec![("Cookie", c.as_str())];
        headers.extend_from_slice(extra);
        let r = publish_with(&hub, &headers, &[("topic", BOOK)]).await;
        assert_eq!(r.status, *status, "{extra:?}: {}", r.body);
        if *status == 400 {
            assert_eq!(r.header("www-authenticate"), invalid_request, "{extra:?}");
            assert_nothing_dispatched(&hub, &mut w).await;
        } else {
            wait_id(&mut w, &r.body).await;
            w.buf.clear();
        }
    }
    // The header needs no Origin, even next to the cookie (which is then ignored).
    let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK)]).await;
    assert_eq!(r.status, 200);
    let r = publish_with(
        &hub,
        &[("Authorization", &bearer(&hub.publisher())), ("Cookie", &c)],
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(r.status, 200);
    // Subscribing with the cookie is not origin-checked.
    let sc = cookie(&hub.subscriber());
    let _s = sub08_with(
        &hub,
        &q(&[("match", BOOK)]),
        &[("Cookie", &sc), ("Origin", "https://evil.example")],
    )
    .await;
}

#[tokio::test]
async fn c44_publish_origins_wildcards_and_default() {
    let hub = Hub08::start("publish_origins https://*.example.com");
    let c = cookie(&hub.publisher());
    for (origin, status) in [
        ("https://a.example.com", 200),
        ("https://deep.a.example.com", 200),
        ("https://example.com", 400),
        ("https://a.example.com.evil.org", 400),
        ("http://a.example.com", 400),
    ] {
        let r = publish_with(
            &hub,
            &[("Cookie", &c), ("Origin", origin)],
            &[("topic", BOOK)],
        )
        .await;
        assert_eq!(r.status, status, "{origin}");
    }
    // `*`: any origin, but one is still required.
    let hub = Hub08::start("publish_origins *");
    let c = cookie(&hub.publisher());
    let r = publish_with(
        &hub,
        &[("Cookie", &c), ("Origin", "https://anything.example")],
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = publish_with(&hub, &[("Cookie", &c)], &[("topic", BOOK)]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (400, hub.challenge_err("invalid_request").as_str())
    );
    // No publish_origins: cookie publishing is refused whatever the origin.
    let hub = Hub08::start("");
    let c = cookie(&hub.publisher());
    let r = publish_with(
        &hub,
        &[("Cookie", &c), ("Origin", &hub.base)],
        &[("topic", BOOK)],
    )
    .await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (400, hub.challenge_err("invalid_request").as_str())
    );
}
