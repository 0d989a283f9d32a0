//! [`PostgresPresence`]: the cluster's presence state in two tables.
//!
//! `<table>_nodes` holds each node's heartbeat deadline, computed with the database's clock
//! (`now() + timeout`), so node clocks don't matter. `<table>_subscribers` holds each node's
//! subscribers. `list` returns the subscribers of nodes whose deadline is ahead; `reap` is one
//! statement that deletes the expired nodes and, through `RETURNING`, their subscribers: when
//! several nodes reap at once, PostgreSQL's row locks let exactly one statement delete each
//! row, so each dead node's records go to exactly one caller, which dispatches their
//! `active: false` events.
//!
//! A record's draft-08 fields (the matcher type and payload of each subscription) are in the
//! `subscriptions` column, NULL for a subscriber with only draft-07 selectors, so a draft-07
//! row is written exactly as before the column existed and rows written by older nodes read
//! back as draft-07 subscribers.
//!
//! Each node keeps a mirror of its own records. If its rows are lost while it lives (it was
//! declared dead during a long pause, or a write failed during an outage), the next heartbeat
//! notices (its node row had to be inserted again, or a write failed since) and writes them
//! back, so the cluster's lists heal by themselves.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use quicksilver_hub::{MatchType, PresenceStore, SubscriberRecord, TransportError};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use crate::transport::{QUERY_TIMEOUT, Shared};

/// Subscriber rows whose node has no heartbeat row at all (a write raced with the reaping of
/// its node, and the node really died) are reaped after this many presence timeouts.
const ORPHAN_TIMEOUTS: u32 = 10;

/// The PostgreSQL presence store of one node.
pub struct PostgresPresence {
    shared: Arc<Shared>,
    /// node -> subscriber id -> record, for the nodes of this process.
    mirror: Mutex<HashMap<String, HashMap<String, SubscriberRecord>>>,
    /// A write failed: the tables may differ from the mirror until the next resync.
    dirty: AtomicBool,
    sql: PresenceSql,
}

struct PresenceSql {
    add: String,
    remove: String,
    heartbeat: String,
    list: String,
    reap: String,
    leave: String,
    clear: String,
    restore: String,
}

impl PresenceSql {
    fn new(nodes: &str, subs: &str) -> PresenceSql {
        PresenceSql {
            add: format!(
                "INSERT INTO {subs} (node, subscriber_id, topics, payload, subscriptions) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (node, subscriber_id) DO UPDATE
                 SET topics = EXCLUDED.topics, payload = EXCLUDED.payload, subscriptions = EXCLUDED.subscriptions"
            ),
            remove: format!("DELETE FROM {subs} WHERE node = $1 AND subscriber_id = $2"),
            heartbeat: format!(
                "INSERT INTO {nodes} (node, deadline) VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (node) DO UPDATE SET deadline = EXCLUDED.deadline
                 RETURNING (xmax = 0)"
            ),
            list: format!(
                "SELECT s.node, s.subscriber_id, s.topics, s.payload, s.subscriptions FROM {subs} s
                 JOIN {nodes} n ON n.node = s.node WHERE n.deadline > now()
                 ORDER BY s.added_at, s.subscriber_id"
            ),
            reap: format!(
                "WITH dead AS (DELETE FROM {nodes} WHERE deadline <= now() RETURNING node),
                 gone AS (
                   DELETE FROM {subs} s
                   WHERE s.node IN (SELECT node FROM dead)
                      OR (s.added_at < now() - make_interval(secs => $1)
                          AND NOT EXISTS (SELECT 1 FROM {nodes} n WHERE n.node = s.node))
                   RETURNING s.node, s.subscriber_id, s.topics, s.payload, s.subscriptions)
                 SELECT node, subscriber_id, topics, payload, subscriptions FROM gone"
            ),
            leave: format!(
                "WITH n AS (DELETE FROM {nodes} WHERE node = $1) DELETE FROM {subs} WHERE node = $1"
            ),
            clear: format!("DELETE FROM {subs} WHERE node = $1"),
            restore: format!(
                "INSERT INTO {subs} (node, subscriber_id, topics, payload, subscriptions)
                 SELECT $1, u.id, ARRAY(SELECT e FROM json_array_elements_text(u.topics::json) WITH ORDINALITY AS x(e, n) ORDER BY n),
                        u.payload::jsonb, u.subscriptions::jsonb
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(id, topics, payload, subscriptions)"
            ),
        }
    }
}

impl PostgresPresence {
    pub(crate) fn new(shared: Arc<Shared>) -> PostgresPresence {
        let sql = PresenceSql::new(&shared.names.nodes, &shared.names.subscribers);
        PostgresPresence {
            shared,
            mirror: Mutex::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            sql,
        }
    }

