//! The draft-08 `authorization_details` claim (RFC 9396): structure
//! validation and conversion into per-action [`Grant`] lists.
//!
//! Rules (reference hub v1.0, spec draft-08 §Authorization):
//!
//! * absent or `null`: a valid token that grants nothing; otherwise the
//!   claim must be an array;
//! * entries whose `type` is not [`AUTHORIZATION_DETAIL_TYPE`] belong to
//!   other resource servers and are ignored whatever their shape (RFC 9396
//!   lets each type define its members); an entry must still be an object
//!   (a `null` entry has no type and is ignored, like the reference's
//!   decoder), and `type`, when present, must be a string;
//! * a Mercure entry needs a non-empty `actions` array of strings
//!   (`publish`, `subscribe`; unknown actions are ignored so that issuers can
//!   use actions of future specifications) and a non-empty `topics` array of
//!   objects `{"match": non-empty string, "match_type": "exact" |
//!   "urlpattern"}` (`match_type` defaults to `exact`, names are
//!   case-sensitive); `payload` is any JSON (`null` = none);
//! * at most [`MAX_AUTHORIZATION_DETAILS`] Mercure entries and
//!   [`MAX_TOPIC_MATCHERS`] topic matchers summed across them, so a token
//!   cannot make the hub compile an unbounded number of URL patterns;
//! * any malformed Mercure entry rejects the whole token: a partially
//!   understood grant could silently authorize less (or more) than the
//!   issuer meant.
//!
//! URL patterns are only checked for shape here; whether they compile (and
//! the length / character limits shared with subscribe matchers) is decided
//! by the HTTP layer with the hub's own pattern compiler.

use serde_json::{Map, Value};

use crate::AuthError;
use crate::access::Grant;
use crate::claims::json_type;

/// Name of the claim.
pub const AUTHORIZATION_DETAILS_CLAIM: &str = "authorization_details";

/// The RFC 9396 `type` of Mercure authorization details.
pub const AUTHORIZATION_DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";

/// Maximum Mercure entries in `authorization_details` (reference: 100, the
/// same bound as matchers per subscribe request).
pub const MAX_AUTHORIZATION_DETAILS: usize = 100;

/// Maximum topic matchers summed across all Mercure entries.
pub const MAX_TOPIC_MATCHERS: usize = 100;

/// The grants of a token, per action, in claim order.
#[derive(Debug, Default)]
pub(crate) struct Grants {
    pub(crate) publish: Vec<Grant>,
    pub(crate) subscribe: Vec<Grant>,
}

fn invalid(reason: String) -> AuthError {
    AuthError::InvalidAuthorizationDetails(reason)
}

/// Validates the claim in a (verified) claim set and flattens it: each
/// Mercure entry contributes one grant per topic matcher to each of its
/// known actions, carrying the entry's payload. Order is preserved (entries,
/// then topics) because the HTTP layer picks "the first subscribe detail
/// matching" a subscription to choose its payload.
pub(crate) fn grants(claims: &Map<String, Value>) -> Result<Grants, AuthError> {
    let entries = match claims.get(AUTHORIZATION_DETAILS_CLAIM) {
        None | Some(Value::Null) => return Ok(Grants::default()),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(invalid(format!(
                "must be an array, got {}",
                json_type(other)
            )));
        }
    };

    let mut out = Grants::default();
    let mut details = 0usize;
    let mut matchers = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        let obj = match entry {
            Value::Null => continue,
            Value::Object(obj) => obj,
            other => {
                return Err(invalid(format!(
                    "entry {i} must be an object, got {}",
                    json_type(other)
                )));
            }
        };
        match obj.get("type") {
            Some(Value::String(t)) if t == AUTHORIZATION_DETAIL_TYPE => {}
            None | Some(Value::Null | Value::String(_)) => continue,
            Some(other) => {
                return Err(invalid(format!(
                    "entry {i}: type must be a string, got {}",
                    json_type(other)
                )));
            }
        }

        // Caps first, before the entry's topics are even looked at.
        details += 1;
        if details > MAX_AUTHORIZATION_DETAILS {
            return Err(AuthError::TooManyAuthorizationDetails {
                max: MAX_AUTHORIZATION_DETAILS,
            });
        }
        if let Some(Value::Array(topics)) = obj.get("topics") {
            matchers += topics.len();
            if matchers > MAX_TOPIC_MATCHERS {
                return Err(AuthError::TooManyTopicMatchers {
                    max: MAX_TOPIC_MATCHERS,
                });
            }
        }

        mercure_entry(i, obj, &mut out)?;
    }
    Ok(out)
}

