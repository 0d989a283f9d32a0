//! `mint`: claim layout, header, exp handling and key errors.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use quicksilver_auth::{AuthError, MintOptions, mint};
use serde_json::{Value, json};

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

#[test]
fn claim_layout_and_header() {
    let token = mint_ok(&MintOptions {
        key: SECRET.to_owned(),
        alg: "HS256".to_owned(),
        publish: Some(vec!["*".to_owned()]),
        subscribe: Some(vec![]),
        payload: Some(json!({"user": 1})),
        kid: Some("key-1".to_owned()),
        ..MintOptions::default()
    });
    assert_eq!(
        decode_part(&token, 0),
        json!({"alg": "HS256", "typ": "JWT", "kid": "key-1"})
    );
    assert_eq!(
        decode_part(&token, 1),
        json!({"mercure": {"publish": ["*"], "subscribe": [], "payload": {"user": 1}}})
    );
}

#[test]
fn absent_fields_are_omitted() {
    let token = mint_ok(&MintOptions {
        key: SECRET.to_owned(),
        subscribe: Some(vec!["https://example.com/{id}".to_owned()]),
        ..MintOptions::default()
    });
    assert_eq!(
        decode_part(&token, 0),
        json!({"alg": "HS256", "typ": "JWT"})
    );
    assert_eq!(
        decode_part(&token, 1),
        json!({"mercure": {"subscribe": ["https://example.com/{id}"]}})
    );
    // Nothing at all: an empty Mercure claim.
    let token = mint_ok(&MintOptions {
        key: SECRET.to_owned(),
        ..MintOptions::default()
    });
    assert_eq!(decode_part(&token, 1), json!({"mercure": {}}));
}

#[test]
fn ttl_sets_exp_and_overrides_extra_claims() {
    let before = now();
    let token = mint_ok(&MintOptions {
        key: SECRET.to_owned(),
        ttl: Some(Duration::from_secs(60)),
        extra_claims: claims_with(json!({"exp": 1, "sub": "me", "mercure": {"publish": ["x"]}})),
        ..MintOptions::default()
    });
    let claims = decode_part(&token, 1);
    let exp = claims["exp"].as_u64().expect("exp");
    assert!(exp >= before + 60 && exp <= now() + 61, "{exp}");
    assert_eq!(claims["sub"], json!("me"));
    // No Mercure field given: the caller's own `mercure` claim is kept.
    assert_eq!(claims["mercure"], json!({"publish": ["x"]}));
}

#[test]
fn mercure_fields_override_extra_mercure_claim() {
    let token = mint_ok(&MintOptions {
        key: SECRET.to_owned(),
        publish: Some(vec!["a".to_owned()]),
        extra_claims: claims_with(json!({"mercure": {"subscribe": ["ignored"]}})),
        ..MintOptions::default()
    });
    assert_eq!(
        decode_part(&token, 1),
        json!({"mercure": {"publish": ["a"]}})
    );
}

#[test]
fn key_errors() {
    let err = |key: &str, alg: &str| -> String {
        match mint(&MintOptions {
            key: key.to_owned(),
            alg: alg.to_owned(),
            ..MintOptions::default()
        }) {
            Ok(t) => panic!("unexpectedly minted {t}"),
            Err(e) => e.to_string(),
        }
    };
    assert!(err(&fixture("rsa_private.pem"), "").contains("requires an explicit algorithm"));
    assert!(err(&fixture("rsa_private.pem"), "HS256").contains("cannot be used as an HMAC secret"));
    assert!(
        err(&fixture("rsa_public.pem"), "RS256")
            .contains("needs a PEM private key, got PUBLIC KEY")
    );
    assert!(err("secret", "ES256").contains("needs a PEM private key"));
    assert!(err(&fixture("ec256_private.pem"), "RS256").starts_with("cannot sign token"));
    assert!(err("", "HS256").contains("empty"));
    assert!(matches!(
        mint(&MintOptions {
            key: SECRET.to_owned(),
            alg: "HS1024".to_owned(),
            ..MintOptions::default()
        }),
        Err(AuthError::UnsupportedAlgorithm { .. })
    ));
}
