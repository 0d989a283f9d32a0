//! JSON Web Key Set verification with caching and rate-limited refresh.
//!
//! Key servers rotate keys: a new `kid` shows up in tokens shortly after it
//! is published in the set. So the set is cached and re-fetched
//!
//! * when a token names a `kid` the cache does not have, and
//! * lazily, on the next verification after the cache is older than
//!   [`CACHE_TTL`] (so revoked keys eventually disappear),
//!
//! both rate-limited to one fetch per [`MIN_REFRESH_INTERVAL`] so that a
//! flood of tokens with made-up `kid`s cannot turn the hub into a traffic
//! amplifier against the key server. The start-up fetch does not count
//! against the limit: the first unknown `kid` always triggers a fetch.
//! Concurrent verifications that need a refresh share one fetch. If a
//! refresh fails, the previous set stays in use.
//!
//! Algorithms are pinned per key: the JWK's `alg` when given, otherwise the
//! algorithms its key type supports. Keys marked for encryption or of
//! unsupported types are skipped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use parking_lot::RwLock;
use serde_json::Value;

use crate::AuthError;
use crate::keys::{algorithm_from_name, algorithm_list, algorithm_name, describe_jwt_error};
use crate::token::{Header, verify_signature};

/// Minimum time between two on-demand refreshes.
pub(crate) const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// Age after which the cached set is re-fetched on the next verification.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(3600);
/// Whole-request timeout for HTTP(S) fetches.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Key sets are small; refuse to buffer anything absurd.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

const RSA_ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const HMAC_ALGS: &[Algorithm] = &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// Refresh policy; a struct so unit tests can shorten the intervals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) min_refresh_interval: Duration,
    pub(crate) ttl: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            min_refresh_interval: MIN_REFRESH_INTERVAL,
            ttl: CACHE_TTL,
        }
    }
}

/// One usable key of the set.
struct KeyEntry {
    kid: Option<String>,
    algs: Vec<Algorithm>,
    key: DecodingKey,
}

enum Location {
    File(PathBuf),
    Http {
        url: reqwest::Url,
        client: reqwest::Client,
    },
}

struct State {
    keys: Arc<[KeyEntry]>,
    /// Incremented on each successful fetch; lets a task waiting for the
    /// refresh lock notice that another task already refreshed.
    generation: u64,
    fetched_at: Instant,
    /// Last on-demand fetch attempt (successful or not).
    last_refresh: Option<Instant>,
}

enum RefreshOutcome {
    Refreshed,
    RateLimited,
    Failed(AuthError),
}

/// A cached, refreshable key set.
pub(crate) struct Jwks {
    url: String,
    location: Location,
    state: RwLock<State>,
    refresh_lock: tokio::sync::Mutex<()>,
    timing: Timing,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.url)
            .field("keys", &self.state.read().keys.len())
            .finish()
    }
}

