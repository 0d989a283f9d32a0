//! Draft-07 claim extraction and registered-claim (time) validation.
//!
//! The rules mirror what the reference hub's JSON decoding into a typed
//! struct implies, because that is what existing tokens were written against:
//!
//! * the claim set must be a JSON object;
//! * `"https://mercure.rocks/"` (namespaced), when present and not `null`,
//!   replaces `"mercure"` entirely; `null` counts as absent;
//! * both claims, when present, must be objects; `publish` / `subscribe`
//!   must be arrays of strings (or `null` / absent), anything else rejects
//!   the whole token; `payload` is any JSON;
//! * at most [`MAX_SELECTORS`] selectors per array;
//! * a token without any Mercure claim is *valid* (the reference decodes it
//!   to an empty claim): such a token can subscribe to public updates only,
//!   and the HTTP layer refuses it for publishing (no `publish` claim);
//! * registered claims must have their JWT types (`exp`/`nbf`/`iat` numbers,
//!   `iss`/`sub`/`jti` strings, `aud` string or array of strings); `exp` and
//!   `nbf` are enforced when present (no leeway), `iat` is not checked.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use crate::AuthError;

/// Maximum selectors per `publish` / `subscribe` array (reference: 1000).
pub const MAX_SELECTORS: usize = 1000;

/// Name of the namespaced claim, which takes precedence over `mercure`.
pub const NAMESPACED_CLAIM: &str = "https://mercure.rocks/";

/// Name of the draft-07 claim.
pub const MERCURE_CLAIM: &str = "mercure";

/// The Mercure-relevant content of a verified token.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// Topic selectors the token may publish to; `None` when the claim is
    /// absent or `null`, `Some(vec![])` for an explicit empty list.
    pub publish: Option<Vec<String>>,
    /// Topic selectors the token may receive private updates for.
    pub subscribe: Option<Vec<String>>,
    /// Free-form `payload`, exposed in subscription events.
    pub payload: Option<Value>,
    /// The `exp` claim in seconds since the epoch, if present; the hub closes
    /// subscriptions when it is reached.
    pub exp: Option<u64>,
    /// Whether the token carried a (non-null) `mercure` or namespaced claim.
    pub has_mercure_claim: bool,
}

/// Validates registered claims and extracts the Mercure claim from a
/// signature-verified claim set.
pub(crate) fn extract(claims: &Value, now: f64) -> Result<Claims, AuthError> {
    let Some(map) = claims.as_object() else {
        return Err(AuthError::Malformed(
            "the claim set is not a JSON object".to_owned(),
        ));
    };
    let exp = check_registered(map, now)?;

    // Both claims are decoded (and thus validated) like the reference does,
    // even when the namespaced one wins.
    let plain = mercure_claim(map, MERCURE_CLAIM)?;
    let namespaced = mercure_claim(map, NAMESPACED_CLAIM)?;
    let mut out = namespaced.or(plain).unwrap_or_default();
    out.exp = exp;
    Ok(out)
}

/// Current time in (fractional) seconds since the epoch.
pub(crate) fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn mercure_claim(map: &Map<String, Value>, name: &str) -> Result<Option<Claims>, AuthError> {
    let obj = match map.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => obj,
        Some(other) => {
            return Err(AuthError::InvalidMercureClaim(format!(
                "{name:?} must be an object, got {}",
                json_type(other)
            )));
        }
    };
    Ok(Some(Claims {
        publish: selectors(obj, name, "publish")?,
        subscribe: selectors(obj, name, "subscribe")?,
        payload: match obj.get("payload") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.clone()),
        },
        exp: None,
        has_mercure_claim: true,
    }))
}

