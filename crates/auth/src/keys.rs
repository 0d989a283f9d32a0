//! Algorithm names and static key loading (HMAC secrets and PEM keys).
//!
//! The reference hub pins one algorithm per configured key and refuses any
//! token whose `alg` differs; we do the same. On top of that, loading is
//! strict so that misconfigurations fail at start-up with a clear message
//! instead of surfacing later as an unexplained "signature invalid":
//!
//! * a PEM *private* key given to a verifier is refused (the verifier needs
//!   the public key; jsonwebtoken would otherwise silently misread it);
//! * a PEM block given as an HMAC secret is refused, because anyone holding
//!   the (public) PEM could then forge HMAC tokens;
//! * the curve of an EC key must match ES256 / ES384.

use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};

use crate::AuthError;

/// Human-readable list used in error messages.
pub(crate) const SUPPORTED_ALGORITHMS: &str =
    "HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, PS256, PS384, PS512, EdDSA";

/// The algorithm used when none is configured (as in the reference hub).
pub(crate) const DEFAULT_ALGORITHM: Algorithm = Algorithm::HS256;

/// The algorithms a draft-08 JWKS verifier accepts when its configuration
/// lists none: the reference's asymmetric default list (EdDSA ES256 ES384
/// ES512 RS256 RS384 RS512 PS256 PS384 PS512) minus ES512, which the crypto
/// backend (jsonwebtoken) does not implement. No HMAC algorithm, so a public
/// key can never be reinterpreted as a shared secret.
pub const DEFAULT_JWKS_ALGORITHMS: &[&str] = &[
    "EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// [`DEFAULT_JWKS_ALGORITHMS`] as algorithms.
pub(crate) fn default_jwks_algorithms() -> Vec<Algorithm> {
    DEFAULT_JWKS_ALGORITHMS
        .iter()
        .filter_map(|name| algorithm_from_name(name))
        .collect()
}

/// Parses a configured algorithm allowlist (exact JOSE names; duplicates
/// collapse). Empty lists and unknown names are configuration errors: `none`
/// is never accepted, and ES512 is refused at start-up because we cannot
/// verify it, rather than silently never matching.
pub(crate) fn parse_algorithm_list(names: &[String]) -> Result<Vec<Algorithm>, AuthError> {
    if names.is_empty() {
        return Err(AuthError::InvalidAlgorithmList(
            "the list is empty".to_owned(),
        ));
    }
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let alg = algorithm_from_name(name)
            .ok_or_else(|| AuthError::UnsupportedAlgorithm { name: name.clone() })?;
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

/// Parses a configured algorithm name (exact, case-sensitive JOSE name, as
/// the reference's `jwt.GetSigningMethod`). An empty name means HS256.
pub(crate) fn parse_algorithm(name: &str) -> Result<Algorithm, AuthError> {
    if name.is_empty() {
        return Ok(DEFAULT_ALGORITHM);
    }
    algorithm_from_name(name).ok_or_else(|| AuthError::UnsupportedAlgorithm {
        name: name.to_owned(),
    })
}

/// Maps a JOSE `alg` name to the algorithms we support; `None` for anything
/// else, including `none` (never accepted).
pub(crate) fn algorithm_from_name(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The JOSE name of an algorithm.
pub(crate) fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        // `Algorithm` is non_exhaustive; a future variant is simply unnamed.
        _ => "unknown",
    }
}

/// Comma-separated names, for error messages.
pub(crate) fn algorithm_list(algs: &[Algorithm]) -> String {
    let names: Vec<&str> = algs.iter().map(|a| algorithm_name(*a)).collect();
    names.join(", ")
}

/// The label of the first PEM block (`PUBLIC KEY`, `RSA PRIVATE KEY`...), if
/// the text contains one.
pub(crate) fn pem_label(text: &str) -> Option<&str> {
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN)? + BEGIN.len();
    let rest = &text[start..];
    let end = rest.find("-----")?;
    Some(rest[..end].trim())
}

fn invalid(alg: Algorithm, reason: impl Into<String>) -> AuthError {
    AuthError::InvalidKey {
        alg: algorithm_name(alg).to_owned(),
        reason: reason.into(),
    }
}