impl Jwks {
    /// Resolves the URL and performs the first fetch; any failure (including
    /// a set without a single usable key) is a start-up error.
    pub(crate) async fn new(url: &str, timing: Timing) -> Result<Jwks, AuthError> {
        let location = location(url)?;
        let keys = fetch(url, &location).await?;
        if keys.is_empty() {
            return Err(AuthError::JwksInvalid {
                url: url.to_owned(),
                reason: "the set contains no usable signature verification key".to_owned(),
            });
        }
        tracing::debug!(url, keys = keys.len(), "JWKS loaded");
        Ok(Jwks {
            url: url.to_owned(),
            location,
            state: RwLock::new(State {
                keys: keys.into(),
                generation: 0,
                fetched_at: Instant::now(),
                last_refresh: None,
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            timing,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Whether some key of the current set can verify one of `algs`.
    pub(crate) fn supports_any(&self, algs: &[Algorithm]) -> bool {
        self.state
            .read()
            .keys
            .iter()
            .any(|k| k.algs.iter().any(|a| algs.contains(a)))
    }

    fn snapshot(&self) -> (Arc<[KeyEntry]>, u64, bool) {
        let st = self.state.read();
        let stale = st.fetched_at.elapsed() >= self.timing.ttl;
        (Arc::clone(&st.keys), st.generation, stale)
    }

    /// Verifies the token's signature against the set and returns its claims.
    pub(crate) async fn verify(&self, token: &str, header: &Header) -> Result<Value, AuthError> {
        let Some(alg) = algorithm_from_name(&header.alg) else {
            return Err(AuthError::AlgorithmNotAllowed {
                alg: header.alg.clone(),
                accepted_by: format!("JWKS {}", self.url),
                allowed: crate::keys::SUPPORTED_ALGORITHMS.to_owned(),
            });
        };

        let (mut keys, mut generation, stale) = self.snapshot();
        if stale {
            // Outcome deliberately ignored: on failure the stale set is
            // still better than nothing, and the failure is logged.
            if let RefreshOutcome::Refreshed = self.refresh(generation).await {
                (keys, generation, _) = self.snapshot();
            }
        }

        let Some(kid) = header.kid.as_deref() else {
            // No kid: try every key that accepts the algorithm.
            let candidates: Vec<&KeyEntry> =
                keys.iter().filter(|k| k.algs.contains(&alg)).collect();
            if candidates.is_empty() {
                return Err(AuthError::NoCompatibleKey {
                    alg: header.alg.clone(),
                    url: self.url.clone(),
                });
            }
            return try_keys(token, alg, &candidates);
        };

        let mut note = String::new();
        if !keys.iter().any(|k| k.kid.as_deref() == Some(kid)) {
            match self.refresh(generation).await {
                RefreshOutcome::Refreshed => (keys, _, _) = self.snapshot(),
                RefreshOutcome::RateLimited => note = " (key set refresh rate-limited)".to_owned(),
                RefreshOutcome::Failed(e) => note = format!(" (key set refresh failed: {e})"),
            }
        }
        let with_kid: Vec<&KeyEntry> = keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .collect();
        if with_kid.is_empty() {
            return Err(AuthError::UnknownKid {
                kid: kid.to_owned(),
                url: self.url.clone(),
                note,
            });
        }
        let candidates: Vec<&KeyEntry> = with_kid
            .iter()
            .copied()
            .filter(|k| k.algs.contains(&alg))
            .collect();
        if candidates.is_empty() {
            let mut allowed: Vec<Algorithm> = Vec::new();
            for k in &with_kid {
                for a in &k.algs {
                    if !allowed.contains(a) {
                        allowed.push(*a);
                    }
                }
            }
            return Err(AuthError::AlgorithmNotAllowed {
                alg: header.alg.clone(),
                accepted_by: format!("key {kid} of JWKS {}", self.url),
                allowed: algorithm_list(&allowed),
            });
        }
        try_keys(token, alg, &candidates)
    }

    /// Re-fetches the set unless another task already did since
    /// `observed_generation`, or the rate limit forbids it.
    async fn refresh(&self, observed_generation: u64) -> RefreshOutcome {
        let _guard = self.refresh_lock.lock().await;
        let now = Instant::now();
        {
            let st = self.state.read();
            if st.generation != observed_generation {
                return RefreshOutcome::Refreshed;
            }
            if let Some(last) = st.last_refresh
                && now.duration_since(last) < self.timing.min_refresh_interval
            {
                return RefreshOutcome::RateLimited;
            }
        }
        self.state.write().last_refresh = Some(now);

        match fetch(&self.url, &self.location).await {
            Ok(keys) => {
                if keys.is_empty() {
                    // Still applied: an emptied set is how a key server
                    // revokes everything.
                    tracing::warn!(url = %self.url, "refreshed JWKS contains no usable key");
                } else {
                    tracing::info!(url = %self.url, keys = keys.len(), "JWKS refreshed");
                }
                let mut st = self.state.write();
                st.keys = keys.into();
                st.generation += 1;
                st.fetched_at = Instant::now();
                RefreshOutcome::Refreshed
            }
            Err(e) => {
                tracing::warn!(url = %self.url, error = %e, "JWKS refresh failed; keeping the previous key set");
                RefreshOutcome::Failed(e)
            }
        }
    }
}

/// Tries candidate keys in order; the first valid signature wins. When all
/// fail, a signature mismatch is reported in preference to a key the crypto
/// backend could not use (that one is only reported if it is all we saw).
fn try_keys(token: &str, alg: Algorithm, candidates: &[&KeyEntry]) -> Result<Value, AuthError> {
    let mut key_rejected = None;
    let mut signature_invalid = false;
    for entry in candidates {
        match verify_signature(token, &entry.key, alg) {
            Ok(claims) => return Ok(claims),
            Err(AuthError::SignatureInvalid) => signature_invalid = true,
            Err(e @ AuthError::KeyRejected(_)) => key_rejected = Some(e),
            // A malformed token will not get better with another key.
            Err(e) => return Err(e),
        }
    }
    match key_rejected {
        Some(e) if !signature_invalid => Err(e),
        _ => Err(AuthError::SignatureInvalid),
    }
}

fn location(url: &str) -> Result<Location, AuthError> {
    let invalid = |reason: &str| AuthError::InvalidJwksUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    match parsed.scheme() {
        "file" => {
            if let Some(host) = parsed.host_str()
                && !host.is_empty()
                && host != "localhost"
            {
                return Err(invalid(&format!(
                    "file:// URL host must be empty or \"localhost\", got {host:?}"
                )));
            }
            let path = parsed
                .to_file_path()
                .map_err(|()| invalid("not a valid file path"))?;
            Ok(Location::File(path))
        }
        "http" | "https" => {
            let client = reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .user_agent(concat!("quicksilver/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| AuthError::JwksFetch {
                    url: url.to_owned(),
                    reason: format!("cannot build HTTP client: {}", error_chain(&e)),
                })?;
            Ok(Location::Http {
                url: parsed,
                client,
            })
        }
        other => Err(invalid(&format!(
            "unsupported scheme {other:?} (expected https, http or file)"
        ))),
    }
}

async fn fetch(url: &str, location: &Location) -> Result<Vec<KeyEntry>, AuthError> {
    let fetch_err = |reason: String| AuthError::JwksFetch {
        url: url.to_owned(),
        reason,
    };
    let body = match location {
        Location::File(path) => {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| fetch_err(format!("cannot read {}: {e}", path.display())))?;
            if bytes.len() > MAX_JWKS_BYTES {
                return Err(fetch_err(format!(
                    "file is larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            bytes
        }
        Location::Http {
            url: target,
            client,
        } => {
            let mut resp = client
                .get(target.clone())
                .header(
                    reqwest::header::ACCEPT,
                    "application/jwk-set+json, application/json",
                )
                .send()
                .await
                .map_err(|e| fetch_err(error_chain(&e)))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(fetch_err(format!("HTTP status {status}")));
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| fetch_err(error_chain(&e)))? {
                if body.len() + chunk.len() > MAX_JWKS_BYTES {
                    return Err(fetch_err(format!(
                        "response is larger than {MAX_JWKS_BYTES} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            body
        }
    };
    parse_key_set(url, &body)
}

/// Parses a JWKS document, keeping the keys usable for signature
/// verification. Individual bad keys are skipped (and logged) rather than
/// failing the whole set, so one exotic key does not lock everyone out.
fn parse_key_set(url: &str, body: &[u8]) -> Result<Vec<KeyEntry>, AuthError> {
    let invalid = |reason: String| AuthError::JwksInvalid {
        url: url.to_owned(),
        reason,
    };
    let doc: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
        return Err(invalid("no \"keys\" array".to_owned()));
    };
    let mut out = Vec::with_capacity(keys.len());
    for (index, raw) in keys.iter().enumerate() {
        match key_entry(raw) {
            Ok(entry) => out.push(entry),
            Err(reason) => {
                let kid = raw.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::warn!(url, index, kid, reason = %reason, "skipping JWKS key");
            }
        }
    }
    Ok(out)
}

fn key_entry(raw: &Value) -> Result<KeyEntry, String> {
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|e| format!("not a JWK: {e}"))?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("not a signature key (\"use\" is not \"sig\")".to_owned()),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
    {
        return Err("\"key_ops\" does not include \"verify\"".to_owned());
    }
    let family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA_ALGS.to_vec(),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return Err(format!("unsupported EC curve {:?}", p.curve)),
        },
        AlgorithmParameters::OctetKeyPair(p) => match p.curve {
            EllipticCurve::Ed25519 => vec![Algorithm::EdDSA],
            _ => return Err(format!("unsupported OKP curve {:?}", p.curve)),
        },
        AlgorithmParameters::OctetKey(_) => HMAC_ALGS.to_vec(),
        _ => return Err("unsupported key type".to_owned()),
    };
    let algs = match jwk.common.key_algorithm {
        None => family,
        Some(declared) => {
            let name = declared.to_string();
            match algorithm_from_name(&name) {
                Some(alg) if family.contains(&alg) => vec![alg],
                Some(alg) => {
                    return Err(format!(
                        "\"alg\" {} does not match the key type",
                        algorithm_name(alg)
                    ));
                }
                None => return Err(format!("unsupported \"alg\" {name}")),
            }
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| describe_jwt_error(&e))?;
    Ok(KeyEntry {
        kid: jwk.common.key_id.clone(),
        algs,
        key,
    })
}

/// Renders an error with its sources ("error sending request: connection
/// refused"), since reqwest's top-level messages alone are vague.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::*;
    use crate::token::parse_header;
    use crate::{MintOptions, mint};

    const SECRET: &str = "unit-test-secret";

    fn set_with(kids: &[&str]) -> String {
        let k = URL_SAFE_NO_PAD.encode(SECRET);
        let keys: Vec<Value> = kids
            .iter()
            .map(|kid| json!({"kty": "oct", "k": k, "kid": kid, "alg": "HS256"}))
            .collect();
        json!({ "keys": keys }).to_string()
    }

    fn token(kid: &str) -> String {
        mint(&MintOptions {
            key: SECRET.to_owned(),
            alg: "HS256".to_owned(),
            kid: Some(kid.to_owned()),
            ..MintOptions::default()
        })
        .expect("mint")
    }

    async fn verify(jwks: &Jwks, kid: &str) -> Result<Value, AuthError> {
        let t = token(kid);
        let header = parse_header(&t)?;
        jwks.verify(&t, &header).await
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "quicksilver-auth-unit-{}-{name}.json",
            std::process::id()
        ))
    }

    #[tokio::test]
    async fn rate_limit_window_expires() {
        let path = temp_path("window");
        std::fs::write(&path, set_with(&["a"])).expect("write");
        let url = format!("file://{}", path.display());
        let timing = Timing {
            min_refresh_interval: Duration::from_millis(200),
            ttl: CACHE_TTL,
        };
        let jwks = Jwks::new(&url, timing).await.expect("load");

        std::fs::write(&path, set_with(&["a", "b"])).expect("write");
        assert!(verify(&jwks, "b").await.is_ok(), "first refresh allowed");

        std::fs::write(&path, set_with(&["a", "b", "c"])).expect("write");
        assert!(matches!(
            verify(&jwks, "c").await,
            Err(AuthError::UnknownKid { .. })
        ));
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            verify(&jwks, "c").await.is_ok(),
            "allowed again after the window"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn stale_set_is_refreshed_lazily() {
        let path = temp_path("ttl");
        std::fs::write(&path, set_with(&["a"])).expect("write");
        let url = format!("file://{}", path.display());
        let timing = Timing {
            min_refresh_interval: Duration::ZERO,
            ttl: Duration::from_millis(100),
        };
        let jwks = Jwks::new(&url, timing).await.expect("load");

        // Key "a" revoked at the source; still cached while fresh.
        std::fs::write(&path, set_with(&["z"])).expect("write");
        assert!(verify(&jwks, "a").await.is_ok());
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Stale: the next verification re-reads the set and "a" is gone.
        assert!(matches!(
            verify(&jwks, "a").await,
            Err(AuthError::UnknownKid { .. })
        ));
        assert!(verify(&jwks, "z").await.is_ok());

        // A failing stale refresh keeps the old set.
        std::fs::remove_file(&path).expect("remove");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(verify(&jwks, "z").await.is_ok());
    }

    #[test]
    fn parse_key_set_skips_bad_entries() {
        let k = URL_SAFE_NO_PAD.encode(SECRET);
        let body = json!({"keys": [
            {"kty": "oct", "k": k, "kid": "ok"},
            {"kty": "oct", "k": "", "kid": "empty"},
            {"kty": "oct", "k": k, "alg": "RSA-OAEP", "kid": "enc-alg"},
            {"kty": "RSA", "kid": "no-n"},
        ]})
        .to_string();
        let keys = parse_key_set("test", body.as_bytes()).expect("parse");
        let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.clone()).collect();
        assert_eq!(kids, vec!["ok".to_owned()]);
        assert_eq!(keys[0].algs, HMAC_ALGS.to_vec());
    }

    #[test]
    fn error_chain_includes_sources() {
        let inner = std::io::Error::other("connection refused");
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(
            error_chain(&Outer(inner)),
            "error sending request: connection refused"
        );
    }
}
