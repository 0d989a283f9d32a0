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

use crate::transport::TransportError;

/// The default time after which a silent node's subscriptions are removed.
pub const DEFAULT_PRESENCE_TIMEOUT: Duration = Duration::from_secs(30);

/// A subscriber as the cluster sees it: enough to build its subscription documents anywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberRecord {
    /// The hub-generated `urn:uuid:` id.
    pub id: String,
    /// Its topic selectors, as sent.
    pub topics: Vec<String>,
    /// Its token's `mercure.payload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
    /// The node it is connected to.
    pub node: String,
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