fn mercure_entry(i: usize, obj: &Map<String, Value>, out: &mut Grants) -> Result<(), AuthError> {
    let actions = match obj.get("actions") {
        Some(Value::Array(actions)) if !actions.is_empty() => actions,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(invalid(format!(
                "entry {i}: actions must be a non-empty array"
            )));
        }
        Some(other) => {
            return Err(invalid(format!(
                "entry {i}: actions must be an array of strings, got {}",
                json_type(other)
            )));
        }
    };
    let (mut publish, mut subscribe) = (false, false);
    for (j, action) in actions.iter().enumerate() {
        match action {
            Value::String(a) if a == "publish" => publish = true,
            Value::String(a) if a == "subscribe" => subscribe = true,
            // Unknown actions grant nothing here (spec: MUST be ignored).
            Value::String(_) => {}
            other => {
                return Err(invalid(format!(
                    "entry {i}: actions[{j}] must be a string, got {}",
                    json_type(other)
                )));
            }
        }
    }

    let topics = match obj.get("topics") {
        Some(Value::Array(topics)) if !topics.is_empty() => topics,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(invalid(format!(
                "entry {i}: topics must be a non-empty array"
            )));
        }
        Some(other) => {
            return Err(invalid(format!(
                "entry {i}: topics must be an array of objects, got {}",
                json_type(other)
            )));
        }
    };
    let payload = match obj.get("payload") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };

    let mut matchers = Vec::with_capacity(topics.len());
    for (j, topic) in topics.iter().enumerate() {
        matchers.push(topic_matcher(i, j, topic)?);
    }
    for (pattern, urlpattern) in matchers {
        let grant = Grant {
            pattern,
            urlpattern,
            payload: payload.clone(),
        };
        match (publish, subscribe) {
            (true, true) => {
                out.publish.push(grant.clone());
                out.subscribe.push(grant);
            }
            (true, false) => out.publish.push(grant),
            (false, true) => out.subscribe.push(grant),
            (false, false) => {}
        }
    }
    Ok(())
}