    fn decode(&self, rows: Vec<Row>) -> Vec<SubscriberRecord> {
        rows.into_iter()
            .filter_map(|r| {
                let record = (|| {
                    let subscriptions: Option<serde_json::Value> = r.try_get(4)?;
                    let Subscriptions {
                        match_types,
                        payloads,
                    } = match subscriptions {
                        Some(v) => serde_json::from_value(v)?,
                        None => Subscriptions::default(),
                    };
                    Ok::<_, DecodeError>(SubscriberRecord {
                        node: r.try_get(0)?,
                        id: r.try_get(1)?,
                        topics: r.try_get(2)?,
                        payload: r.try_get(3)?,
                        match_types,
                        payloads,
                    })
                })();
                match record {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(table = %self.shared.names.channel, error = %e, "skipping an undecodable presence row");
                        None
                    }
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

    /// Runs one statement on a pooled connection.
    async fn execute(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, TransportError> {
        let s = &self.shared;
        let client = s.client().await?;
        let stmt = s
            .timed(what, QUERY_TIMEOUT, client.prepare_cached(sql))
            .await?;
        s.timed(what, QUERY_TIMEOUT, client.query(&stmt, params))
            .await
    }

    /// Writes this node's mirror over its rows, in one transaction.
    async fn resync(&self, node: &str) -> Result<(), TransportError> {
        let records: Vec<SubscriberRecord> = match self.mirror.lock().get(node) {
            Some(m) => m.values().cloned().collect(),
            None => Vec::new(),
        };
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut topics = Vec::with_capacity(records.len());
        let mut payloads = Vec::with_capacity(records.len());
        let mut subscriptions = Vec::with_capacity(records.len());
        for r in &records {
            topics.push(encode(&r.topics)?);
            payloads.push(match &r.payload {
                Some(p) => Some(encode(p)?),
                None => None,
            });
            subscriptions.push(match Subscriptions::of(r) {
                Some(s) => Some(encode(&s)?),
                None => None,
            });
        }
        let s = &self.shared;
        let mut client = s.client().await?;
        let tx = s
            .timed("BEGIN", QUERY_TIMEOUT, client.transaction())
            .await?;
        s.timed(
            "the presence resync",
            QUERY_TIMEOUT,
            tx.execute(&self.sql.clear, &[&node]),
        )
        .await?;
        s.timed(
            "the presence resync",
            QUERY_TIMEOUT,
            tx.execute(
                &self.sql.restore,
                &[&node, &ids, &topics, &payloads, &subscriptions],
            ),
        )
        .await?;
        s.timed("COMMIT", QUERY_TIMEOUT, tx.commit()).await
    }
}

/// The `subscriptions` column: a record's draft-08 fields, parallel to its topics.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Subscriptions {
    #[serde(default)]
    match_types: Vec<Option<MatchType>>,
    #[serde(default)]
    payloads: Vec<Option<serde_json::Value>>,
}

impl Subscriptions {
    /// The column's value for `r`: `None` (SQL NULL) when it has no draft-08 field, so a
    /// draft-07 row is what it was before the column existed.
    fn of(r: &SubscriberRecord) -> Option<Subscriptions> {
        if r.match_types.is_empty() && r.payloads.is_empty() {
            return None;
        }
        Some(Subscriptions {
            match_types: r.match_types.clone(),
            payloads: r.payloads.clone(),
        })
    }

    fn to_json(r: &SubscriberRecord) -> Result<Option<serde_json::Value>, TransportError> {
        Subscriptions::of(r)
            .map(|s| {
                serde_json::to_value(s).map_err(|e| {
                    TransportError::Backend(format!("encoding a presence record: {e}"))
                })
            })
            .transpose()
    }
}

/// Why a presence row could not be read back.
#[derive(Debug, thiserror::Error)]
enum DecodeError {
    #[error(transparent)]
    Column(#[from] tokio_postgres::Error),
    #[error("the subscriptions column is not a draft-08 record: {0}")]
    Subscriptions(#[from] serde_json::Error),
}

fn encode<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, TransportError> {
    serde_json::to_string(v)
        .map_err(|e| TransportError::Backend(format!("encoding a presence record: {e}")))
}

#[async_trait]
impl PresenceStore for PostgresPresence {
    async fn add(&self, record: &SubscriberRecord) -> Result<(), TransportError> {
        let subscriptions = Subscriptions::to_json(record)?;
        self.mirror
            .lock()
            .entry(record.node.clone())
            .or_default()
            .insert(record.id.clone(), record.clone());
        let r = self
            .execute(
                "recording a subscriber",
                &self.sql.add,
                &[
                    &record.node,
                    &record.id,
                    &record.topics,
                    &record.payload,
                    &subscriptions,
                ],
            )
            .await;
        self.failed(r).map(drop)
    }

    async fn remove(&self, node: &str, subscriber_id: &str) -> Result<(), TransportError> {
        if let Some(m) = self.mirror.lock().get_mut(node) {
            m.remove(subscriber_id);
        }
        let r = self
            .execute(
                "removing a subscriber",
                &self.sql.remove,
                &[&node, &subscriber_id],
            )
            .await;
        self.failed(r).map(drop)
    }

    async fn heartbeat(&self, node: &str, timeout: Duration) -> Result<(), TransportError> {
        let rows = self
            .execute(
                "the heartbeat",
                &self.sql.heartbeat,
                &[&node, &timeout.as_secs_f64()],
            )
            .await?;
        let inserted = rows
            .first()
            .and_then(|r| r.try_get::<_, bool>(0).ok())
            .unwrap_or(false);
        let has_records = self.mirror.lock().get(node).is_some_and(|m| !m.is_empty());
        if has_records && (inserted || self.dirty.swap(false, Ordering::AcqRel)) {
            tracing::info!(
                node,
                "restoring this node's subscriptions in the cluster presence tables"
            );
            if let Err(e) = self.resync(node).await {
                self.dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        let rows = self
            .execute("listing subscribers", &self.sql.list, &[])
            .await?;
        Ok(self.decode(rows))
    }

    async fn reap(&self) -> Result<Vec<SubscriberRecord>, TransportError> {
        let orphan_after = (self.shared.options.presence_timeout * ORPHAN_TIMEOUTS).as_secs_f64();
        let rows = self
            .execute("reaping dead nodes", &self.sql.reap, &[&orphan_after])
            .await?;
        Ok(self.decode(rows))
    }

    async fn leave(&self, node: &str) -> Result<(), TransportError> {
        self.mirror.lock().remove(node);
        self.execute("leaving the cluster", &self.sql.leave, &[&node])
            .await
            .map(drop)
    }
}
