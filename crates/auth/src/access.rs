//! Draft-08 (Mercure 1.0) access tokens: trusted issuers and validation.
//!
//! Draft-08 tokens are RFC 9068 JWT access tokens. A hub trusts a set of
//! issuers, each with its own optional publisher and subscriber verifier;
//! a token is checked, in the reference hub's order, as follows:
//!
//! 1. the JOSE header `typ` is `at+jwt` or `application/at+jwt` (ASCII
//!    case-insensitive), so an ID token or a draft-07 token signed with the
//!    same key is not accepted as an access token;
//! 2. the *unverified* `iss` claim selects the issuer (an unknown one is
//!    refused) and the role selects its verifier (none configured: refused).
//!    The unverified value can only choose among configured key sets, never
//!    introduce one; keys are never pooled across issuers or roles, and
//!    keys carried by the token (`jwk`, `jku`, `x5u`, `x5c`) are never used;
//! 3. that verifier pins the algorithm (static key: exactly its algorithm;
//!    JWKS: its allowlist, and the alg must fit the key type) and checks
//!    the signature;
//! 4. `exp` is required and enforced, `nbf` enforced when present, both
//!    truncated to whole seconds without leeway (as for draft-07);
//! 5. `aud` (string or array) contains the hub's resource identifier;
//! 6. `iss` equals the issuer identifier (a guard on step 2);
//! 7. `authorization_details` is validated (see the `details` module).
//!
//! `sub`, `client_id`, `iat` and `jti` are type-checked when present but
//! not required: RFC 9068 asks issuers to set them, but the reference hub
//! does not enforce them and its conformance suite's token has none.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::claims::{check_registered, json_type, now_seconds};
use crate::token::{self, Header};
use crate::{AuthError, Verifier, details};

/// Which endpoint a token is presented to; selects the issuer's verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Publishing (`POST` on the hub).
    Publisher,
    /// Subscribing and the subscriptions API.
    Subscriber,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        })
    }
}

/// One trusted issuer (`issuer <id> { ... }` in the configuration).
#[derive(Debug, Clone)]
pub struct Issuer {
    /// The exact `iss` value of its tokens.
    pub id: String,
    /// Verifies its publisher tokens; `None`: it cannot authorize publishing.
    pub publisher: Option<Verifier>,
    /// Verifies its subscriber tokens; `None`: it cannot authorize
    /// subscribing.
    pub subscriber: Option<Verifier>,
    /// Whether to advertise `id` as an authorization server in the RFC 9728
    /// protected resource metadata (false for self-issued tokens).
    pub authorization_server: bool,
}

impl Issuer {
    /// The verifier for `role`, if configured.
    #[must_use]
    pub fn verifier(&self, role: Role) -> Option<&Verifier> {
        match role {
            Role::Publisher => self.publisher.as_ref(),
            Role::Subscriber => self.subscriber.as_ref(),
        }
    }
}

/// The trusted issuers of a draft-08 hub. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Issuers {
    inner: Arc<IssuersInner>,
}

#[derive(Debug)]
struct IssuersInner {
    /// Configuration order (metadata lists authorization servers in it).
    list: Vec<Issuer>,
    by_id: HashMap<String, usize>,
}

/// A topic matcher granted by a token for one action.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The `match` value (`*` matches every topic, whatever the type).
    pub pattern: String,
    /// `match_type` is `urlpattern` (otherwise `exact`).
    pub urlpattern: bool,
    /// The `payload` of the authorization detail the matcher came from.
    pub payload: Option<Value>,
}

/// What a valid draft-08 token grants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessClaims {
    /// Matchers of the `publish` action, in claim order.
    pub publish: Vec<Grant>,
    /// Matchers of the `subscribe` action, in claim order (the first one
    /// matching a subscription supplies its payload).
    pub subscribe: Vec<Grant>,
    /// The `exp` claim (seconds since the epoch); subscriptions must end by
    /// then.
    pub exp: u64,
}

impl Issuers {
    /// Builds the set. Identifiers must be non-empty (an empty one would
    /// match tokens without `iss`) and unique.
    pub fn new(issuers: Vec<Issuer>) -> Result<Issuers, AuthError> {
        let mut by_id = HashMap::with_capacity(issuers.len());
        for (i, issuer) in issuers.iter().enumerate() {
            if issuer.id.is_empty() {
                return Err(AuthError::InvalidIssuerConfig(
                    "the issuer identifier must not be empty".to_owned(),
                ));
            }
            if by_id.insert(issuer.id.clone(), i).is_some() {
                return Err(AuthError::InvalidIssuerConfig(format!(
                    "issuer {:?} is configured twice",
                    issuer.id
                )));
            }
        }
        Ok(Issuers {
            inner: Arc::new(IssuersInner {
                list: issuers,
                by_id,
            }),
        })
    }

