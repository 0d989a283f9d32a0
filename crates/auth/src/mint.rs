//! Minting tokens (for the `quicksilver token` CLI, the demo endpoints and
//! tests): draft-07 tokens with a `mercure` claim ([`mint`]) and draft-08
//! RFC 9068 access tokens with `authorization_details` ([`mint_access`]).
//!
//! Draft-07: the claim set is `{"mercure": {"publish": [...], "subscribe":
//! [...], "payload": ...}, "exp": ...}` plus any extra claims; absent fields
//! are omitted rather than written as `null`, so the token reads exactly as
//! the caller meant it. The key is the *signing* key: the HMAC secret, or
//! the PEM private key matching the hub's configured public key.

use std::time::Duration;

use jsonwebtoken::Header;
use serde_json::{Map, Value};

use crate::claims::{MAX_SELECTORS, MERCURE_CLAIM, now_seconds};
use crate::details::{AUTHORIZATION_DETAIL_TYPE, AUTHORIZATION_DETAILS_CLAIM};
use crate::keys::{DEFAULT_ALGORITHM, algorithm_from_name, encoding_key, pem_label};
use crate::{AuthError, Grant};

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
    let alg = signing_algorithm(&opts.key, &opts.alg)?;

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
        claims.insert("exp".to_owned(), Value::from(expiry(ttl)));
    }

    sign(&opts.key, alg, None, opts.kid.as_ref(), claims)
}

/// What to put in a minted draft-08 access token.
///
/// Empty / `None` fields are omitted from the token, so that tests can build
/// tokens the hub must refuse (no `aud`, no `exp`...); the CLI always fills
/// `issuer`, `audience` and `ttl`.
#[derive(Debug, Clone, Default)]
pub struct AccessMintOptions {
    /// HMAC secret (raw bytes of the string) or PEM private key.
    pub key: String,
    /// JOSE algorithm name; empty means HS256 for a secret (a PEM key
    /// requires an explicit algorithm).
    pub alg: String,
    /// `iss`: the identifier of a trusted issuer of the hub.
    pub issuer: String,
    /// `aud`: written as a string when there is one value, as an array when
    /// there are several; omitted when empty.
    pub audience: Vec<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// Matchers for the `publish` action.
    pub publish: Vec<Grant>,
    /// Matchers for the `subscribe` action.
    pub subscribe: Vec<Grant>,
    /// Lifetime; sets `exp` = now + ttl (rounded up to the second).
    /// Draft-08 hubs refuse tokens without `exp`.
    pub ttl: Option<Duration>,
    /// `kid` header.
    pub kid: Option<String>,
    /// Additional claims (`jti`, a foreign authorization detail...). Claims
    /// built from the fields above take precedence, except that an
    /// `authorization_details` given here is kept when no grant is given.
    pub extra_claims: Map<String, Value>,
}

/// Signs a draft-08 access token: header `typ: at+jwt`; claims `iss`,
/// `aud`, `sub`, `client_id`, `iat`, `exp` and `authorization_details`.
///
/// Grants become Mercure authorization details: publish grants first, then
/// subscribe grants, one detail per run of consecutive grants sharing the
/// same payload (so a single payload gives one detail per action), each
/// topic `{"match": pattern}` plus `"match_type": "urlpattern"` for URL
/// patterns. Verifying the token yields the same grants, in the same order.
pub fn mint_access(opts: &AccessMintOptions) -> Result<String, AuthError> {
    let alg = signing_algorithm(&opts.key, &opts.alg)?;
    let mut claims = opts.extra_claims.clone();

    if !opts.issuer.is_empty() {
        claims.insert("iss".to_owned(), Value::String(opts.issuer.clone()));
    }
    match opts.audience.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".to_owned(), Value::String(one.clone()));
        }
        several => {
            claims.insert("aud".to_owned(), string_array(several));
        }
    }
    if let Some(sub) = &opts.subject {
        claims.insert("sub".to_owned(), Value::String(sub.clone()));
    }
    if let Some(client_id) = &opts.client_id {
        claims.insert("client_id".to_owned(), Value::String(client_id.clone()));
    }
    // RFC 9068 asks for iat; it costs nothing and keeps the token usable
    // with stricter resource servers.
    let now = now_seconds();
    claims.insert("iat".to_owned(), Value::from(now.floor() as u64));
    if let Some(ttl) = opts.ttl {
        claims.insert("exp".to_owned(), Value::from(expiry(ttl)));
    }

    let mut details = Vec::new();
    push_details(&mut details, "publish", &opts.publish);
    push_details(&mut details, "subscribe", &opts.subscribe);
    if !details.is_empty() {
        claims.insert(
            AUTHORIZATION_DETAILS_CLAIM.to_owned(),
            Value::Array(details),
        );
    }

    sign(&opts.key, alg, Some("at+jwt"), opts.kid.as_ref(), claims)
}

/// Appends one Mercure detail per run of grants with equal payloads.
fn push_details(details: &mut Vec<Value>, action: &str, grants: &[Grant]) {
    for run in grants.chunk_by(|a, b| a.payload == b.payload) {
        let topics: Vec<Value> = run
            .iter()
            .map(|g| {
                let mut topic = Map::new();
                topic.insert("match".to_owned(), Value::String(g.pattern.clone()));
                if g.urlpattern {
                    topic.insert(
                        "match_type".to_owned(),
                        Value::String("urlpattern".to_owned()),
                    );
                }
                Value::Object(topic)
            })
            .collect();
        let mut detail = Map::new();
        detail.insert(
            "type".to_owned(),
            Value::String(AUTHORIZATION_DETAIL_TYPE.to_owned()),
        );
        detail.insert(
            "actions".to_owned(),
            Value::Array(vec![Value::String(action.to_owned())]),
        );
        detail.insert("topics".to_owned(), Value::Array(topics));
        if let Some(payload) = &run[0].payload {
            detail.insert("payload".to_owned(), payload.clone());
        }
        details.push(Value::Object(detail));
    }
}

/// The signing algorithm: the named one, or HS256 for a secret; a PEM key
/// must name its algorithm (guessing would silently pick the wrong family).
fn signing_algorithm(key: &str, alg: &str) -> Result<jsonwebtoken::Algorithm, AuthError> {
    if alg.is_empty() {
        if let Some(label) = pem_label(key) {
            return Err(AuthError::Mint(format!(
                "a PEM key ({label}) requires an explicit algorithm (e.g. RS256, ES256, EdDSA)"
            )));
        }
        return Ok(DEFAULT_ALGORITHM);
    }
    algorithm_from_name(alg).ok_or_else(|| AuthError::UnsupportedAlgorithm {
        name: alg.to_owned(),
    })
}

/// `exp` for a lifetime starting now, rounded up to the second.
fn expiry(ttl: Duration) -> u64 {
    let exp = (now_seconds() + ttl.as_secs_f64()).ceil();
    // Saturating float→int conversion; absurd TTLs just mean "never".
    exp as u64
}

fn sign(
    key: &str,
    alg: jsonwebtoken::Algorithm,
    typ: Option<&str>,
    kid: Option<&String>,
    claims: Map<String, Value>,
) -> Result<String, AuthError> {
    let key = encoding_key(key, alg)?;
    let mut header = Header::new(alg);
    if let Some(typ) = typ {
        header.typ = Some(typ.to_owned());
    }
    header.kid = kid.cloned();
    jsonwebtoken::encode(&header, &Value::Object(claims), &key)
        .map_err(|e| AuthError::Mint(crate::keys::describe_jwt_error(&e)))
}

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}
