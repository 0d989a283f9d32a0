//! Presence: the subscription documents, used both by the subscription events dispatched on
//! connect and disconnect and by the subscriptions API. Draft-07 documents are JSON-LD, one per
//! `topic` selector; draft-08 documents are plain JSON, one per matcher, with its type and its
//! own payload, under `/subscriptions/{match_type}/{match}/{subscriber}`.

use serde::Serialize;

use crate::presence_store::SubscriberRecord;
use crate::subscriber::{Subscriber, path_escape, query_escape};
use crate::topic::MatchType;

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
/// any node. Subscription `i` is the `i`-th of [`SubscriberInfo::subscriber_topics`].
pub trait SubscriberInfo {
    fn subscriber_id(&self) -> &str;
    /// The pattern of each subscription, as sent.
    fn subscriber_topics(&self) -> &[String];
    /// The draft-08 matcher type of subscription `i`, `None` for a draft-07 selector.
    fn subscription_match_type(&self, i: usize) -> Option<MatchType>;
    /// The payload shown for subscription `i`.
    fn subscription_payload(&self, i: usize) -> Option<&serde_json::Value>;
}

impl SubscriberInfo for Subscriber {
    fn subscriber_id(&self) -> &str {
        self.id()
    }
    fn subscriber_topics(&self) -> &[String] {
        self.topics()
    }
    fn subscription_match_type(&self, i: usize) -> Option<MatchType> {
        self.matchers().get(i).and_then(|m| m.match_type)
    }
    fn subscription_payload(&self, i: usize) -> Option<&serde_json::Value> {
        Subscriber::subscription_payload(self, i)
    }
}

impl SubscriberInfo for SubscriberRecord {
    fn subscriber_id(&self) -> &str {
        &self.id
    }
    fn subscriber_topics(&self) -> &[String] {
        &self.topics
    }
    fn subscription_match_type(&self, i: usize) -> Option<MatchType> {
        self.match_type(i)
    }
    fn subscription_payload(&self, i: usize) -> Option<&serde_json::Value> {
        SubscriberRecord::subscription_payload(self, i)
    }
}

impl<T: SubscriberInfo> SubscriberInfo for std::sync::Arc<T> {
    fn subscriber_id(&self) -> &str {
        (**self).subscriber_id()
    }
    fn subscriber_topics(&self) -> &[String] {
        (**self).subscriber_topics()
    }
    fn subscription_match_type(&self, i: usize) -> Option<MatchType> {
        (**self).subscription_match_type(i)
    }
    fn subscription_payload(&self, i: usize) -> Option<&serde_json::Value> {
        (**self).subscription_payload(i)
    }
}

/// The documents of a subscriber's subscriptions, one per selector; with `topic`, only the
/// subscriptions whose selector is exactly that topic (draft-07).
pub fn subscription_docs(
    s: &impl SubscriberInfo,
    topic: Option<&str>,
    with_context: bool,
    active: bool,
) -> Vec<SubscriptionDoc> {
    let escaped_id = query_escape(s.subscriber_id());
    s.subscriber_topics()
        .iter()
        .enumerate()
        .filter(|(_, t)| topic.is_none_or(|want| want == t.as_str()))
        .map(|(i, t)| SubscriptionDoc {
            context: with_context.then_some(JSONLD_CONTEXT),
            id: format!("{SUBSCRIPTIONS_PATH}/{}/{escaped_id}", query_escape(t)),
            kind: "Subscription",
            subscriber: s.subscriber_id().to_string(),
            topic: t.clone(),
            active,
            last_event_id: None,
            payload: s.subscription_payload(i).cloned(),
        })
        .collect()
}

/// One draft-08 subscription (one matcher of one subscriber), as a plain JSON document. Field
/// order is the wire order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchSubscriptionDoc {
    /// Also the topic of its subscription events.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub subscriber: String,
    #[serde(rename = "match")]
    pub pattern: String,
    pub match_type: MatchType,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// A draft-08 collection of subscriptions (`/subscriptions` and
/// `/subscriptions/{match_type}/{match}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchSubscriptionsDoc {
    /// The escaped request path.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub subscriptions: Vec<MatchSubscriptionDoc>,
}

impl MatchSubscriptionsDoc {
    pub fn new(id: String, subscriptions: Vec<MatchSubscriptionDoc>) -> MatchSubscriptionsDoc {
        MatchSubscriptionsDoc {
            id,
            kind: "subscriptions",
            subscriptions,
        }
    }
}

/// Which draft-08 subscriptions to describe; the default selects all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchFilter<'a> {
    /// Only the subscriptions with this type and exactly this (decoded) pattern.
    pub matcher: Option<(MatchType, &'a str)>,
    /// Only the subscriptions of the subscriber with this (decoded) id.
    pub subscriber: Option<&'a str>,
}

/// The id (and subscription-event topic) of a draft-08 subscription:
/// `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`, each variable
/// percent-encoded once with [`path_escape`].
pub fn match_subscription_id(match_type: MatchType, pattern: &str, subscriber: &str) -> String {
    format!(
        "{SUBSCRIPTIONS_PATH}/{}/{}/{}",
        path_escape(match_type.as_str()),
        path_escape(pattern),
        path_escape(subscriber)
    )
}

