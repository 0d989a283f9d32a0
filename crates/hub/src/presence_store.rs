//! Cluster-wide presence: which subscriptions are active on every node.
//!
//! Subscription events travel through the log like any update, so every node delivers them. But
//! the subscriptions API must list the subscribers of *all* nodes, a node that starts later must
//! see the ones that already exist (the log may have been trimmed since), and the subscriptions
//! of a node that dies without saying goodbye must disappear, with one `active: false` event each,
//! dispatched once cluster-wide. That needs shared state beside the log: a [`PresenceStore`]
//! holding each node's subscribers under a heartbeat, implemented by each clustered transport
//! over its own backend. The hub drives it ([`crate::Hub`] heartbeats and reaps); a transport
//! without a store (one node) lists the local subscribers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::topic::MatchType;
use crate::transport::TransportError;

/// The default time after which a silent node's subscriptions are removed.
pub const DEFAULT_PRESENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// A subscriber as the cluster sees it: enough to build its subscription documents anywhere.
///
/// Stored as JSON by some transports: fields added since the first version have serde defaults
/// and are omitted when empty, so records written by older nodes still read, and a draft-07
/// record is written exactly as before.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriberRecord {
    /// The hub-generated `urn:uuid:` id.
    pub id: String,
    /// The pattern of each subscription, as sent.
    pub topics: Vec<String>,
    /// Its token's draft-07 `mercure.payload`, shown for its draft-07 subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The node it is connected to.
    pub node: String,
    /// The draft-08 matcher type of each subscription, parallel to `topics`; empty when every
    /// subscription is a draft-07 selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_types: Vec<Option<MatchType>>,
    /// The payload of each draft-08 subscription, parallel to `topics` (entries of draft-07
    /// subscriptions are `null`); empty when every subscription is a draft-07 selector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payloads: Vec<Option<serde_json::Value>>,
}

impl SubscriberRecord {
    /// The draft-08 matcher type of subscription `i`, `None` for a draft-07 selector.
    pub fn match_type(&self, i: usize) -> Option<MatchType> {
        self.match_types.get(i).copied().flatten()
    }

    /// The payload shown for subscription `i`: its own for a draft-08 subscription, the
    /// token-wide one for a draft-07 selector.
    pub fn subscription_payload(&self, i: usize) -> Option<&serde_json::Value> {
        if self.match_type(i).is_some() {
            self.payloads.get(i).and_then(Option::as_ref)
        } else {
            self.payload.as_ref()
        }
    }
}

/// Shared presence state of a cluster.
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Records an active subscriber of `record.node`.
    async fn add(&self, record: &SubscriberRecord) -> Result<(), TransportError>;

    /// Removes a subscriber that disconnected.
    async fn remove(&self, node: &str, subscriber_id: &str) -> Result<(), TransportError>;

    /// Says `node` is alive; it is considered dead after `timeout` without a heartbeat.
    async fn heartbeat(&self, node: &str, timeout: Duration) -> Result<(), TransportError>;

    /// The active subscribers of every live node.
    async fn list(&self) -> Result<Vec<SubscriberRecord>, TransportError>;

    /// Finds nodes whose heartbeat expired, atomically takes their records (so that exactly one
    /// caller in the cluster gets each dead node's records) and returns them.
    async fn reap(&self) -> Result<Vec<SubscriberRecord>, TransportError>;

    /// A node leaving gracefully: its records are removed.
    async fn leave(&self, node: &str) -> Result<(), TransportError>;
}

/// An in-process [`PresenceStore`], shared by several hubs in one process: the reference
/// implementation of the semantics, used by tests (and by the presence contract suite).
#[derive(Debug, Default)]
pub struct MemoryPresence {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    records: HashMap<String, HashMap<String, SubscriberRecord>>,
    deadlines: HashMap<String, Instant>,
}

#[async_trait]
impl PresenceStore for MemoryPresence {
    async fn add(&self, record: &SubscriberRecord) -> Result<(), TransportError> {
        self.state
            .lock()
            .records
            .entry(record.node.clone())
            .or_default()
            .insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn remove(&self, node: &str, subscriber_id: &str) -> Result<(), TransportError> {
        if let Some(r) = self.state.lock().records.get_mut(node) {
            r.remove(subscriber_id);
        }
        Ok(())
    }

    async fn heartbeat(&self, node: &str, timeout: Duration) -> Result<(), TransportError> {
        self.state
            .lock()
            .deadlines
            .insert(node.to_string(), Instant::now() + timeout);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        let st = self.state.lock();
        let now = Instant::now();
        Ok(st
            .records
            .iter()
            .filter(|(node, _)| st.deadlines.get(*node).is_some_and(|d| *d > now))
            .flat_map(|(_, r)| r.values().cloned())
            .collect())
    }

    async fn reap(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        let mut st = self.state.lock();
        let now = Instant::now();
        let dead: Vec<String> = st
            .deadlines
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(n, _)| n.clone())
            .collect();
        let mut out = Vec::new();
        for node in dead {
            st.deadlines.remove(&node);
            if let Some(r) = st.records.remove(&node) {
                out.extend(r.into_values());
            }
        }
        Ok(out)
    }

    async fn leave(&self, node: &str) -> Result<(), TransportError> {
        let mut st = self.state.lock();
        st.records.remove(node);
        st.deadlines.remove(node);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draft07_records_keep_their_json() {
        let r = SubscriberRecord {
            id: "urn:uuid:1".into(),
            topics: vec!["https://e/{id}".into()],
            payload: Some(json!({"u": 1})),
            node: "n".into(),
            ..Default::default()
        };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            r#"{"id":"urn:uuid:1","topics":["https://e/{id}"],"payload":{"u":1},"node":"n"}"#
        );
        assert_eq!(serde_json::from_str::<SubscriberRecord>(&text).unwrap(), r);
        assert_eq!(r.match_type(0), None);
        assert_eq!(r.subscription_payload(0), Some(&json!({"u": 1})));
    }

    #[test]
    fn draft08_records_round_trip() {
        let r = SubscriberRecord {
            id: "urn:uuid:2".into(),
            topics: vec!["https://e/1".into(), "/books/:id".into()],
            payload: None,
            node: "n".into(),
            match_types: vec![Some(MatchType::Exact), Some(MatchType::UrlPattern)],
            payloads: vec![None, Some(json!(["p"]))],
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains(r#""match_types":["exact","urlpattern"],"payloads":[null,["p"]]"#),
            "{text}"
        );
        let back: SubscriberRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.match_type(1), Some(MatchType::UrlPattern));
        assert_eq!(back.subscription_payload(0), None);
        assert_eq!(back.subscription_payload(1), Some(&json!(["p"])));
        // Out of range: nothing.
        assert_eq!(back.match_type(5), None);
    }
}