    /// The issuers, in configuration order.
    pub fn iter(&self) -> std::slice::Iter<'_, Issuer> {
        self.inner.list.iter()
    }

    /// The issuer with identifier `id`.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Issuer> {
        self.inner.by_id.get(id).map(|&i| &self.inner.list[i])
    }

    /// Identifiers of the issuers flagged `authorization_server`, in
    /// configuration order (the metadata's `authorization_servers`).
    #[must_use]
    pub fn authorization_servers(&self) -> Vec<&str> {
        self.iter()
            .filter(|i| i.authorization_server)
            .map(|i| i.id.as_str())
            .collect()
    }

    /// Whether some issuer can verify tokens for `role` (e.g. no publisher
    /// verifier anywhere: publishing is impossible).
    #[must_use]
    pub fn has(&self, role: Role) -> bool {
        self.iter().any(|i| i.verifier(role).is_some())
    }

    /// Validates a draft-08 access token presented for `role`; `audience` is
    /// the hub's resource identifier (pinned or derived for this request),
    /// which `aud` must contain (compared exactly; an empty `audience` only
    /// matches an empty `aud` entry, so pass a real identifier). See the
    /// module documentation for the steps.
    pub async fn verify(
        &self,
        token: &str,
        role: Role,
        audience: &str,
    ) -> Result<AccessClaims, AuthError> {
        let header = token::parse_header(token)?;
        check_type(&header)?;

        let unverified = token::unverified_claims(token)?;
        let iss = issuer_claim(&unverified)?;
        let Some(issuer) = self.get(iss) else {
            return Err(AuthError::UntrustedIssuer {
                iss: iss.to_owned(),
            });
        };
        let Some(verifier) = issuer.verifier(role) else {
            return Err(AuthError::RoleNotAccepted {
                iss: issuer.id.clone(),
                role,
            });
        };

        let claims = verifier.verify_signature(token, &header).await?;
        validate(&claims, &issuer.id, audience, now_seconds())
    }
}

/// RFC 9068 §2.1 / §4: `typ` must be `at+jwt`, optionally with the
/// `application/` media-type prefix, compared ASCII case-insensitively.
fn check_type(header: &Header) -> Result<(), AuthError> {
    if let Some(Value::String(typ)) = &header.typ {
        let bare = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ.as_str(),
        };
        if bare.eq_ignore_ascii_case("at+jwt") {
            return Ok(());
        }
    }
    Err(AuthError::InvalidTokenType {
        found: header
            .typ
            .as_ref()
            .map_or_else(|| "null".to_owned(), Value::to_string),
    })
}

/// The `iss` claim of a claim set.
fn issuer_claim(claims: &Value) -> Result<&str, AuthError> {
    let Some(map) = claims.as_object() else {
        return Err(AuthError::Malformed(
            "the claim set is not a JSON object".to_owned(),
        ));
    };
    match map.get("iss") {
        Some(Value::String(iss)) => Ok(iss),
        None | Some(Value::Null) => Err(AuthError::MissingClaim { claim: "iss" }),
        Some(other) => Err(AuthError::InvalidRegisteredClaim {
            claim: "iss",
            reason: format!("must be a string, got {}", json_type(other)),
        }),
    }
}

/// Steps 4-7 on a signature-verified claim set.
fn validate(
    claims: &Value,
    issuer: &str,
    audience: &str,
    now: f64,
) -> Result<AccessClaims, AuthError> {
    let Some(map) = claims.as_object() else {
        return Err(AuthError::Malformed(
            "the claim set is not a JSON object".to_owned(),
        ));
    };
    let exp = check_registered(map, now)?.ok_or(AuthError::MissingClaim { claim: "exp" })?;
    check_audience(map, audience)?;
    let iss = issuer_claim(claims)?;
    if iss != issuer {
        return Err(AuthError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: iss.to_owned(),
        });
    }
    let grants = details::grants(map)?;
    Ok(AccessClaims {
        publish: grants.publish,
        subscribe: grants.subscribe,
        exp,
    })
}

