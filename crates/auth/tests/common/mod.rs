//! Shared helpers for the integration tests: fixture keys (generated with
//! `openssl genpkey` for this repository), token builders and JWK helpers.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use quicksilver_auth::{AuthError, Claims, KeySource, MintOptions, Verifier, mint};
use serde_json::{Map, Value, json};

pub const SECRET: &str = "!ChangeThisMercureHubJWTSecretKey!";

/// Reads `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after epoch")
        .as_secs()
}

/// Options for a token with the usual test claims.
pub fn opts(key: &str, alg: &str) -> MintOptions {
    MintOptions {
        key: key.to_owned(),
        alg: alg.to_owned(),
        publish: Some(vec!["foo".to_owned(), "bar".to_owned()]),
        subscribe: Some(vec!["foo".to_owned(), "baz".to_owned()]),
        ..MintOptions::default()
    }
}

pub fn mint_ok(opts: &MintOptions) -> String {
    mint(opts).unwrap_or_else(|e| panic!("mint failed: {e}"))
}

pub fn mint_with_kid(key: &str, alg: &str, kid: Option<&str>) -> String {
    let mut o = opts(key, alg);
    o.kid = kid.map(str::to_owned);
    mint_ok(&o)
}

pub async fn static_verifier(key: &str, alg: &str) -> Verifier {
    Verifier::new(KeySource::Static {
        key: key.to_owned(),
        alg: alg.to_owned(),
    })
    .await
    .unwrap_or_else(|e| panic!("verifier for {alg}: {e}"))
}

pub async fn verify_ok(v: &Verifier, token: &str) -> Claims {
    v.verify(token)
        .await
        .unwrap_or_else(|e| panic!("verification failed: {e}"))
}

pub async fn verify_err(v: &Verifier, token: &str) -> AuthError {
    match v.verify(token).await {
        Ok(c) => panic!("unexpectedly verified: {c:?}"),
        Err(e) => e,
    }
}

pub fn assert_foo_claims(c: &Claims) {
    assert!(c.has_mercure_claim);
    assert_eq!(c.publish, Some(vec!["foo".to_owned(), "bar".to_owned()]));
    assert_eq!(c.subscribe, Some(vec!["foo".to_owned(), "baz".to_owned()]));
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with an arbitrary header and claim set, HMAC-signed with
/// `secret` when given, otherwise with an empty signature.
pub fn raw_token(header: &Value, claims: &Value, secret: Option<&[u8]>) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = match secret {
        Some(secret) => {
            let key = EncodingKey::from_secret(secret).expect("hmac key");
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
                .expect("hmac sign")
        }
        None => String::new(),
    };
    format!("{message}.{signature}")
}

/// Signs an arbitrary claim set with jsonwebtoken directly (bypassing the
/// crate's `mint` safety checks), for attack scenarios.
pub fn sign_raw(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).expect("sign")
}

pub fn encoding_key(pem_or_secret: &str, alg: Algorithm) -> EncodingKey {
    let bytes = pem_or_secret.as_bytes();
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            EncodingKey::from_secret(bytes).expect("secret")
        }
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(bytes).expect("ec pem"),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(bytes).expect("ed pem"),
        _ => EncodingKey::from_rsa_pem(bytes).expect("rsa pem"),
    }
}

/// The public JWK of a private PEM key (or of an HMAC secret), with `kid`
/// and, when `with_alg`, the `alg` parameter.
pub fn jwk(private: &str, alg: Algorithm, kid: Option<&str>, with_alg: bool) -> Value {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(private, alg), alg).expect("jwk");
    jwk.common.key_id = kid.map(str::to_owned);
    if !with_alg {
        jwk.common.key_algorithm = None;
    }
    serde_json::to_value(jwk).expect("jwk json")
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

pub fn claims_with(extra: Value) -> Map<String, Value> {
    match extra {
        Value::Object(map) => map,
        _ => panic!("extra claims must be an object"),
    }
}
