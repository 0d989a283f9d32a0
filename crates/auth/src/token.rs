//! JWS compact parsing and signature checking against one candidate key.
//!
//! The header is read by hand *before* any key is chosen so that we can (a)
//! refuse `alg: none` and unlisted algorithms with a precise message instead
//! of a serde error, and (b) read `kid` for JWKS lookups (and `typ` for the
//! draft-08 access-token check). Only `alg`, `kid` and `typ` are ever looked
//! at: `jwk`, `jku`, `x5u` and `x5c` are ignored, so a token can never bring
//! its own key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::AuthError;
use crate::keys::describe_jwt_error;

/// The parts of a JOSE header used to select a key.
#[derive(Debug)]
pub(crate) struct Header {
    /// The `alg` header, verbatim.
    pub(crate) alg: String,
    /// The `kid` header, if present and a string.
    pub(crate) kid: Option<String>,
    /// The `typ` header, verbatim (any JSON type), if present. Only the
    /// draft-08 access-token check looks at it.
    pub(crate) typ: Option<Value>,
}

/// Reads the (unverified) header of a compact JWS.
pub(crate) fn parse_header(token: &str) -> Result<Header, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".to_owned(),
        ));
    };
    let raw = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| AuthError::Malformed(format!("header is not base64url: {e}")))?;
    let value: Value = serde_json::from_slice(&raw)
        .map_err(|e| AuthError::Malformed(format!("header is not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(AuthError::Malformed(
            "header is not a JSON object".to_owned(),
        ));
    };
    let alg = match map.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        Some(_) => {
            return Err(AuthError::Malformed(
                "header alg is not a string".to_owned(),
            ));
        }
        None => return Err(AuthError::Malformed("header has no alg".to_owned())),
    };
    let kid = match map.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => {
            return Err(AuthError::Malformed(
                "header kid is not a string".to_owned(),
            ));
        }
    };
    let typ = map.get("typ").cloned();
    Ok(Header { alg, kid, typ })
}

/// Decodes the claim set of a compact JWS *without* checking the signature.
/// Only used to read `iss`, which selects the issuer whose keys then verify
/// the token; nothing read here is trusted until that verification passed.
pub(crate) fn unverified_claims(token: &str) -> Result<Value, AuthError> {
    let Some(payload) = token.split('.').nth(1) else {
        return Err(AuthError::Malformed(
            "expected three dot-separated parts".to_owned(),
        ));
    };
    let raw = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| AuthError::Malformed(format!("payload is not base64url: {e}")))?;
    serde_json::from_slice(&raw)
        .map_err(|e| AuthError::Malformed(format!("payload is not JSON: {e}")))
}

/// Checks the signature of `token` with `key` for exactly `alg` and returns
/// the decoded claim set. Time claims are *not* checked here (see
/// `claims::extract`), so that error messages can carry the timestamps.
pub(crate) fn verify_signature(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<Value, AuthError> {
    let mut validation = Validation::new(alg);
    // Draft-07: exp optional, no aud/iss checks; exp/nbf are enforced by
    // claims::extract without leeway, matching the reference.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;

    match jsonwebtoken::decode::<Value>(token, key, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind;
            Err(match e.kind() {
                ErrorKind::InvalidSignature => AuthError::SignatureInvalid,
                ErrorKind::InvalidToken
                | ErrorKind::Base64(_)
                | ErrorKind::Json(_)
                | ErrorKind::Utf8(_) => AuthError::Malformed(describe_jwt_error(&e)),
                // The key could not be turned into a verifier for this alg.
                _ => AuthError::KeyRejected(describe_jwt_error(&e)),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn header_parsing() {
        let t = format!("{}.{}.sig", b64(r#"{"alg":"RS256","kid":"k1"}"#), b64("{}"));
        let h = parse_header(&t).expect("valid header");
        assert_eq!(h.alg, "RS256");
        assert_eq!(h.kid.as_deref(), Some("k1"));
        assert_eq!(h.typ, None);
        let t = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256","typ":"at+jwt"}"#),
            b64("{}")
        );
        let h = parse_header(&t).expect("valid header");
        assert_eq!(h.typ, Some(Value::String("at+jwt".to_owned())));

        for bad in [
            "onlyone".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            format!("{}.e30.", b64("[]")),
            format!("{}.e30.", b64(r#"{"typ":"JWT"}"#)),
            format!("{}.e30.", b64(r#"{"alg":1}"#)),
            format!("{}.e30.", b64(r#"{"alg":"HS256","kid":5}"#)),
            "!!!.e30.".to_owned(),
        ] {
            assert!(
                matches!(parse_header(&bad), Err(AuthError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn unverified_claims_parsing() {
        let t = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"iss":"a"}"#)
        );
        let claims = unverified_claims(&t).expect("claims");
        assert_eq!(claims["iss"], "a");
        for bad in [
            "nodots".to_owned(),
            format!("{}.!!!.sig", b64("{}")),
            format!("{}.{}.sig", b64("{}"), b64("not json")),
        ] {
            assert!(
                matches!(unverified_claims(&bad), Err(AuthError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