/// One `topics` entry → (pattern, is URL pattern).
fn topic_matcher(i: usize, j: usize, topic: &Value) -> Result<(String, bool), AuthError> {
    let where_ = format!("entry {i}: topics[{j}]");
    let Value::Object(obj) = topic else {
        // Bare strings are the deprecated claim shape: refusing them keeps
        // a legacy token from silently parsing as exact matchers.
        return Err(invalid(format!(
            "{where_} must be an object with a \"match\" member, got {}",
            json_type(topic)
        )));
    };
    let pattern = match obj.get("match") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) => return Err(invalid(format!("{where_}: match is empty"))),
        None | Some(Value::Null) => {
            return Err(invalid(format!("{where_}: match is required")));
        }
        Some(other) => {
            return Err(invalid(format!(
                "{where_}: match must be a string, got {}",
                json_type(other)
            )));
        }
    };
    let urlpattern = match obj.get("match_type") {
        None | Some(Value::Null) => false,
        Some(Value::String(t)) if t == "exact" => false,
        Some(Value::String(t)) if t == "urlpattern" => true,
        Some(Value::String(t)) => {
            return Err(invalid(format!(
                "{where_}: unsupported match_type {t:?} (expected \"exact\" or \"urlpattern\")"
            )));
        }
        Some(other) => {
            return Err(invalid(format!(
                "{where_}: match_type must be a string, got {}",
                json_type(other)
            )));
        }
    };
    Ok((pattern, urlpattern))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const T: &str = AUTHORIZATION_DETAIL_TYPE;

    fn parse(details: Value) -> Result<Grants, AuthError> {
        let claims = json!({ AUTHORIZATION_DETAILS_CLAIM: details });
        let Value::Object(map) = claims else {
            unreachable!("json! object literal")
        };
        grants(&map)
    }

    fn ok(details: Value) -> Grants {
        parse(details).unwrap_or_else(|e| panic!("unexpected error: {e}"))
    }

    fn invalid_reason(details: Value) -> String {
        match parse(details) {
            Err(AuthError::InvalidAuthorizationDetails(reason)) => reason,
            other => panic!("expected InvalidAuthorizationDetails, got {other:?}"),
        }
    }

    fn g(pattern: &str, urlpattern: bool, payload: Option<Value>) -> Grant {
        Grant {
            pattern: pattern.to_owned(),
            urlpattern,
            payload,
        }
    }

    #[test]
    fn absent_or_null_grants_nothing() {
        let empty = Map::new();
        let out = grants(&empty).expect("absent is valid");
        assert!(out.publish.is_empty() && out.subscribe.is_empty());
        let out = ok(Value::Null);
        assert!(out.publish.is_empty() && out.subscribe.is_empty());
        let out = ok(json!([]));
        assert!(out.publish.is_empty() && out.subscribe.is_empty());
    }

    #[test]
    fn claim_must_be_an_array() {
        for bad in [json!({}), json!("x"), json!(1), json!(true)] {
            assert!(invalid_reason(bad).starts_with("must be an array"));
        }
    }

    #[test]
    fn flattening_preserves_order_and_payloads() {
        let out = ok(json!([
            {"type": T, "actions": ["subscribe"], "topics": [
                {"match": "https://example.com/a"},
                {"match": "https://example.com/b/:id", "match_type": "urlpattern"},
            ], "payload": {"user": 1}},
            {"type": T, "actions": ["publish", "subscribe"], "topics": [
                {"match": "*", "match_type": "exact"},
            ]},
            {"type": T, "actions": ["publish"], "topics": [{"match": "p"}], "payload": null},
        ]));
        assert_eq!(
            out.subscribe,
            vec![
                g("https://example.com/a", false, Some(json!({"user": 1}))),
                g("https://example.com/b/:id", true, Some(json!({"user": 1}))),
                g("*", false, None),
            ]
        );
        assert_eq!(out.publish, vec![g("*", false, None), g("p", false, None)]);
    }

    #[test]
    fn foreign_entries_are_ignored_whatever_their_shape() {
        let out = ok(json!([
            {"type": "payment_initiation", "actions": "x", "topics": "not an array"},
            {"type": "https://mercure.rocks/authorization-detail/", "actions": ["publish"],
             "topics": [{"match": "x"}]},
            {"actions": ["publish"], "topics": [{"match": "no type"}]},
            {"type": null, "actions": ["publish"], "topics": [{"match": "null type"}]},
            null,
            {"type": T, "actions": ["subscribe"], "topics": [{"match": "kept"}]},
        ]));
        assert!(out.publish.is_empty());
        assert_eq!(out.subscribe, vec![g("kept", false, None)]);
    }

    #[test]
    fn entries_must_be_objects_with_string_type() {
        assert!(invalid_reason(json!(["x"])).contains("entry 0 must be an object"));
        assert!(invalid_reason(json!([1])).contains("must be an object"));
        assert!(invalid_reason(json!([{"type": 5}])).contains("type must be a string"));
    }

    #[test]
    fn unknown_actions_are_ignored() {
        let out = ok(json!([
            {"type": T, "actions": ["read", "publish", "Subscribe"], "topics": [{"match": "a"}]},
            {"type": T, "actions": ["delete"], "topics": [{"match": "b"}]},
        ]));
        // Names are case-sensitive: "Subscribe" is an unknown action.
        assert_eq!(out.publish, vec![g("a", false, None)]);
        assert!(out.subscribe.is_empty());
    }

    #[test]
    fn malformed_actions() {
        for (actions, expected) in [
            (json!(null), "actions must be a non-empty array"),
            (json!([]), "actions must be a non-empty array"),
            (
                json!("publish"),
                "actions must be an array of strings, got a string",
            ),
            (
                json!({"publish": true}),
                "actions must be an array of strings",
            ),
            (
                json!(["publish", 1]),
                "actions[1] must be a string, got a number",
            ),
            (
                json!(["publish", null]),
                "actions[1] must be a string, got null",
            ),
        ] {
            let reason = invalid_reason(json!([
                {"type": T, "actions": actions, "topics": [{"match": "a"}]}
            ]));
            assert!(reason.contains(expected), "{reason}");
        }
        let reason = invalid_reason(json!([{"type": T, "topics": [{"match": "a"}]}]));
        assert!(
            reason.contains("actions must be a non-empty array"),
            "{reason}"
        );
    }

    #[test]
    fn malformed_topics() {
        for (topics, expected) in [
            (json!(null), "topics must be a non-empty array"),
            (json!([]), "topics must be a non-empty array"),
            (
                json!("a"),
                "topics must be an array of objects, got a string",
            ),
            (
                json!(["a"]),
                "topics[0] must be an object with a \"match\" member, got a string",
            ),
            (json!([{"match": "a"}, null]), "topics[1] must be an object"),
            (
                json!([{"match_type": "exact"}]),
                "topics[0]: match is required",
            ),
            (json!([{"match": null}]), "match is required"),
            (json!([{"match": ""}]), "match is empty"),
            (
                json!([{"match": 1}]),
                "match must be a string, got a number",
            ),
            (
                json!([{"match": "a", "match_type": "regex"}]),
                "unsupported match_type \"regex\"",
            ),
            (
                json!([{"match": "a", "match_type": "URLPattern"}]),
                "unsupported match_type",
            ),
            (
                json!([{"match": "a", "match_type": ""}]),
                "unsupported match_type",
            ),
            (
                json!([{"match": "a", "match_type": 1}]),
                "match_type must be a string",
            ),
        ] {
            let reason = invalid_reason(json!([
                {"type": T, "actions": ["subscribe"], "topics": topics}
            ]));
            assert!(reason.contains(expected), "{reason}");
        }
        let reason = invalid_reason(json!([{"type": T, "actions": ["subscribe"]}]));
        assert!(
            reason.contains("topics must be a non-empty array"),
            "{reason}"
        );
    }

    #[test]
    fn one_bad_entry_rejects_the_whole_claim() {
        let reason = invalid_reason(json!([
            {"type": T, "actions": ["publish"], "topics": [{"match": "*"}]},
            {"type": T, "actions": ["subscribe"], "topics": ["bare"]},
        ]));
        assert!(reason.starts_with("entry 1:"), "{reason}");
        // Even when the bad entry only has unknown actions.
        invalid_reason(json!([
            {"type": T, "actions": ["future"], "topics": [{"match": "x", "match_type": "?"}]},
        ]));
    }

    #[test]
    fn caps() {
        let detail = json!({"type": T, "actions": ["subscribe"], "topics": [{"match": "x"}]});
        let max = vec![detail.clone(); MAX_AUTHORIZATION_DETAILS];
        assert_eq!(
            ok(Value::Array(max.clone())).subscribe.len(),
            MAX_AUTHORIZATION_DETAILS
        );
        let mut over = max;
        over.push(detail);
        assert!(matches!(
            parse(Value::Array(over)),
            Err(AuthError::TooManyAuthorizationDetails { max: 100 })
        ));

        // Foreign entries do not count.
        let mut mixed = vec![json!({"type": "other"}); 500];
        mixed.push(json!({"type": T, "actions": ["publish"], "topics": [{"match": "x"}]}));
        assert_eq!(ok(Value::Array(mixed)).publish.len(), 1);

        // Topic matchers are summed across entries.
        let topics: Vec<Value> = (0..60).map(|i| json!({"match": format!("t{i}")})).collect();
        let entry = json!({"type": T, "actions": ["publish"], "topics": topics});
        assert!(matches!(
            parse(json!([entry.clone(), entry])),
            Err(AuthError::TooManyTopicMatchers { max: 100 })
        ));
        let topics: Vec<Value> = (0..50).map(|i| json!({"match": format!("t{i}")})).collect();
        let entry = json!({"type": T, "actions": ["publish"], "topics": topics});
        assert_eq!(ok(json!([entry.clone(), entry])).publish.len(), 100);
        // The cap applies before the matchers themselves are validated.
        let too_many = vec![json!("bare"); MAX_TOPIC_MATCHERS + 1];
        assert!(matches!(
            parse(json!([{"type": T, "actions": ["publish"], "topics": too_many}])),
            Err(AuthError::TooManyTopicMatchers { .. })
        ));
    }

    #[test]
    fn payload_any_json() {
        for payload in [
            json!("s"),
            json!(1),
            json!([1, {"a": null}]),
            json!({"x": {"y": 2}}),
        ] {
            let out = ok(json!([
                {"type": T, "actions": ["subscribe"], "topics": [{"match": "a"}], "payload": payload}
            ]));
            assert_eq!(out.subscribe[0].payload.as_ref(), Some(&payload));
        }
    }
}
