//! JWT verification and minting for Quicksilver's two protocol modes:
//! draft-07 (Mercure v0.x, the default) and draft-08 (Mercure 1.0).
//!
//! The hub authorizes publishers and subscribers with JWS-signed JWTs. In
//! draft-07 their `mercure` claim lists the topic selectors they may publish
//! to / receive private updates for; in draft-08 they are RFC 9068 access
//! tokens whose RFC 9396 `authorization_details` grant actions on topic
//! matchers, issued by explicitly trusted issuers. This crate owns
//! everything about those tokens that does not involve HTTP:
//!
//! * [`Verifier`]: checks a token's signature against either a static key
//!   (HMAC secret or PEM public key, one pinned algorithm) or a JSON Web Key
//!   Set fetched from `https://`, `http://` or `file://` and refreshed on key
//!   rotation (optionally restricted to an algorithm allowlist); for
//!   draft-07 it then enforces `exp`/`nbf` and extracts the Mercure claim
//!   ([`Claims`]).
//! * [`Issuers`] (draft-08): selects the trusted issuer and role verifier
//!   for a token, then validates `typ`, `exp`, `nbf`, `aud`, `iss` and the
//!   authorization details into [`AccessClaims`].
//! * [`mint`] / [`mint_access`]: sign draft-07 / draft-08 tokens (CLI, demo,
//!   tests).
//!
//! Behaviour follows the reference hub (dunglas/mercure v0.24.2 for
//! draft-07, v1.0 for draft-08) where it is defined; where it is not, we
//! choose the stricter option that cannot break a correctly configured
//! deployment (see each module's documentation). Token presentation
//! (headers, cookies, query) is the HTTP crate's concern.

mod access;
mod claims;
mod details;
mod error;
mod jwks;
mod keys;
mod mint;
mod token;

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

pub use access::{AccessClaims, Grant, Issuer, Issuers, Role};
pub use claims::{Claims, MAX_SELECTORS, MERCURE_CLAIM, NAMESPACED_CLAIM};
pub use details::{
    AUTHORIZATION_DETAIL_TYPE, AUTHORIZATION_DETAILS_CLAIM, MAX_AUTHORIZATION_DETAILS,
    MAX_TOPIC_MATCHERS,
};
pub use error::AuthError;
pub use keys::DEFAULT_JWKS_ALGORITHMS;
pub use mint::{AccessMintOptions, MintOptions, mint, mint_access};

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

// One instance per verifier, behind an `Arc`: the variant size difference
// costs nothing worth an extra indirection on every verification.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Static {
        key: DecodingKey,
        alg: Algorithm,
    },
    Jwks {
        jwks: jwks::Jwks,
        /// `None`: any algorithm the key type supports (draft-07, where the
        /// reference hub pins nothing beyond the key type).
        algorithms: Option<Vec<Algorithm>>,
    },
}

impl fmt::Debug for Verifier {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner {
            Inner::Static { alg, .. } => f
                .debug_struct("Verifier")
                .field("alg", &keys::algorithm_name(*alg))
                .finish_non_exhaustive(),
            Inner::Jwks { jwks, algorithms } => {
                let mut d = f.debug_struct("Verifier");
                d.field("jwks", jwks);
                if let Some(algs) = algorithms {
                    d.field("algorithms", &keys::algorithm_list(algs));
                }
                d.finish()
            }
        }
    }
}

impl Verifier {
    /// Loads the key now, so configuration errors fail start-up: a static
    /// key is parsed; a JWKS is fetched (and must contain at least one usable
    /// key). A JWKS verifier built this way accepts every algorithm its keys
    /// support (draft-07 behaviour); see [`Verifier::with_algorithms`].
    pub async fn new(source: KeySource) -> Result<Verifier, AuthError> {
        let inner = match source {
            KeySource::Static { key, alg } => static_inner(&key, &alg)?,
            KeySource::Jwks { url } => Inner::Jwks {
                jwks: jwks::Jwks::new(&url, jwks::Timing::default()).await?,
                algorithms: None,
            },
        };
        Ok(Verifier {
            inner: Arc::new(inner),
        })
    }

