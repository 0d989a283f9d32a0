//! Static-key verification: every algorithm family, pinning, attacks, time
//! claims and draft-07 claim rules, end to end through `mint` + `Verifier`.

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, Header};
use quicksilver_auth::{AuthError, KeySource, MintOptions, Verifier};
use serde_json::json;

#[tokio::test]
async fn hmac_round_trip() {
    for alg in ["HS256", "HS384", "HS512"] {
        let v = static_verifier(SECRET, alg).await;
        let c = verify_ok(&v, &mint_ok(&opts(SECRET, alg))).await;
        assert_foo_claims(&c);
        assert_eq!(c.exp, None);
    }
}

#[tokio::test]
async fn empty_alg_defaults_to_hs256() {
    let v = static_verifier(SECRET, "").await;
    assert_eq!(v.describe(), "HS256 key");
    let c = verify_ok(&v, &mint_ok(&opts(SECRET, ""))).await;
    assert_foo_claims(&c);
}

#[tokio::test]
async fn rsa_round_trip() {
    let private = fixture("rsa_private.pem");
    let public = fixture("rsa_public.pem");
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let v = static_verifier(&public, alg).await;
        assert_foo_claims(&verify_ok(&v, &mint_ok(&opts(&private, alg))).await);
    }
}

#[tokio::test]
async fn rsa_pkcs1_public_key_and_certificate_accepted() {
    let private = fixture("rsa_private_pkcs1.pem");
    let token = mint_ok(&opts(&private, "RS256"));
    for key in ["rsa_public_pkcs1.pem", "rsa_cert.pem", "rsa_public.pem"] {
        let v = static_verifier(&fixture(key), "RS256").await;
        assert_foo_claims(&verify_ok(&v, &token).await);
    }
}

#[tokio::test]
async fn ec_and_eddsa_round_trip() {
    for (private, public, alg) in [
        ("ec256_private.pem", "ec256_public.pem", "ES256"),
        ("ec384_private.pem", "ec384_public.pem", "ES384"),
        ("ed25519_private.pem", "ed25519_public.pem", "EdDSA"),
    ] {
        let v = static_verifier(&fixture(public), alg).await;
        let c = verify_ok(&v, &mint_ok(&opts(&fixture(private), alg))).await;
        assert_foo_claims(&c);
    }
}

#[tokio::test]
async fn wrong_key_is_signature_invalid() {
    let v = static_verifier(SECRET, "HS256").await;
    let e = verify_err(&v, &mint_ok(&opts("another secret", "HS256"))).await;
    assert!(matches!(e, AuthError::SignatureInvalid), "{e}");
    assert_eq!(e.to_string(), "signature invalid");

    let v = static_verifier(&fixture("rsa_public.pem"), "RS256").await;
    let e = verify_err(&v, &mint_ok(&opts(&fixture("rsa2_private.pem"), "RS256"))).await;
    assert!(matches!(e, AuthError::SignatureInvalid), "{e}");

    for (verify_key, other_private, alg) in [
        ("ec256_public.pem", "ec256b_private.pem", "ES256"),
        ("ed25519_public.pem", "ed25519b_private.pem", "EdDSA"),
    ] {
        let v = static_verifier(&fixture(verify_key), alg).await;
        let e = verify_err(&v, &mint_ok(&opts(&fixture(other_private), alg))).await;
        assert!(matches!(e, AuthError::SignatureInvalid), "{alg}: {e}");
    }
}

#[tokio::test]
async fn tampered_payload_is_signature_invalid() {
    let v = static_verifier(SECRET, "HS256").await;
    let token = mint_ok(&opts(SECRET, "HS256"));
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = b64(json!({"mercure": {"publish": ["*"]}})
        .to_string()
        .as_bytes());
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    assert!(matches!(
        verify_err(&v, &forged).await,
        AuthError::SignatureInvalid
    ));
}