/// `aud` (already type-checked by `check_registered`) must contain the
/// resource identifier, compared exactly.
fn check_audience(map: &Map<String, Value>, audience: &str) -> Result<(), AuthError> {
    let found = match map.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if found {
        return Ok(());
    }
    Err(AuthError::AudienceMismatch {
        expected: audience.to_owned(),
        found: map
            .get("aud")
            .map_or_else(|| "null".to_owned(), Value::to_string),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: f64 = 1_700_000_000.5;
    const ISS: &str = "https://issuer.example";
    const AUD: &str = "https://hub.example/.well-known/mercure";

    fn header(typ: Option<Value>) -> Header {
        Header {
            alg: "HS256".to_owned(),
            kid: None,
            typ,
        }
    }

    #[test]
    fn typ_values() {
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert!(check_type(&header(Some(json!(ok)))).is_ok(), "{ok}");
        }
        for bad in [
            json!("JWT"),
            json!("jwt"),
            json!("at+jwt "),
            json!("application/jwt"),
            json!("application/"),
            json!("text/at+jwt"),
            json!("applicationat+jwt"),
            json!(""),
            json!(["at+jwt"]),
            json!(1),
        ] {
            let e = check_type(&header(Some(bad.clone()))).err();
            assert!(
                matches!(&e, Some(AuthError::InvalidTokenType { found }) if serde_json::from_str::<Value>(found).ok().as_ref() == Some(&bad)),
                "{bad}: {e:?}"
            );
        }
        let e = check_type(&header(None)).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(r#"typ header must be "at+jwt" or "application/at+jwt", got null"#)
        );
        // Non-ASCII input must not panic on the prefix slice (byte 12 falls
        // inside the euro sign).
        assert!(check_type(&header(Some(json!("applicatio\u{20ac}at+jwt")))).is_err());
    }

    fn claims(extra: Value) -> Value {
        let mut base = json!({"iss": ISS, "aud": AUD, "exp": 1_700_000_100});
        if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
            for (k, v) in e {
                if v == json!("<remove>") {
                    b.remove(&k);
                } else {
                    b.insert(k, v);
                }
            }
        }
        base
    }

    fn run(extra: Value) -> Result<AccessClaims, AuthError> {
        validate(&claims(extra), ISS, AUD, NOW)
    }

    #[test]
    fn minimal_token_is_valid_and_grants_nothing() {
        let c = run(json!({})).expect("valid");
        assert_eq!(
            c,
            AccessClaims {
                publish: vec![],
                subscribe: vec![],
                exp: 1_700_000_100
            }
        );
    }

    #[test]
    fn exp_required_and_enforced() {
        assert!(matches!(
            run(json!({"exp": "<remove>"})),
            Err(AuthError::MissingClaim { claim: "exp" })
        ));
        assert!(matches!(
            run(json!({"exp": null})),
            Err(AuthError::MissingClaim { claim: "exp" })
        ));
        assert!(matches!(
            run(json!({"exp": 1_700_000_000})),
            Err(AuthError::Expired { exp: 1_700_000_000 })
        ));
        assert_eq!(
            run(json!({"exp": 1_700_000_001.7})).map(|c| c.exp).ok(),
            Some(1_700_000_001)
        );
        assert!(matches!(
            run(json!({"exp": "1800000000"})),
            Err(AuthError::InvalidRegisteredClaim { claim: "exp", .. })
        ));
    }

    #[test]
    fn nbf_enforced() {
        assert!(run(json!({"nbf": 1_700_000_000})).is_ok());
        assert!(matches!(
            run(json!({"nbf": 1_700_000_001})),
            Err(AuthError::NotYetValid { nbf: 1_700_000_001 })
        ));
    }

    #[test]
    fn audience() {
        assert!(run(json!({"aud": [ "https://other", AUD ]})).is_ok());
        for bad in [
            json!("https://hub.example/.well-known/mercure/"),
            json!("HTTPS://hub.example/.well-known/mercure"),
            json!(["https://other"]),
            json!([]),
            json!(null),
            json!("<remove>"),
        ] {
            assert!(
                matches!(
                    run(json!({"aud": bad})),
                    Err(AuthError::AudienceMismatch { .. })
                ),
                "{bad}"
            );
        }
        let e = run(json!({"aud": ["a", "b"]})).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                r#"aud claim ["a","b"] does not contain "https://hub.example/.well-known/mercure""#
            )
        );
        assert!(matches!(
            run(json!({"aud": [1]})),
            Err(AuthError::InvalidRegisteredClaim { claim: "aud", .. })
        ));
    }

    #[test]
    fn issuer_must_match() {
        assert!(matches!(
            run(json!({"iss": "https://other"})),
            Err(AuthError::IssuerMismatch { .. })
        ));
        assert!(matches!(
            run(json!({"iss": "<remove>"})),
            Err(AuthError::MissingClaim { claim: "iss" })
        ));
    }

    #[test]
    fn optional_registered_claims_not_required_but_typed() {
        assert!(run(json!({"sub": "u", "client_id": "c", "iat": 1, "jti": "j"})).is_ok());
        assert!(matches!(
            run(json!({"sub": 1})),
            Err(AuthError::InvalidRegisteredClaim { claim: "sub", .. })
        ));
    }

    #[test]
    fn issuers_set() {
        let issuer = |id: &str, server: bool| Issuer {
            id: id.to_owned(),
            publisher: None,
            subscriber: None,
            authorization_server: server,
        };
        assert!(matches!(
            Issuers::new(vec![issuer("", false)]),
            Err(AuthError::InvalidIssuerConfig(_))
        ));
        assert!(matches!(
            Issuers::new(vec![issuer("a", false), issuer("a", true)]),
            Err(AuthError::InvalidIssuerConfig(_))
        ));
        let set = Issuers::new(vec![
            issuer("b", true),
            issuer("a", false),
            issuer("c", true),
        ])
        .expect("valid set");
        assert_eq!(set.authorization_servers(), vec!["b", "c"]);
        assert!(!set.has(Role::Publisher) && !set.has(Role::Subscriber));
        assert_eq!(set.get("a").map(|i| i.id.as_str()), Some("a"));
        assert!(set.get("d").is_none());
        let ids: Vec<&str> = set.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["b", "a", "c"]);
    }
}
