//! Minting draft-07 tokens (for the `mercure-token` style CLI, the demo
//! endpoints and tests).
//!
//! The claim set is `{"mercure": {"publish": [...], "subscribe": [...],
//! "payload": ...}, "exp": ...}` plus any extra claims; absent fields are
//! omitted rather than written as `null`, so the token reads exactly as the
//! caller meant it. The key is the *signing* key: the HMAC secret, or the PEM
//! private key matching the hub's configured public key.

use std::time::Duration;

use jsonwebtoken::Header;
use serde_json::{Map, Value};

use crate::AuthError;
use crate::claims::{MAX_SELECTORS, MERCURE_CLAIM, now_seconds};
use crate::keys::{DEFAULT_ALGORITHM, algorithm_from_name, encoding_key, pem_label};

/// What to put in a minted token.
#[derive(Debug, Clone, Default)]
pub struct MintOptions {
    /// HMAC secret (raw bytes of the string) or PEM private key.
    pub key: String,
    /// JOSE algorithm name; empty means HS256 for a secret (a PEM key
    /// requires an explicit algorithm).
    pub alg: String,
    /// `mercure.publish`, omitted when `None`.
    pub publish: Option<Vec<String>>,
    /// `mercure.subscribe`, omitted when `None`.
    pub subscribe: Option<Vec<String>>,
    /// `mercure.payload`, omitted when `None`.
    pub payload: Option<Value>,
    /// Lifetime; sets `exp` = now + ttl (rounded up to the second). No `exp`
    /// when `None` (draft-07 tokens may be eternal).
    pub ttl: Option<Duration>,
    /// `kid` header.
    pub kid: Option<String>,
    /// Additional claims (`sub`, `iss`, the namespaced claim...). The
    /// `mercure` claim built from the fields above, and `exp` when `ttl` is
    /// set, take precedence over entries with the same name.
    pub extra_claims: Map<String, Value>,
}

/// Signs a draft-07 token.
pub fn mint(opts: &MintOptions) -> Result<String, AuthError> {
    let alg = if opts.alg.is_empty() {
        if let Some(label) = pem_label(&opts.key) {
            return Err(AuthError::Mint(format!(
                "a PEM key ({label}) requires an explicit algorithm (e.g. RS256, ES256, EdDSA)"
            )));
        }
        DEFAULT_ALGORITHM
    } else {
        algorithm_from_name(&opts.alg).ok_or_else(|| AuthError::UnsupportedAlgorithm {
            name: opts.alg.clone(),
        })?
    };

    for (claim, list) in [("publish", &opts.publish), ("subscribe", &opts.subscribe)] {
        if let Some(list) = list
            && list.len() > MAX_SELECTORS
        {
            return Err(AuthError::TooManySelectors {
                claim,
                count: list.len(),
                max: MAX_SELECTORS,
            });
        }
    }

    let mut claims = opts.extra_claims.clone();

    let mut mercure = Map::new();
    if let Some(publish) = &opts.publish {
        mercure.insert("publish".to_owned(), string_array(publish));
    }
    if let Some(subscribe) = &opts.subscribe {
        mercure.insert("subscribe".to_owned(), string_array(subscribe));
    }
    if let Some(payload) = &opts.payload {
        mercure.insert("payload".to_owned(), payload.clone());
    }
    // An explicit `mercure` in extra_claims is kept when no field was given;
    // otherwise the token always carries a Mercure claim (possibly empty).
    if !mercure.is_empty() || !claims.contains_key(MERCURE_CLAIM) {
        claims.insert(MERCURE_CLAIM.to_owned(), Value::Object(mercure));
    }

    if let Some(ttl) = opts.ttl {
        let exp = (now_seconds() + ttl.as_secs_f64()).ceil();
        // Saturating float→int conversion; absurd TTLs just mean "never".
        claims.insert("exp".to_owned(), Value::from(exp as u64));
    }

    let key = encoding_key(&opts.key, alg)?;
    let mut header = Header::new(alg);
    header.kid.clone_from(&opts.kid);
    jsonwebtoken::encode(&header, &Value::Object(claims), &key)
        .map_err(|e| AuthError::Mint(crate::keys::describe_jwt_error(&e)))
}

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}
