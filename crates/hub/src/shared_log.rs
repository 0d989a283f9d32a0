//! An in-process log shared by several hubs: a cluster in one process, for testing the cluster
//! model (ordering across nodes, history across nodes, presence and node death) without a
//! broker. Each [`SharedLogNode`] is one node's view; the real transports implement the same
//! semantics over Redis, PostgreSQL and the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::presence_store::{MemoryPresence, PresenceStore, SubscriberRecord};
use crate::transport::{History, LogSink, Position, Tail, Transport, TransportError};
use crate::update::{EARLIEST, Update};

/// The shared log and presence state.
#[derive(Default)]
pub struct SharedLog {
    state: Mutex<State>,
    presence: Arc<MemoryPresence>,
}

#[derive(Default)]
struct State {
    entries: Vec<Arc<Update>>,
    sinks: Vec<Arc<dyn LogSink>>,
}

impl SharedLog {
    pub fn new() -> Arc<SharedLog> {
        Arc::new(SharedLog::default())
    }

    /// A new node's transport over this log.
    pub fn node(self: &Arc<Self>) -> Arc<SharedLogNode> {
        Arc::new(SharedLogNode {
            log: self.clone(),
            presence: Arc::new(NodePresence {
                store: self.presence.clone(),
                dead: AtomicBool::new(false),
            }),
            started: OnceLock::new(),
        })
    }
}

/// One node's transport.
pub struct SharedLogNode {
    log: Arc<SharedLog>,
    presence: Arc<NodePresence>,
    started: OnceLock<()>,
}