fn selectors(
    obj: &Map<String, Value>,
    claim: &str,
    field: &'static str,
) -> Result<Option<Vec<String>>, AuthError> {
    let items = match obj.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(AuthError::InvalidMercureClaim(format!(
                "{claim}.{field} must be an array of strings, got {}",
                json_type(other)
            )));
        }
    };
    if items.len() > MAX_SELECTORS {
        return Err(AuthError::TooManySelectors {
            claim: field,
            count: items.len(),
            max: MAX_SELECTORS,
        });
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(AuthError::InvalidMercureClaim(format!(
                "{claim}.{field}[{i}] must be a string, got {}",
                json_type(other)
            ))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Type checks registered claims and enforces `exp` / `nbf`. Returns `exp`.
pub(crate) fn check_registered(
    map: &Map<String, Value>,
    now: f64,
) -> Result<Option<u64>, AuthError> {
    for claim in ["iss", "sub", "jti"] {
        match map.get(claim) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(other) => {
                return Err(AuthError::InvalidRegisteredClaim {
                    claim,
                    reason: format!("must be a string, got {}", json_type(other)),
                });
            }
        }
    }
    match map.get("aud") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(other) => {
            return Err(AuthError::InvalidRegisteredClaim {
                claim: "aud",
                reason: format!(
                    "must be a string or an array of strings, got {}",
                    json_type(other)
                ),
            });
        }
    }
    let _iat = numeric_date(map, "iat")?;

    // The reference truncates NumericDates to whole seconds and treats a
    // token as expired from the exp second on (`now >= exp`), valid from the
    // nbf second on (`now >= nbf`); no leeway.
    let exp = numeric_date(map, "exp")?;
    if let Some(exp) = exp
        && now >= exp
    {
        return Err(AuthError::Expired {
            exp: clamp_seconds(exp),
        });
    }
    if let Some(nbf) = numeric_date(map, "nbf")?
        && now < nbf
    {
        return Err(AuthError::NotYetValid {
            nbf: clamp_seconds(nbf),
        });
    }
    Ok(exp.map(clamp_seconds))
}

/// A NumericDate (RFC 7519 §2): any JSON number, truncated to whole seconds.
fn numeric_date(map: &Map<String, Value>, claim: &'static str) -> Result<Option<f64>, AuthError> {
    match map.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f.trunc())),
            _ => Err(AuthError::InvalidRegisteredClaim {
                claim,
                reason: format!("{n} is not a representable date"),
            }),
        },
        Some(other) => Err(AuthError::InvalidRegisteredClaim {
            claim,
            reason: format!("must be a number of seconds, got {}", json_type(other)),
        }),
    }
}

