//! Presence: the draft-07 subscription documents (JSON-LD), used both by the subscription events
//! dispatched on connect and disconnect and by the subscriptions API.

use serde::Serialize;

use crate::subscriber::{Subscriber, query_escape};

/// The JSON-LD context of Mercure documents.
pub const JSONLD_CONTEXT: &str = "https://mercure.rocks/";

/// The path under which subscriptions live.
pub const SUBSCRIPTIONS_PATH: &str = "/.well-known/mercure/subscriptions";

/// One subscription (one selector of one subscriber), as the spec's JSON-LD document.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionDoc {
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<&'static str>,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub subscriber: String,
    pub topic: String,
    pub active: bool,
    #[serde(rename = "lastEventID", skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// The documents of a subscriber's subscriptions, one per selector; with `topic`, only the
/// subscriptions whose selector is exactly that topic.
pub fn subscription_docs(
    s: &Subscriber,
    topic: Option<&str>,
    with_context: bool,
    active: bool,
) -> Vec<SubscriptionDoc> {
    s.topics()
        .iter()
        .filter(|t| topic.is_none_or(|want| want == t.as_str()))
        .map(|t| SubscriptionDoc {
            context: with_context.then_some(JSONLD_CONTEXT),
            id: format!(
                "{SUBSCRIPTIONS_PATH}/{}/{}",
                query_escape(t),
                s.escaped_id()
            ),
            kind: "Subscription",
            subscriber: s.id().to_string(),
            topic: t.clone(),
            active,
            last_event_id: None,
            payload: s.payload().cloned(),
        })
        .collect()
}

/// Serializes like Go's `json.MarshalIndent(v, "", "  ")`, which is what clients of the
/// reference hub see.
pub fn to_pretty_json<T: Serialize>(v: &T) -> String {
    // Serializing plain structs of strings, bools and JSON values cannot fail.
    serde_json::to_string_pretty(v).unwrap_or_default()
}