impl SharedLogNode {
    /// Simulates the node dying without a goodbye: it stops heartbeating and touching presence.
    pub fn kill(&self) {
        self.presence.dead.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl Transport for SharedLogNode {
    fn name(&self) -> &str {
        "shared-memory"
    }

    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError> {
        self.started
            .set(())
            .map_err(|_| TransportError::Backend("started twice".into()))?;
        let mut st = self.log.state.lock();
        st.sinks.push(sink);
        Ok(Tail {
            position: Position(st.entries.len() as u128),
            last_id: st.entries.last().map(|u| u.id().to_string()),
        })
    }

    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError> {
        let mut st = self.log.state.lock();
        st.entries.push(update.clone());
        let pos = Position(st.entries.len() as u128);
        for s in &st.sinks {
            s.deliver(update.clone(), pos);
        }
        Ok(())
    }

    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError> {
        let st = self.log.state.lock();
        let start = if after_id == EARLIEST {
            0
        } else {
            match st.entries.iter().position(|u| u.id() == after_id) {
                Some(i) => i + 1,
                None => return Ok(History::empty(false)),
            }
        };
        let end = (until.0 as usize).min(st.entries.len());
        let out: Vec<_> = st
            .entries
            .get(start..end.max(start))
            .unwrap_or_default()
            .iter()
            .cloned()
            .map(Ok)
            .collect();
        Ok(History {
            found: true,
            updates: Box::pin(futures::stream::iter(out)),
        })
    }

    fn presence(&self) -> Option<Arc<dyn PresenceStore>> {
        Some(self.presence.clone())
    }

    async fn close(&self) -> Result<(), TransportError> {
        Ok(())
    }
}

/// A node's handle on the shared presence store, which goes silent when the node is killed.
struct NodePresence {
    store: Arc<MemoryPresence>,
    dead: AtomicBool,
}

impl NodePresence {
    fn alive(&self) -> bool {
        !self.dead.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl PresenceStore for NodePresence {
    async fn add(&self, record: &SubscriberRecord) -> Result<(), TransportError> {
        if self.alive() {
            self.store.add(record).await
        } else {
            Ok(())
        }
    }
    async fn remove(&self, node: &str, id: &str) -> Result<(), TransportError> {
        if self.alive() {
            self.store.remove(node, id).await
        } else {
            Ok(())
        }
    }
    async fn heartbeat(&self, node: &str, timeout: Duration) -> Result<(), TransportError> {
        if self.alive() {
            self.store.heartbeat(node, timeout).await
        } else {
            Ok(())
        }
    }
    async fn list(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        self.store.list().await
    }
    async fn reap(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        if self.alive() {
            self.store.reap().await
        } else {
            Ok(Vec::new())
        }
    }
    async fn leave(&self, node: &str) -> Result<(), TransportError> {
        if self.alive() {
            self.store.leave(node).await
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Hub, HubOptions};
    use crate::subscriber::SubscribeRequest;
    use crate::update::UpdateData;

    fn opts() -> HubOptions {
        HubOptions {
            subscriptions: true,
            presence_timeout: Duration::from_millis(600),
            ..HubOptions::default()
        }
    }

    fn req(topics: &[&str], grants: Option<&[&str]>) -> SubscribeRequest {
        SubscribeRequest {
            topics: topics.iter().map(|s| s.to_string()).collect(),
            private_topics: grants.map(|g| g.iter().map(|s| s.to_string()).collect()),
            payload: Some(serde_json::json!({"user": "u1"})),
            last_event_id: None,
            ..Default::default()
        }
    }

    async fn next_data(s: &mut crate::hub::Subscription) -> String {
        match tokio::time::timeout(Duration::from_secs(5), s.next_update()).await {
            Ok(Some(u)) => u.data().data.clone(),
            other => panic!(
                "no update: {:?}",
                other.map(|o| o.map(|u| u.id().to_string()))
            ),
        }
    }

    #[tokio::test]
    async fn updates_history_and_presence_cross_nodes() {
        let log = SharedLog::new();
        let a = Hub::start(log.node(), opts()).await.unwrap();
        let b = Hub::start(log.node(), opts()).await.unwrap();
        let mut on_b = b.subscribe(req(&["https://e/{id}"], None)).await.unwrap();
        let first = a
            .publish(UpdateData {
                id: "x1".into(),
                topics: vec!["https://e/1".into()],
                data: "one".into(),
                private: false,
                event_type: None,
                retry: None,
            })
            .await
            .unwrap();
        assert_eq!(next_data(&mut on_b).await, "one");
        a.publish(UpdateData {
            id: "x2".into(),
            topics: vec!["https://e/2".into()],
            data: "two".into(),
            private: false,
            event_type: None,
            retry: None,
        })
        .await
        .unwrap();
        let mut late = b
            .subscribe(SubscribeRequest {
                last_event_id: Some(first.id().to_string()),
                ..req(&["https://e/{id}"], None)
            })
            .await
            .unwrap();
        assert_eq!(next_data(&mut late).await, "two");
        // A's API lists B's subscribers.
        let (_, listed) = a.cluster_subscribers().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|r| r.node == b.node_id()));
    }

    #[tokio::test]
    async fn dead_node_subscriptions_are_removed_once() {
        let log = SharedLog::new();
        let node_a = log.node();
        let a = Hub::start(node_a.clone(), opts()).await.unwrap();
        let b = Hub::start(log.node(), opts()).await.unwrap();
        let c = Hub::start(log.node(), opts()).await.unwrap();
        let watch = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";
        let mut watcher = c.subscribe(req(&[watch], Some(&[watch]))).await.unwrap();
        let doomed = a.subscribe(req(&["https://e/doomed"], None)).await.unwrap();
        let doomed_id = doomed.subscriber().id().to_string();
        // The connection event, seen on another node.
        let active = next_data(&mut watcher).await;
        assert!(
            active.contains(&doomed_id) && active.contains("\"active\": true"),
            "{active}"
        );
        node_a.kill();
        std::mem::forget(doomed);
        let inactive = next_data(&mut watcher).await;
        assert!(
            inactive.contains(&doomed_id) && inactive.contains("\"active\": false"),
            "{inactive}"
        );
        // Exactly once, although B and C both reap.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        if let Ok(Some(u)) =
            tokio::time::timeout(Duration::from_millis(200), watcher.next_update()).await
        {
            panic!("second disconnection event: {}", u.data().data);
        }
        let (_, listed) = b.cluster_subscribers().await.unwrap();
        assert!(listed.iter().all(|r| r.id != doomed_id));
        drop(a);
    }
}