#[tokio::test]
async fn algorithm_is_pinned() {
    let v = static_verifier(SECRET, "HS256").await;
    let e = verify_err(&v, &mint_ok(&opts(SECRET, "HS384"))).await;
    assert_eq!(
        e.to_string(),
        "algorithm HS384 not allowed: this verifier accepts HS256"
    );

    let private = fixture("rsa_private.pem");
    let v = static_verifier(&fixture("rsa_public.pem"), "RS256").await;
    for alg in ["RS384", "PS256"] {
        let e = verify_err(&v, &mint_ok(&opts(&private, alg))).await;
        assert!(matches!(e, AuthError::AlgorithmNotAllowed { .. }), "{e}");
    }
}

#[tokio::test]
async fn rsa_public_key_as_hmac_secret_is_refused() {
    // The classic key-confusion attack: the attacker knows the public key
    // and signs HS256 with its PEM text as the HMAC secret.
    let public = fixture("rsa_public.pem");
    let v = static_verifier(&public, "RS256").await;
    let forged = sign_raw(
        &Header::new(Algorithm::HS256),
        &json!({"mercure": {"publish": ["*"]}}),
        &encoding_key(&public, Algorithm::HS256),
    );
    let e = verify_err(&v, &forged).await;
    assert_eq!(
        e.to_string(),
        "algorithm HS256 not allowed: this verifier accepts RS256"
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let v = static_verifier(SECRET, "HS256").await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = raw_token(
            &json!({"alg": alg, "typ": "JWT"}),
            &json!({"mercure": {"publish": ["*"]}}),
            None,
        );
        let e = verify_err(&v, &token).await;
        assert_eq!(
            e.to_string(),
            format!("algorithm {alg} not allowed: this verifier accepts HS256")
        );
    }
    // Even with a valid HMAC signature attached, "none" is refused.
    let token = raw_token(
        &json!({"alg": "none"}),
        &json!({"mercure": {"publish": ["*"]}}),
        Some(SECRET.as_bytes()),
    );
    assert!(matches!(
        verify_err(&v, &token).await,
        AuthError::AlgorithmNotAllowed { .. }
    ));
}

#[tokio::test]
async fn embedded_jwk_header_is_ignored() {
    // The attacker signs with their own key and ships its public half in the
    // `jwk` header (CVE-2018-0114 style); it must never be used.
    let attacker = fixture("rsa2_private.pem");
    let attacker_key = encoding_key(&attacker, Algorithm::RS256);
    let mut header = Header::new(Algorithm::RS256);
    header.jwk = Some(Jwk::from_encoding_key(&attacker_key, Algorithm::RS256).expect("jwk"));
    header.jku = Some("https://attacker.example/jwks.json".to_owned());
    let forged = sign_raw(
        &header,
        &json!({"mercure": {"publish": ["*"]}}),
        &attacker_key,
    );

    let v = static_verifier(&fixture("rsa_public.pem"), "RS256").await;
    assert!(matches!(
        verify_err(&v, &forged).await,
        AuthError::SignatureInvalid
    ));
}