/// Builds the verification key for a static `(key, alg)` configuration.
pub(crate) fn decoding_key(key: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
    let label = pem_label(key);
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            if key.is_empty() {
                return Err(invalid(alg, "the HMAC secret is empty"));
            }
            if let Some(label) = label {
                return Err(invalid(
                    alg,
                    format!(
                        "the secret looks like a PEM block ({label}); HMAC secrets must not be PEM keys \
                         (anyone knowing a public key could forge tokens): configure the matching \
                         asymmetric algorithm (RS256, ES256, EdDSA...) instead"
                    ),
                ));
            }
            DecodingKey::from_secret(key.as_bytes()).map_err(|e| invalid(alg, e.to_string()))
        }
        _ => {
            let Some(label) = label else {
                return Err(invalid(
                    alg,
                    "expected a PEM-encoded public key (-----BEGIN PUBLIC KEY-----)",
                ));
            };
            if label.contains("PRIVATE KEY") {
                return Err(invalid(
                    alg,
                    format!(
                        "got a private key ({label}); the hub verifies tokens and needs the \
                         matching public key (-----BEGIN PUBLIC KEY-----)"
                    ),
                ));
            }
            public_pem_key(key.as_bytes(), alg)
        }
    }
}

fn public_pem_key(pem: &[u8], alg: Algorithm) -> Result<DecodingKey, AuthError> {
    match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem).map_err(|e| {
            invalid(
                alg,
                format!(
                    "not a PEM RSA public key or certificate ({})",
                    describe_jwt_error(&e)
                ),
            )
        }),
        Algorithm::ES256 | Algorithm::ES384 => {
            let key = DecodingKey::from_ec_pem(pem).map_err(|e| {
                invalid(
                    alg,
                    format!(
                        "not a PEM EC public key or certificate ({})",
                        describe_jwt_error(&e)
                    ),
                )
            })?;
            check_ec_curve(&key, alg)?;
            Ok(key)
        }
        Algorithm::EdDSA => {
            let key = DecodingKey::from_ed_pem(pem).map_err(|e| {
                invalid(
                    alg,
                    format!("not a PEM Ed25519 public key ({})", describe_jwt_error(&e)),
                )
            })?;
            match key.kind() {
                DecodingKeyKind::SecretOrDer(bytes) if bytes.len() == 32 => Ok(key),
                _ => Err(invalid(alg, "not an Ed25519 public key")),
            }
        }
        _ => Err(AuthError::UnsupportedAlgorithm {
            name: algorithm_name(alg).to_owned(),
        }),
    }
}

/// ES256 requires P-256 and ES384 requires P-384 (RFC 7518 §3.4); a mismatch
/// would make every signature check fail, so catch it at load time. The
/// decoded key is the uncompressed SEC1 point, whose length gives the curve.
fn check_ec_curve(key: &DecodingKey, alg: Algorithm) -> Result<(), AuthError> {
    let len = match key.kind() {
        DecodingKeyKind::SecretOrDer(bytes) => bytes.len(),
        DecodingKeyKind::RsaModulusExponent { .. } => 0,
    };
    let curve = match len {
        65 => "P-256",
        97 => "P-384",
        _ => "an unsupported curve",
    };
    match (alg, len) {
        (Algorithm::ES256, 65) | (Algorithm::ES384, 97) => Ok(()),
        _ => Err(invalid(
            alg,
            format!(
                "the EC key is on {curve}, but {} requires {}",
                algorithm_name(alg),
                if alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                }
            ),
        )),
    }
}

