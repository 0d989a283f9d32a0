//! Presence: the draft-07 subscription documents (JSON-LD), used both by the subscription events
//! dispatched on connect and disconnect and by the subscriptions API.

use serde::Serialize;

use crate::presence_store::SubscriberRecord;
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

/// Anything that describes a subscriber: a local [`Subscriber`] or a [`SubscriberRecord`] of
/// any node.
pub trait SubscriberInfo {
    fn subscriber_id(&self) -> &str;
    fn subscriber_topics(&self) -> &[String];
    fn subscriber_payload(&self) -> Option<&serde_json::Value>;
}

impl SubscriberInfo for Subscriber {
    fn subscriber_id(&self) -> &str {
        self.id()
    }
    fn subscriber_topics(&self) -> &[String] {
        self.topics()
    }
    fn subscriber_payload(&self) -> Option<&serde_json::Value> {
        self.payload()
    }
}

impl SubscriberInfo for SubscriberRecord {
    fn subscriber_id(&self) -> &str {
        &self.id
    }
    fn subscriber_topics(&self) -> &[String] {
        &self.topics
    }
    fn subscriber_payload(&self) -> Option<&serde_json::Value> {
        self.payload.as_ref()
    }
}

impl<T: SubscriberInfo> SubscriberInfo for std::sync::Arc<T> {
    fn subscriber_id(&self) -> &str {
        (**self).subscriber_id()
    }
    fn subscriber_topics(&self) -> &[String] {
        (**self).subscriber_topics()
    }
    fn subscriber_payload(&self) -> Option<&serde_json::Value> {
        (**self).subscriber_payload()
    }
}

/// The documents of a subscriber's subscriptions, one per selector; with `topic`, only the
/// subscriptions whose selector is exactly that topic.
pub fn subscription_docs(
    s: &impl SubscriberInfo,
    topic: Option<&str>,
    with_context: bool,
    active: bool,
) -> Vec<SubscriptionDoc> {
    let escaped_id = query_escape(s.subscriber_id());
    s.subscriber_topics()
        .iter()
        .filter(|t| topic.is_none_or(|want| want == t.as_str()))
        .map(|t| SubscriptionDoc {
            context: with_context.then_some(JSONLD_CONTEXT),
            id: format!("{SUBSCRIPTIONS_PATH}/{}/{escaped_id}", query_escape(t)),
            kind: "Subscription",
            subscriber: s.subscriber_id().to_string(),
            topic: t.clone(),
            active,
            last_event_id: None,
            payload: s.subscriber_payload().cloned(),
        })
        .collect()
}

/// Serializes like Go's `json.MarshalIndent(v, "", "  ")`, which is what clients of the
/// reference hub see.
pub fn to_pretty_json<T: Serialize>(v: &T) -> String {
    // Serializing plain structs of strings, bools and JSON values cannot fail.
    let json = serde_json::to_string_pretty(v).unwrap_or_default();
    go_html_escape(json)
}

/// Go's encoding/json escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings (HTML-safe
/// output); clients comparing documents byte for byte with the reference hub's see the same.
/// Outside strings JSON never contains these characters, so a plain replacement is exact.
fn go_html_escape(json: String) -> String {
    if !json.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