#[tokio::test]
async fn expired_token_is_refused() {
    let v = static_verifier(SECRET, "HS256").await;
    let mut o = opts(SECRET, "HS256");
    o.extra_claims = claims_with(json!({"exp": 1_767_323_045u64}));
    let e = verify_err(&v, &mint_ok(&o)).await;
    assert!(
        matches!(e, AuthError::Expired { exp: 1_767_323_045 }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "token expired at 2026-01-02T03:04:05Z (1767323045)"
    );

    let mut o = opts(SECRET, "HS256");
    o.extra_claims = claims_with(json!({"exp": now() - 1}));
    assert!(matches!(
        verify_err(&v, &mint_ok(&o)).await,
        AuthError::Expired { .. }
    ));
}

#[tokio::test]
async fn exp_in_future_is_reported() {
    let v = static_verifier(SECRET, "HS256").await;
    let mut o = opts(SECRET, "HS256");
    o.ttl = Some(Duration::from_secs(3600));
    let before = now();
    let c = verify_ok(&v, &mint_ok(&o)).await;
    let exp = c.exp.expect("exp present");
    assert!(exp >= before + 3600 && exp <= now() + 3601, "{exp}");
}

#[tokio::test]
async fn nbf_in_future_is_refused() {
    let v = static_verifier(SECRET, "HS256").await;
    let mut o = opts(SECRET, "HS256");
    o.extra_claims = claims_with(json!({"nbf": now() + 120}));
    let e = verify_err(&v, &mint_ok(&o)).await;
    assert!(matches!(e, AuthError::NotYetValid { .. }), "{e}");
    assert!(e.to_string().starts_with("token not valid before "), "{e}");

    let mut o = opts(SECRET, "HS256");
    o.extra_claims = claims_with(json!({"nbf": now() - 1}));
    assert_foo_claims(&verify_ok(&v, &mint_ok(&o)).await);
}

#[tokio::test]
async fn namespaced_claim_takes_precedence() {
    let v = static_verifier(SECRET, "HS256").await;
    let mut o = opts(SECRET, "HS256");
    o.publish = Some(vec!["ignored".to_owned()]);
    o.extra_claims = claims_with(json!({
        "https://mercure.rocks/": {"publish": ["foo", "bar"], "subscribe": ["foo", "baz"], "payload": {"ns": true}}
    }));
    let c = verify_ok(&v, &mint_ok(&o)).await;
    assert_foo_claims(&c);
    assert_eq!(c.payload, Some(json!({"ns": true})));
}

#[tokio::test]
async fn non_string_selector_is_refused() {
    let v = static_verifier(SECRET, "HS256").await;
    let token = raw_token(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &json!({"mercure": {"publish": ["foo", 42]}}),
        Some(SECRET.as_bytes()),
    );
    let e = verify_err(&v, &token).await;
    assert_eq!(
        e.to_string(),
        "invalid mercure claim: mercure.publish[1] must be a string, got a number"
    );
}

#[tokio::test]
async fn too_many_selectors_is_refused() {
    let v = static_verifier(SECRET, "HS256").await;
    let many: Vec<String> = (0..1001)
        .map(|i| format!("https://example.com/{i}"))
        .collect();
    let token = raw_token(
        &json!({"alg": "HS256"}),
        &json!({"mercure": {"subscribe": many}}),
        Some(SECRET.as_bytes()),
    );
    assert!(matches!(
        verify_err(&v, &token).await,
        AuthError::TooManySelectors {
            claim: "subscribe",
            count: 1001,
            max: 1000
        }
    ));
    // mint refuses to produce such a token in the first place.
    let mut o = opts(SECRET, "HS256");
    o.publish = Some(many);
    assert!(matches!(
        quicksilver_auth::mint(&o),
        Err(AuthError::TooManySelectors {
            claim: "publish",
            ..
        })
    ));
}

#[tokio::test]
async fn payload_is_preserved() {
    let v = static_verifier(SECRET, "HS256").await;
    let payload = json!({"user": "https://example.com/users/dunglas", "roles": ["admin"], "n": 1.5, "nested": {"x": null}});
    let mut o = opts(SECRET, "HS256");
    o.payload = Some(payload.clone());
    assert_eq!(verify_ok(&v, &mint_ok(&o)).await.payload, Some(payload));
}

#[tokio::test]
async fn token_without_mercure_claim_is_valid_but_grants_nothing() {
    let v = static_verifier(SECRET, "HS256").await;
    let token = raw_token(
        &json!({"alg": "HS256"}),
        &json!({"sub": "someone"}),
        Some(SECRET.as_bytes()),
    );
    let c = verify_ok(&v, &token).await;
    assert!(!c.has_mercure_claim);
    assert!(c.publish.is_none() && c.subscribe.is_none() && c.payload.is_none());
}

#[tokio::test]
async fn malformed_tokens() {
    let v = static_verifier(SECRET, "HS256").await;
    for bad in ["", "abc", "a.b", "a.b.c.d", "!!.e30.x", "e30.e30.e30"] {
        let e = verify_err(&v, bad).await;
        assert!(matches!(e, AuthError::Malformed(_)), "{bad}: {e}");
    }
    // A claim set that is not an object, validly signed.
    let token = raw_token(
        &json!({"alg": "HS256"}),
        &json!([1, 2]),
        Some(SECRET.as_bytes()),
    );
    assert!(matches!(
        verify_err(&v, &token).await,
        AuthError::Malformed(_)
    ));
}

#[tokio::test]
async fn private_key_given_to_verifier_is_refused() {
    for (file, alg) in [
        ("rsa_private.pem", "RS256"),
        ("rsa_private_pkcs1.pem", "RS256"),
        ("ec256_private.pem", "ES256"),
        ("ed25519_private.pem", "EdDSA"),
    ] {
        let e = Verifier::new(KeySource::Static {
            key: fixture(file),
            alg: alg.to_owned(),
        })
        .await
        .expect_err("private key must be refused");
        let msg = e.to_string();
        assert!(
            msg.contains("got a private key") && msg.contains("public key"),
            "{msg}"
        );
    }
}

#[tokio::test]
async fn key_configuration_errors() {
    async fn new_err(key: &str, alg: &str) -> String {
        Verifier::new(KeySource::Static {
            key: key.to_owned(),
            alg: alg.to_owned(),
        })
        .await
        .expect_err("configuration must be refused")
        .to_string()
    }
    assert!(
        new_err(SECRET, "ES512")
            .await
            .starts_with("unsupported algorithm \"ES512\"")
    );
    assert!(
        new_err(SECRET, "none")
            .await
            .starts_with("unsupported algorithm")
    );
    assert_eq!(
        new_err("", "HS256").await,
        "invalid HS256 key: the HMAC secret is empty"
    );
    assert!(
        new_err(&fixture("rsa_public.pem"), "HS256")
            .await
            .contains("PEM")
    );
    assert!(
        new_err(SECRET, "RS256")
            .await
            .contains("PEM-encoded public key")
    );
    // Key type / algorithm mismatches.
    assert!(
        new_err(&fixture("ec256_public.pem"), "RS256")
            .await
            .starts_with("invalid RS256 key")
    );
    assert!(
        new_err(&fixture("rsa_public.pem"), "ES256")
            .await
            .starts_with("invalid ES256 key")
    );
    assert!(
        new_err(&fixture("rsa_public.pem"), "EdDSA")
            .await
            .starts_with("invalid EdDSA key")
    );
    assert_eq!(
        new_err(&fixture("ec384_public.pem"), "ES256").await,
        "invalid ES256 key: the EC key is on P-384, but ES256 requires P-256"
    );
    assert!(
        new_err(&fixture("ec256_public.pem"), "ES384")
            .await
            .contains("requires P-384")
    );
}

#[tokio::test]
async fn verifier_is_shareable_across_tasks() {
    let v = static_verifier(SECRET, "HS256").await;
    let token = mint_ok(&opts(SECRET, "HS256"));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (v, token) = (v.clone(), token.clone());
        tasks.push(tokio::spawn(async move { v.verify(&token).await.is_ok() }));
    }
    for t in tasks {
        assert!(t.await.expect("task"));
    }
}

#[tokio::test]
async fn debug_output_has_no_key_material() {
    let v = static_verifier(SECRET, "HS256").await;
    let dbg = format!("{v:?}");
    assert!(!dbg.contains("ChangeThis"), "{dbg}");
    assert!(dbg.contains("HS256"), "{dbg}");
    let _ = MintOptions::default();
}
