//! JWT verification and minting for Quicksilver's draft-07 (Mercure v0.x)
//! protocol mode.
//!
//! The hub authorizes publishers and subscribers with JWS-signed JWTs whose
//! `mercure` claim lists the topic selectors they may publish to / receive
//! private updates for. This crate owns everything about those tokens that
//! does not involve HTTP:
//!
//! * [`Verifier`]: checks a token against either a static key (HMAC secret
//!   or PEM public key, one pinned algorithm) or a JSON Web Key Set fetched
//!   from `https://`, `http://` or `file://` and refreshed on key rotation;
//!   then enforces `exp`/`nbf` and extracts the Mercure claim ([`Claims`]).
//! * [`mint`]: signs draft-07 tokens (CLI, demo, tests).
//!
//! Behaviour follows the reference hub (dunglas/mercure v0.24.2) where it is
//! defined; where it is not, we choose the stricter option that cannot break
//! a correctly configured deployment (see each module's documentation).
//! Token presentation (headers, cookies, query) is the HTTP crate's concern.

mod claims;
mod error;
mod jwks;
mod keys;
mod mint;
mod token;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

pub use claims::{Claims, MAX_SELECTORS, MERCURE_CLAIM, NAMESPACED_CLAIM};
pub use error::AuthError;
pub use mint::{MintOptions, mint};

/// Where a [`Verifier`] gets its key(s) from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// One key, one algorithm. `key` is the HMAC secret (its raw bytes) for
    /// HS256/384/512, or a PEM public key (`PUBLIC KEY`, `RSA PUBLIC KEY`)
    /// or certificate for RS*/PS*/ES256/ES384/EdDSA. An empty `alg` means
    /// HS256, like the reference.
    Static {
        /// Secret or PEM.
        key: String,
        /// JOSE algorithm name.
        alg: String,
    },
    /// A JSON Web Key Set at `https://`, `http://` or `file://` URL.
    Jwks {
        /// Location of the set.
        url: String,
    },
}

/// Verifies tokens. Cheap to clone (shared state), `Send + Sync`.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

enum Inner {
    Static { key: DecodingKey, alg: Algorithm },
    Jwks(jwks::Jwks),
}

impl fmt::Debug for Verifier {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Inner::Static { alg, .. } => f
                .debug_struct("Verifier")
                .field("alg", &keys::algorithm_name(*alg))
                .finish_non_exhaustive(),
            Inner::Jwks(jwks) => f.debug_struct("Verifier").field("jwks", jwks).finish(),
        }
    }
}

impl Verifier {
    /// Loads the key now, so configuration errors fail start-up: a static
    /// key is parsed; a JWKS is fetched (and must contain at least one usable
    /// key).
    pub async fn new(source: KeySource) -> Result<Verifier, AuthError> {
        let inner = match source {
            KeySource::Static { key, alg } => {
                let alg = keys::parse_algorithm(&alg)?;
                let key = keys::decoding_key(&key, alg)?;
                Inner::Static { key, alg }
            }
            KeySource::Jwks { url } => {
                Inner::Jwks(jwks::Jwks::new(&url, jwks::Timing::default()).await?)
            }
        };
        Ok(Verifier {
            inner: Arc::new(inner),
        })
    }

    /// A short description for start-up logs ("HS256 key", "JWKS <url>").
    #[must_use]
    pub fn describe(&self) -> String {
        match &*self.inner {
            Inner::Static { alg, .. } => format!("{} key", keys::algorithm_name(*alg)),
            Inner::Jwks(jwks) => format!("JWKS {}", jwks.url()),
        }
    }

    /// Verifies `token` (compact JWS, without any `Bearer ` prefix):
    /// algorithm pinning, signature, `exp` and `nbf` when present, then the
    /// draft-07 Mercure claim.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = token::parse_header(token)?;
        let claims = match &*self.inner {
            Inner::Static { key, alg } => {
                let expected = keys::algorithm_name(*alg);
                if header.alg != expected {
                    return Err(AuthError::AlgorithmNotAllowed {
                        alg: header.alg,
                        accepted_by: "this verifier".to_owned(),
                        allowed: expected.to_owned(),
                    });
                }
                token::verify_signature(token, key, *alg)?
            }
            Inner::Jwks(jwks) => jwks.verify(token, &header).await?,
        };
        claims::extract(&claims, claims::now_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn verifier_is_send_sync_clone() {
        assert_send_sync::<Verifier>();
        assert_send_sync::<Claims>();
    }
}