/// Converts seconds to `u64`, saturating (negative → 0, huge → `u64::MAX`);
/// `as` on floats saturates by definition, which is exactly what we want.
fn clamp_seconds(secs: f64) -> u64 {
    secs as u64
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: f64 = 1_700_000_000.5;

    fn ok(v: Value) -> Claims {
        match extract(&v, NOW) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    fn err(v: Value) -> AuthError {
        match extract(&v, NOW) {
            Ok(c) => panic!("unexpected success: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn no_mercure_claim_is_valid_and_empty() {
        let c = ok(json!({"sub": "x"}));
        assert!(!c.has_mercure_claim);
        assert!(c.publish.is_none() && c.subscribe.is_none() && c.payload.is_none());
        assert!(c.exp.is_none());
        let c = ok(json!({"mercure": null}));
        assert!(!c.has_mercure_claim);
    }

    #[test]
    fn empty_and_null_arrays_differ() {
        let c = ok(json!({"mercure": {"publish": [], "subscribe": null}}));
        assert!(c.has_mercure_claim);
        assert_eq!(c.publish, Some(vec![]));
        assert_eq!(c.subscribe, None);
    }

    #[test]
    fn namespaced_claim_replaces_plain_claim() {
        let c = ok(json!({
            "mercure": {"publish": ["a"], "subscribe": ["b"], "payload": 1},
            "https://mercure.rocks/": {"subscribe": ["c"]}
        }));
        assert_eq!(c.publish, None);
        assert_eq!(c.subscribe, Some(vec!["c".to_owned()]));
        assert_eq!(c.payload, None);
        // A null namespaced claim falls back to the plain one.
        let c = ok(json!({"mercure": {"publish": ["a"]}, "https://mercure.rocks/": null}));
        assert_eq!(c.publish, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn invalid_plain_claim_rejected_even_when_namespaced_present() {
        let e = err(json!({"mercure": "x", "https://mercure.rocks/": {"publish": ["a"]}}));
        assert!(matches!(e, AuthError::InvalidMercureClaim(_)), "{e}");
    }

    #[test]
    fn shapes_rejected() {
        for bad in [
            json!({"mercure": []}),
            json!({"mercure": {"publish": "a"}}),
            json!({"mercure": {"subscribe": [1]}}),
            json!({"mercure": {"subscribe": ["a", null]}}),
            json!({"https://mercure.rocks/": {"publish": [{"match": "a"}]}}),
        ] {
            assert!(matches!(err(bad), AuthError::InvalidMercureClaim(_)));
        }
        assert!(matches!(err(json!([1])), AuthError::Malformed(_)));
    }

    #[test]
    fn selector_limit() {
        let max: Vec<String> = (0..MAX_SELECTORS).map(|i| i.to_string()).collect();
        let c = ok(json!({"mercure": {"publish": max}}));
        assert_eq!(c.publish.map(|p| p.len()), Some(MAX_SELECTORS));
        let over: Vec<String> = (0..=MAX_SELECTORS).map(|i| i.to_string()).collect();
        let e = err(json!({"mercure": {"subscribe": over}}));
        assert_eq!(
            e.to_string(),
            "too many selectors in subscribe: 1001 (at most 1000 allowed)"
        );
    }

    #[test]
    fn payload_any_json() {
        let c = ok(json!({"mercure": {"payload": {"user": "x", "n": [1, 2.5, true]}}}));
        assert_eq!(c.payload, Some(json!({"user": "x", "n": [1, 2.5, true]})));
        let c = ok(json!({"mercure": {"payload": "str"}}));
        assert_eq!(c.payload, Some(json!("str")));
    }

    #[test]
    fn exp_and_nbf() {
        assert_eq!(ok(json!({"exp": 1_700_000_001})).exp, Some(1_700_000_001));
        // Fractional exp truncates; expired from the exp second on.
        assert_eq!(ok(json!({"exp": 1_700_000_001.9})).exp, Some(1_700_000_001));
        assert!(matches!(
            err(json!({"exp": 1_700_000_000})),
            AuthError::Expired { exp: 1_700_000_000 }
        ));
        assert!(matches!(
            err(json!({"exp": -5})),
            AuthError::Expired { exp: 0 }
        ));
        assert!(matches!(
            err(json!({"exp": "1800000000"})),
            AuthError::InvalidRegisteredClaim { claim: "exp", .. }
        ));
        assert!(ok(json!({"nbf": 1_700_000_000})).exp.is_none());
        assert!(matches!(
            err(json!({"nbf": 1_700_000_001})),
            AuthError::NotYetValid { nbf: 1_700_000_001 }
        ));
        // Far-future exp saturates rather than overflowing.
        assert_eq!(ok(json!({"exp": 1e300})).exp, Some(u64::MAX));
        // iat is type-checked but not compared with the clock.
        assert!(ok(json!({"iat": 9_999_999_999u64})).exp.is_none());
        assert!(matches!(
            err(json!({"iat": true})),
            AuthError::InvalidRegisteredClaim { claim: "iat", .. }
        ));
    }

    #[test]
    fn registered_claim_types() {
        ok(json!({"iss": "a", "sub": "b", "jti": "c", "aud": ["x", "y"]}));
        ok(json!({"aud": "x"}));
        assert!(matches!(
            err(json!({"aud": [1]})),
            AuthError::InvalidRegisteredClaim { claim: "aud", .. }
        ));
        assert!(matches!(
            err(json!({"iss": 1})),
            AuthError::InvalidRegisteredClaim { claim: "iss", .. }
        ));
    }
}