/// The draft-08 documents of a subscriber's subscriptions selected by `filter`, in subscription
/// order. Draft-07 selectors (no matcher type) have no draft-08 document.
pub fn match_subscription_docs(
    s: &impl SubscriberInfo,
    filter: &MatchFilter<'_>,
    active: bool,
) -> Vec<MatchSubscriptionDoc> {
    let id = s.subscriber_id();
    if filter.subscriber.is_some_and(|want| want != id) {
        return Vec::new();
    }
    let escaped_id = path_escape(id);
    s.subscriber_topics()
        .iter()
        .enumerate()
        .filter_map(|(i, pattern)| {
            let match_type = s.subscription_match_type(i)?;
            if filter
                .matcher
                .is_some_and(|(t, p)| t != match_type || p != pattern.as_str())
            {
                return None;
            }
            Some(MatchSubscriptionDoc {
                id: format!(
                    "{SUBSCRIPTIONS_PATH}/{}/{}/{escaped_id}",
                    path_escape(match_type.as_str()),
                    path_escape(pattern)
                ),
                kind: "subscription",
                subscriber: id.to_string(),
                pattern: pattern.clone(),
                match_type,
                active,
                payload: s.subscription_payload(i).cloned(),
            })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> SubscriberRecord {
        SubscriberRecord {
            id: "urn:uuid:1e0c".into(),
            topics: vec![
                "https://example.com".into(),
                "https://example.com/books/:id".into(),
                "*".into(),
            ],
            payload: Some(json!("token-wide, unused in draft-08")),
            node: "n".into(),
            match_types: vec![
                Some(MatchType::Exact),
                Some(MatchType::UrlPattern),
                Some(MatchType::UrlPattern),
            ],
            payloads: vec![Some(json!({"foo": "bar"})), None, None],
        }
    }

    #[test]
    fn draft08_document_wire_shape() {
        let docs = match_subscription_docs(&record(), &MatchFilter::default(), true);
        assert_eq!(docs.len(), 3);
        assert_eq!(
            to_pretty_json(&docs[0]),
            r#"{
  "id": "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com/urn%3Auuid%3A1e0c",
  "type": "subscription",
  "subscriber": "urn:uuid:1e0c",
  "match": "https://example.com",
  "match_type": "exact",
  "active": true,
  "payload": {
    "foo": "bar"
  }
}"#
        );
        // No payload: the field is left out.
        assert_eq!(
            to_pretty_json(&docs[1]),
            r#"{
  "id": "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/urn%3Auuid%3A1e0c",
  "type": "subscription",
  "subscriber": "urn:uuid:1e0c",
  "match": "https://example.com/books/:id",
  "match_type": "urlpattern",
  "active": true
}"#
        );
        assert_eq!(
            docs[2].id,
            "/.well-known/mercure/subscriptions/urlpattern/%2A/urn%3Auuid%3A1e0c"
        );
        for d in &docs {
            assert_eq!(
                d.id,
                match_subscription_id(d.match_type, &d.pattern, &d.subscriber)
            );
        }
        let inactive = match_subscription_docs(&record(), &MatchFilter::default(), false);
        assert!(inactive.iter().all(|d| !d.active));
    }

    #[test]
    fn draft08_filters() {
        let r = record();
        let by_matcher = |t, p: &str| {
            match_subscription_docs(
                &r,
                &MatchFilter {
                    matcher: Some((t, p)),
                    subscriber: None,
                },
                true,
            )
        };
        let d = by_matcher(MatchType::UrlPattern, "https://example.com/books/:id");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].pattern, "https://example.com/books/:id");
        // Type and pattern must both match.
        assert!(by_matcher(MatchType::Exact, "https://example.com/books/:id").is_empty());
        assert!(by_matcher(MatchType::Exact, "https://example.com/").is_empty());
        let mine = MatchFilter {
            matcher: Some((MatchType::Exact, "https://example.com")),
            subscriber: Some("urn:uuid:1e0c"),
        };
        assert_eq!(match_subscription_docs(&r, &mine, true).len(), 1);
        let other = MatchFilter {
            subscriber: Some("urn:uuid:other"),
            ..Default::default()
        };
        assert!(match_subscription_docs(&r, &other, true).is_empty());
    }

    #[test]
    fn draft08_collection_and_spaces() {
        let r = SubscriberRecord {
            id: "urn:uuid:x".into(),
            topics: vec!["a b".into(), "https://e/{id}".into()],
            node: "n".into(),
            // A draft-07 selector has no draft-08 document.
            match_types: vec![Some(MatchType::Exact), None],
            payloads: vec![None, None],
            ..Default::default()
        };
        let docs = match_subscription_docs(&r, &MatchFilter::default(), true);
        assert_eq!(docs.len(), 1);
        assert_eq!(
            docs[0].id,
            "/.well-known/mercure/subscriptions/exact/a%20b/urn%3Auuid%3Ax"
        );
        let c = MatchSubscriptionsDoc::new("/.well-known/mercure/subscriptions".into(), vec![]);
        assert_eq!(
            to_pretty_json(&c),
            "{\n  \"id\": \"/.well-known/mercure/subscriptions\",\n  \"type\": \"subscriptions\",\n  \"subscriptions\": []\n}"
        );
    }

    #[test]
    fn draft07_documents_are_unchanged() {
        let r = SubscriberRecord {
            id: "urn:uuid:1".into(),
            topics: vec!["https://e/{id} x".into()],
            payload: Some(json!({"u": 1})),
            node: "n".into(),
            ..Default::default()
        };
        let docs = subscription_docs(&r, None, true, true);
        assert_eq!(
            to_pretty_json(&docs[0]),
            r#"{
  "@context": "https://mercure.rocks/",
  "id": "/.well-known/mercure/subscriptions/https%3A%2F%2Fe%2F%7Bid%7D+x/urn%3Auuid%3A1",
  "type": "Subscription",
  "subscriber": "urn:uuid:1",
  "topic": "https://e/{id} x",
  "active": true,
  "payload": {
    "u": 1
  }
}"#
        );
        assert!(subscription_docs(&r, Some("other"), false, true).is_empty());
    }
}
