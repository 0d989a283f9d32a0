//! [`RedisPresence`]: the cluster's presence state in Redis.
//!
//! Each node's subscribers are a hash `{NAME}:presence:<node>` (subscriber id -> JSON
//! [`SubscriberRecord`]); node deadlines are a sorted set `{NAME}:nodes` scored by the
//! deadline in ms on Redis's clock. `list` returns the records of nodes whose deadline is
//! ahead; `reap` atomically takes the records of expired nodes, so each dead node's records
//! go to exactly one caller, which dispatches their `active: false` events.
//!
//! Each node also keeps a mirror of its own records. If its hash is lost while it lives (it
//! was declared dead during a long pause, Redis restarted without persistence, or a write
//! failed during an outage), the next heartbeat notices and writes the hash back, so the
//! cluster's lists heal by themselves.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use quicksilver_hub::{PresenceStore, SubscriberRecord, TransportError};

use crate::transport::Shared;

/// The Redis presence store of one node.
pub struct RedisPresence {
    shared: Arc<Shared>,
    /// node -> subscriber id -> JSON record, for the nodes of this process.
    mirror: Mutex<HashMap<String, HashMap<String, String>>>,
    /// A write failed: the hash may differ from the mirror until the next resync.
    dirty: AtomicBool,
}

impl RedisPresence {
    pub(crate) fn new(shared: Arc<Shared>) -> RedisPresence {
        RedisPresence {
            shared,
            mirror: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
        }
    }

    /// Runs the list or the reap script (both take the node set and the record prefix and
    /// return JSON records).
    async fn run_nodes_script(
        &self,
        what: &str,
        script: &redis::Script,
    ) -> Result<Vec<SubscriberRecord>, TransportError> {
        let s = &self.shared;
        let values: Vec<String> = s
            .call(what, |mut c| async move {
                script
                    .key(&s.keys.nodes)
                    .arg(&s.keys.presence_prefix)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(self.decode(values))
    }

    fn decode(&self, values: Vec<String>) -> Vec<SubscriberRecord> {
        values
            .into_iter()
            .filter_map(|v| match serde_json::from_str(&v) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(stream = %self.shared.keys.stream, error = %e, "skipping an undecodable presence record");
                    None
                }
            })
            .collect()
    }

    fn failed<T>(&self, r: Result<T, TransportError>) -> Result<T, TransportError> {
        if r.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        r
    }

    /// Writes this node's mirror over its hash.
    async fn resync(&self, node: &str) -> Result<(), TransportError> {
        let pairs: Vec<(String, String)> = match self.mirror.lock().get(node) {
            Some(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            None => Vec::new(),
        };
        let s = &self.shared;
        let (key, pairs) = (&s.keys.presence(node), &pairs);
        s.call("the presence resync script", |mut c| async move {
            let mut inv = s.scripts.resync.key(key);
            for (id, json) in pairs {
                inv.arg(id).arg(json);
            }
            inv.invoke_async::<i64>(&mut c).await
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn add(&self, record: &SubscriberRecord) -> Result<(), TransportError> {
        let json = serde_json::to_string(record)
            .map_err(|e| TransportError::Backend(format!("encoding a presence record: {e}")))?;
        self.mirror
            .lock()
            .entry(record.node.clone())
            .or_default()
            .insert(record.id.clone(), json.clone());
        let s = &self.shared;
        let cmd = redis::cmd("HSET")
            .arg(s.keys.presence(&record.node))
            .arg(&record.id)
            .arg(json)
            .to_owned();
        self.failed(s.query::<i64>("HSET", cmd).await).map(drop)
    }

    async fn remove(&self, node: &str, subscriber_id: &str) -> Result<(), TransportError> {
        if let Some(m) = self.mirror.lock().get_mut(node) {
            m.remove(subscriber_id);
        }
        let s = &self.shared;
        let cmd = redis::cmd("HDEL")
            .arg(s.keys.presence(node))
            .arg(subscriber_id)
            .to_owned();
        self.failed(s.query::<i64>("HDEL", cmd).await).map(drop)
    }

    async fn heartbeat(&self, node: &str, timeout: Duration) -> Result<(), TransportError> {
        let s = &self.shared;
        let hash = &s.keys.presence(node);
        let timeout_ms = timeout.as_millis().max(1) as u64;
        let added: i64 = s
            .call("the heartbeat script", |mut c| async move {
                s.scripts
                    .heartbeat
                    .key(&s.keys.nodes)
                    .key(hash)
                    .arg(node)
                    .arg(timeout_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let has_records = self.mirror.lock().get(node).is_some_and(|m| !m.is_empty());
        if has_records && (added == 1 || self.dirty.swap(false, Ordering::AcqRel)) {
            tracing::info!(
                node,
                "restoring this node's subscriptions in the cluster presence store"
            );
            if let Err(e) = self.resync(node).await {
                self.dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        self.run_nodes_script("the presence list script", &self.shared.scripts.list)
            .await
    }

    async fn reap(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        self.run_nodes_script("the presence reap script", &self.shared.scripts.reap)
            .await
    }

    async fn leave(&self, node: &str) -> Result<(), TransportError> {
        self.mirror.lock().remove(node);
        let s = &self.shared;
        let hash = &s.keys.presence(node);
        s.call("the presence leave script", |mut c| async move {
            s.scripts
                .leave
                .key(&s.keys.nodes)
                .key(hash)
                .arg(node)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await?;
        Ok(())
    }
}