/// Builds a signing key for `mint`: an HMAC secret or a PEM private key.
pub(crate) fn encoding_key(key: &str, alg: Algorithm) -> Result<EncodingKey, AuthError> {
    let label = pem_label(key);
    let mint_err = |reason: String| AuthError::Mint(reason);
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            if key.is_empty() {
                return Err(mint_err("the HMAC secret is empty".to_owned()));
            }
            if let Some(label) = label {
                return Err(mint_err(format!(
                    "a PEM key ({label}) cannot be used as an HMAC secret; pass --alg with the \
                     key's asymmetric algorithm (RS256, ES256, EdDSA...)"
                )));
            }
            EncodingKey::from_secret(key.as_bytes()).map_err(|e| mint_err(describe_jwt_error(&e)))
        }
        _ => {
            let name = algorithm_name(alg);
            match label {
                Some(label) if label.contains("PRIVATE KEY") => {}
                Some(label) => {
                    return Err(mint_err(format!(
                        "{name} signing needs a PEM private key, got {label}"
                    )));
                }
                None => {
                    return Err(mint_err(format!(
                        "{name} signing needs a PEM private key (-----BEGIN PRIVATE KEY-----)"
                    )));
                }
            }
            let pem = key.as_bytes();
            let parsed = match alg {
                Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                _ => EncodingKey::from_rsa_pem(pem),
            };
            parsed.map_err(|e| {
                mint_err(format!(
                    "the key is not a usable {name} private key ({})",
                    describe_jwt_error(&e)
                ))
            })
        }
    }
}

/// jsonwebtoken renders most of its errors as `Debug` of the kind
/// (`InvalidKeyFormat`); turn the common ones into words.
pub(crate) fn describe_jwt_error(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidKeyFormat => "unrecognised key format".to_owned(),
        ErrorKind::InvalidEcdsaKey => "invalid ECDSA key".to_owned(),
        ErrorKind::InvalidEddsaKey => "invalid EdDSA key".to_owned(),
        ErrorKind::InvalidRsaKey(msg) => format!("invalid RSA key: {msg}"),
        ErrorKind::InvalidSignature => "signature invalid".to_owned(),
        ErrorKind::InvalidToken => {
            "invalid JWS (bad structure, or an unsupported crit/b64 header)".to_owned()
        }
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key".to_owned(),
        ErrorKind::UnsupportedAlgorithm => "unsupported algorithm".to_owned(),
        ErrorKind::Base64(err) => format!("bad base64url: {err}"),
        ErrorKind::Json(err) => format!("bad JSON: {err}"),
        ErrorKind::Utf8(err) => format!("bad UTF-8: {err}"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_labels() {
        assert_eq!(
            pem_label("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"),
            Some("PUBLIC KEY")
        );
        assert_eq!(
            pem_label("  \n-----BEGIN RSA PRIVATE KEY-----\n"),
            Some("RSA PRIVATE KEY")
        );
        assert_eq!(pem_label("!ChangeThisMercureHubJWTSecretKey!"), None);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for name in SUPPORTED_ALGORITHMS.split(", ") {
            let alg = algorithm_from_name(name).expect("listed algorithm parses");
            assert_eq!(algorithm_name(alg), name);
        }
        assert_eq!(parse_algorithm("").ok(), Some(Algorithm::HS256));
        assert!(algorithm_from_name("none").is_none());
        assert!(algorithm_from_name("hs256").is_none());
        assert!(matches!(
            parse_algorithm("ES512"),
            Err(AuthError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn algorithm_lists() {
        assert_eq!(
            default_jwks_algorithms().len(),
            DEFAULT_JWKS_ALGORITHMS.len()
        );
        assert!(!default_jwks_algorithms().contains(&Algorithm::HS256));
        let list =
            parse_algorithm_list(&["RS256".to_owned(), "ES256".to_owned(), "RS256".to_owned()])
                .expect("valid list");
        assert_eq!(list, vec![Algorithm::RS256, Algorithm::ES256]);
        assert!(matches!(
            parse_algorithm_list(&[]),
            Err(AuthError::InvalidAlgorithmList(_))
        ));
        for bad in ["none", "ES512", "rs256"] {
            assert!(matches!(
                parse_algorithm_list(&["RS256".to_owned(), bad.to_owned()]),
                Err(AuthError::UnsupportedAlgorithm { name }) if name == bad
            ));
        }
    }

    #[test]
    fn empty_secret_refused() {
        let err = decoding_key("", Algorithm::HS256)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("invalid HS256 key: the HMAC secret is empty")
        );
    }

    #[test]
    fn pem_as_hmac_secret_refused() {
        let err = decoding_key(
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n",
            Algorithm::HS256,
        );
        assert!(matches!(err, Err(AuthError::InvalidKey { .. })));
    }

    #[test]
    fn non_pem_for_rsa_refused() {
        let err = decoding_key("secret", Algorithm::RS256)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("expected a PEM-encoded public key")));
    }
}