    /// Like [`Verifier::new`], with the draft-08 algorithm pinning (RFC 8725)
    /// for key sets: a JWKS verifier accepts only `algorithms` (JOSE names),
    /// or [`DEFAULT_JWKS_ALGORITHMS`] when `None`, and a token's `alg` must
    /// also fit the type of the key that verifies it. The default list has
    /// no HMAC algorithm, so a set's `oct` keys are only used when HS256/384/
    /// 512 is listed explicitly.
    ///
    /// A static key already pins exactly its configured algorithm, so
    /// `algorithms` must be `None` for [`KeySource::Static`]. Unknown names
    /// (including `none`, and `ES512`, which the crypto backend lacks) and an
    /// empty list are configuration errors.
    pub async fn with_algorithms(
        source: KeySource,
        algorithms: Option<Vec<String>>,
    ) -> Result<Verifier, AuthError> {
        let inner = match source {
            KeySource::Static { key, alg } => {
                if algorithms.is_some() {
                    return Err(AuthError::InvalidAlgorithmList(
                        "a static key pins its own algorithm; an algorithm list only applies \
                         to a JWKS"
                            .to_owned(),
                    ));
                }
                static_inner(&key, &alg)?
            }
            KeySource::Jwks { url } => {
                let algorithms = match algorithms {
                    None => keys::default_jwks_algorithms(),
                    Some(names) => keys::parse_algorithm_list(&names)?,
                };
                let jwks = jwks::Jwks::new(&url, jwks::Timing::default()).await?;
                if !jwks.supports_any(&algorithms) {
                    // Not fatal: the key server may publish suitable keys on
                    // its next rotation; but every token fails until then.
                    tracing::warn!(
                        url = %url,
                        algorithms = %keys::algorithm_list(&algorithms),
                        "no key of the JWKS can verify any allowed algorithm"
                    );
                }
                Inner::Jwks {
                    jwks,
                    algorithms: Some(algorithms),
                }
            }
        };
        Ok(Verifier {
            inner: Arc::new(inner),
        })
    }

    /// A short description for start-up logs ("HS256 key", "JWKS <url>",
    /// "JWKS <url> (RS256, ES256)").
    #[must_use]
    pub fn describe(&self) -> String {
        match &*self.inner {
            Inner::Static { alg, .. } => format!("{} key", keys::algorithm_name(*alg)),
            Inner::Jwks {
                jwks,
                algorithms: None,
            } => format!("JWKS {}", jwks.url()),
            Inner::Jwks {
                jwks,
                algorithms: Some(algs),
            } => format!("JWKS {} ({})", jwks.url(), keys::algorithm_list(algs)),
        }
    }

    /// Verifies `token` (compact JWS, without any `Bearer ` prefix):
    /// algorithm pinning, signature, `exp` and `nbf` when present, then the
    /// draft-07 Mercure claim.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = token::parse_header(token)?;
        let claims = self.verify_signature(token, &header).await?;
        claims::extract(&claims, claims::now_seconds())
    }

    /// The step both protocol modes share: pins the algorithm, checks the
    /// signature with this verifier's key(s) only, and returns the (now
    /// authentic) claim set. No claim is validated here.
    pub(crate) async fn verify_signature(
        &self,
        token: &str,
        header: &token::Header,
    ) -> Result<serde_json::Value, AuthError> {
        match &*self.inner {
            Inner::Static { key, alg } => {
                let expected = keys::algorithm_name(*alg);
                if header.alg != expected {
                    return Err(AuthError::AlgorithmNotAllowed {
                        alg: header.alg.clone(),
                        accepted_by: "this verifier".to_owned(),
                        allowed: expected.to_owned(),
                    });
                }
                token::verify_signature(token, key, *alg)
            }
            Inner::Jwks { jwks, algorithms } => {
                if let Some(allowed) = algorithms {
                    // Checked before any key lookup so a disallowed alg can
                    // neither trigger a refresh nor reach a key.
                    let listed = keys::algorithm_from_name(&header.alg)
                        .is_some_and(|alg| allowed.contains(&alg));
                    if !listed {
                        return Err(AuthError::AlgorithmNotAllowed {
                            alg: header.alg.clone(),
                            accepted_by: format!("JWKS {}", jwks.url()),
                            allowed: keys::algorithm_list(allowed),
                        });
                    }
                }
                jwks.verify(token, header).await
            }
        }
    }
}

fn static_inner(key: &str, alg: &str) -> Result<Inner, AuthError> {
    let alg = keys::parse_algorithm(alg)?;
    let key = keys::decoding_key(key, alg)?;
    Ok(Inner::Static { key, alg })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn verifier_is_send_sync_clone() {
        assert_send_sync::<Verifier>();
        assert_send_sync::<Claims>();
        assert_send_sync::<Issuers>();
        assert_send_sync::<AccessClaims>();
    }
}
