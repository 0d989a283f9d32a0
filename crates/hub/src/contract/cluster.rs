//! The cluster contract: what a transport shared by several nodes must guarantee, checked
//! through real [`Hub`]s in one process, each on its own transport over the same log.
//!
//! Every clustered transport (Redis, PostgreSQL) runs the same scenarios from its integration
//! tests, giving a [`NodeFactory`] that opens one more node's transport on one shared log, and
//! for the presence scenarios a [`PresenceBackend`] that reaches behind the transport's back.
//! The checks: cross-node delivery in one order with history across nodes; presence listed on
//! every node, seen by a late node, removed by unsubscribing and by a graceful shutdown; a node
//! dying without a goodbye reaped once cluster-wide within its timeout; presence state lost while
//! a node lives written back by its next heartbeat; presence records of both drafts kept whole
//! through `add`, `list`, that resync and `reap`; and a broker outage in the middle of a publish
//! stream losing nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;

pub use super::{TOPIC, data as update, publish, take};
use crate::hub::{Hub, HubOptions, PublishError, Subscription};
use crate::presence_store::{PresenceStore, SubscriberRecord};
use crate::subscriber::SubscribeRequest;
use crate::topic::MatchType;
use crate::transport::{Transport, TransportError};
use crate::update::Update;

/// Opens one more node's transport on the shared log (every call a new node).
pub type NodeFactory =
    dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Transport>> + Send>> + Send + Sync;

/// What the presence scenarios need to do behind a transport's back, in its backend's terms.
#[async_trait]
pub trait PresenceBackend: Send + Sync {
    /// Deletes everything the backend holds about `node`'s presence (its records and its
    /// heartbeat), as a reaping during a long pause, or a broker restart without persistence,
    /// would.
    async fn lose(&self, node: &str);

    /// Checks how `records`, just added for `node`, are stored: the backend's own format
    /// (a draft-07 record must be stored as it was before the draft-08 fields existed).
    async fn check_stored(&self, node: &str, records: &[SubscriberRecord]);
}

/// A broker the outage scenario can take down and bring back.
pub trait Outage: Send {
    /// Stops the broker hard: no shutdown, no final save.
    fn crash(&mut self);
    /// Starts it again on the same address, with the data it had acknowledged.
    fn resume(&mut self);
}

const WATCH: &str = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";

// Helpers of the scenarios, public for the transports' own multi-node tests.

/// Starts a hub on `transport`, exposing subscriptions (so presence is on) when
/// `presence_timeout` (the transport's) is given.
pub async fn start(transport: Arc<dyn Transport>, presence_timeout: Option<Duration>) -> Arc<Hub> {
    let options = HubOptions {
        subscriptions: presence_timeout.is_some(),
        presence_timeout: presence_timeout.unwrap_or(HubOptions::default().presence_timeout),
        queue_capacity: 100_000,
        ..HubOptions::default()
    };
    match Hub::start(transport, options).await {
        Ok(h) => h,
        Err(e) => panic!("hub start: {e}"),
    }
}

/// A hub on a new node.
async fn node(nodes: &NodeFactory, presence_timeout: Option<Duration>) -> Arc<Hub> {
    start(nodes().await, presence_timeout).await
}

async fn node_and_transport(
    nodes: &NodeFactory,
    presence_timeout: Option<Duration>,
) -> (Arc<Hub>, Arc<dyn Transport>) {
    let transport = nodes().await;
    (start(transport.clone(), presence_timeout).await, transport)
}

/// A subscription allowed to receive private updates on `topics`, with a draft-07 token payload
/// (so that presence records carry one).
pub async fn subscribe(hub: &Hub, topics: &[&str], last: Option<&str>) -> Subscription {
    let req = SubscribeRequest {
        topics: topics.iter().map(|s| s.to_string()).collect(),
        private_topics: Some(topics.iter().map(|s| s.to_string()).collect()),
        payload: Some(json!({"user": "test"})),
        last_event_id: last.map(str::to_owned),
        ..Default::default()
    };
    match hub.subscribe(req).await {
        Ok(s) => s,
        Err(e) => panic!("subscribe: {e}"),
    }
}

/// Reads `n` whole updates, failing if they don't arrive in time.
pub async fn take_updates(s: &mut Subscription, n: usize) -> Vec<Arc<Update>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(super::WAIT, s.next_update()).await {
            Ok(Some(u)) => out.push(u),
            Ok(None) => panic!("stream ended after {} of {n} updates", out.len()),
            Err(_) => panic!("timed out after {} of {n} updates", out.len()),
        }
    }
    out
}

/// Asserts nothing more arrives within `wait`.
pub async fn nothing_more(s: &mut Subscription, wait: Duration) {
    if let Ok(Some(u)) = tokio::time::timeout(wait, s.next_update()).await {
        panic!("unexpected update: {}", u.data().data);
    }
}

async fn listed(hub: &Hub) -> Vec<SubscriberRecord> {
    match hub.cluster_subscribers().await {
        Ok((_, records)) => records,
        Err(e) => panic!("listing subscribers: {e}"),
    }
}

/// Updates published on any node reach subscribers on every node, once, in one order; custom
/// ids published on one node are history cursors on another; a node started later replays
/// everything and its tail starts after the existing entries.
pub async fn cross_node_delivery_and_history(nodes: &NodeFactory) {
    let a = node(nodes, None).await;
    let b = node(nodes, None).await;
    let mut on_a = subscribe(&a, &[TOPIC], None).await;
    let mut on_b = subscribe(&b, &[TOPIC], None).await;
    publish(&a, update("custom-1", "one")).await;
    publish(&b, update("urn:example:2", "two")).await;
    let generated = publish(&a, update("", "three")).await;
    assert!(generated.starts_with("urn:uuid:"), "{generated}");
    assert_eq!(take(&mut on_a, 3).await, ["one", "two", "three"]);
    assert_eq!(take(&mut on_b, 3).await, ["one", "two", "three"]);

    // Publishers on both nodes at once: both nodes deliver the same order.
    let mut tasks = Vec::new();
    for (name, hub) in [("a", a.clone()), ("b", b.clone())] {
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                publish(&hub, update("", &format!("{name}{i}"))).await;
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            panic!("publisher: {e}");
        }
    }
    let seen_a = take(&mut on_a, 100).await;
    let seen_b = take(&mut on_b, 100).await;
    assert_eq!(seen_a, seen_b, "the nodes disagree on the order");
    for name in ["a", "b"] {
        let mine: Vec<_> = seen_a
            .iter()
            .filter(|d| d.starts_with(name))
            .cloned()
            .collect();
        let expected: Vec<_> = (0..50).map(|i| format!("{name}{i}")).collect();
        assert_eq!(mine, expected);
    }
    nothing_more(&mut on_a, Duration::from_millis(200)).await;

    // History across nodes, from custom ids published elsewhere.
    let mut late = subscribe(&b, &[TOPIC], Some("custom-1")).await;
    assert_eq!(late.cursor(), Some("custom-1"));
    assert_eq!(take(&mut late, 2).await, ["two", "three"]);
    let mut late = subscribe(&a, &[TOPIC], Some("urn:example:2")).await;
    assert_eq!(take(&mut late, 1).await, ["three"]);

    // A node started later replays everything with `earliest`, and its tail starts after the
    // existing entries.
    let c = node(nodes, None).await;
    assert_eq!(c.last_event_id(), a.last_event_id());
    assert_eq!(b.last_event_id(), a.last_event_id());
    let mut all = subscribe(&c, &[TOPIC], Some("earliest")).await;
    assert_eq!(take(&mut all, 103).await[..3], ["one", "two", "three"]);
    publish(&a, update("", "after")).await;
    assert_eq!(take(&mut all, 1).await, ["after"]);
    nothing_more(&mut all, Duration::from_millis(200)).await;
}

/// The subscriptions API of any node lists every node's subscribers; a node started later
/// sees them; subscription events cross nodes; a graceful shutdown removes a node's
/// subscriptions at once. `nodes` are configured with `presence_timeout`.
pub async fn presence_across_nodes(nodes: &NodeFactory, presence_timeout: Duration) {
    let a = node(nodes, Some(presence_timeout)).await;
    let b = node(nodes, Some(presence_timeout)).await;
    let mut watcher = subscribe(&b, &[WATCH], None).await;
    let on_a = subscribe(&a, &[TOPIC], None).await;
    let id = on_a.subscriber().id().to_string();
    let event = take(&mut watcher, 1).await.remove(0);
    assert!(
        event.contains(&id) && event.contains("\"active\": true"),
        "{event}"
    );

    let records = listed(&b).await;
    let from_a: Vec<_> = records.iter().filter(|r| r.node == a.node_id()).collect();
    assert_eq!(from_a.len(), 1, "{records:?}");
    assert_eq!(from_a[0].id, id);
    assert_eq!(from_a[0].topics, [TOPIC]);
    assert_eq!(from_a[0].payload, Some(json!({"user": "test"})));

    let c = node(nodes, Some(presence_timeout)).await;
    let records = listed(&c).await;
    assert_eq!(
        records.len(),
        2,
        "a late node sees existing subscriptions: {records:?}"
    );

    // Unsubscribing on A: gone everywhere, with one event.
    drop(on_a);
    let event = take(&mut watcher, 1).await.remove(0);
    assert!(
        event.contains(&id) && event.contains("\"active\": false"),
        "{event}"
    );
    let records = listed(&c).await;
    assert!(records.iter().all(|r| r.id != id), "{records:?}");

    // A graceful shutdown removes the node's records at once.
    let _on_c = subscribe(&c, &[TOPIC], None).await;
    assert!(listed(&a).await.iter().any(|r| r.node == c.node_id()));
    c.shutdown().await;
    let records = listed(&a).await;
    assert!(records.iter().all(|r| r.node != c.node_id()), "{records:?}");
}

/// A node that dies without a goodbye (its transport dropped, no `leave`): its subscriptions
/// disappear from every node within the timeout plus one heartbeat period (with some slack),
/// with exactly one `active: false` event each, although every other node reaps.
pub async fn dead_node_reaped_once(nodes: &NodeFactory, presence_timeout: Duration) {
    let a = node(nodes, Some(presence_timeout)).await;
    let b = node(nodes, Some(presence_timeout)).await;
    let c = node(nodes, Some(presence_timeout)).await;
    let mut watch_b = subscribe(&b, &[WATCH], None).await;
    let mut watch_c = subscribe(&c, &[WATCH], None).await;
    take(&mut watch_b, 1).await; // C's own watcher connecting
    let doomed = subscribe(&a, &[TOPIC], None).await;
    let doomed2 = subscribe(&a, &["https://example.com/{x}"], None).await;
    let ids = [
        doomed.subscriber().id().to_string(),
        doomed2.subscriber().id().to_string(),
    ];
    assert_eq!(take(&mut watch_b, 2).await.len(), 2);
    assert_eq!(take(&mut watch_c, 2).await.len(), 2);
    let records = listed(&b).await;
    assert_eq!(records.iter().filter(|r| r.node == a.node_id()).count(), 2);

    // Node A dies: no leave, no unsubscribe, no more heartbeats.
    let dead_node = a.node_id().to_string();
    std::mem::forget(doomed);
    std::mem::forget(doomed2);
    drop(a);
    let started = Instant::now();
    let mut events = take(&mut watch_b, 2).await;
    events.sort();
    let waited = started.elapsed();
    let bound = presence_timeout * 2 + Duration::from_secs(1);
    assert!(waited < bound, "reaped after {waited:?}");
    for id in &ids {
        assert_eq!(
            events
                .iter()
                .filter(|e| e.contains(id.as_str()) && e.contains("\"active\": false"))
                .count(),
            1,
            "{events:?}"
        );
    }
    assert_eq!(take(&mut watch_c, 2).await.len(), 2);
    // Exactly once, although B and C both reap.
    nothing_more(&mut watch_b, Duration::from_millis(1500)).await;
    nothing_more(&mut watch_c, Duration::from_millis(100)).await;
    for hub in [&b, &c] {
        let records = listed(hub).await;
        assert!(records.iter().all(|r| r.node != dead_node), "{records:?}");
    }
}

/// A live node whose presence state was lost (declared dead during a pause, a broker restart
/// without persistence) writes it back on its next heartbeat. `nodes` are configured with
/// `presence_timeout`, short enough for the test to wait for a heartbeat.
pub async fn presence_heals_itself(
    nodes: &NodeFactory,
    presence_timeout: Duration,
    backend: &dyn PresenceBackend,
) {
    let a = node(nodes, Some(presence_timeout)).await;
    let _s = subscribe(&a, &[TOPIC], None).await;
    backend.lose(a.node_id()).await;
    assert!(listed(&a).await.is_empty());
    // The heartbeat period is a third of the timeout: this is more than two of them.
    tokio::time::sleep(presence_timeout * 8 / 9).await;
    let records = listed(&a).await;
    assert_eq!(records.len(), 1, "{records:?}");
}

/// A draft-07 record and a draft-08 one (matcher types, per-subscription payloads, one draft-07
/// selector among them) of `node`.
pub fn sample_records(node: &str) -> [SubscriberRecord; 2] {
    [
        SubscriberRecord {
            id: "urn:uuid:s7".into(),
            topics: vec!["https://example.com/books/{id}".into()],
            payload: Some(json!({"user": "seven"})),
            node: node.into(),
            ..Default::default()
        },
        SubscriberRecord {
            id: "urn:uuid:s8".into(),
            topics: vec![
                "https://example.com/books/1".into(),
                "/books/:id".into(),
                "https://example.com/{legacy}".into(),
            ],
            payload: None,
            node: node.into(),
            match_types: vec![Some(MatchType::Exact), Some(MatchType::UrlPattern), None],
            payloads: vec![None, Some(json!({"grant": ["a", 1]})), None],
        },
    ]
}

/// The records of `node` listed by `store`, by id.
async fn listed_of(store: &dyn PresenceStore, node: &str) -> Vec<SubscriberRecord> {
    match store.list().await {
        Ok(l) => sorted(l.into_iter().filter(|r| r.node == node).collect()),
        Err(e) => panic!("list: {e}"),
    }
}

fn sorted(mut v: Vec<SubscriberRecord>) -> Vec<SubscriberRecord> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// The [`sample_records`] come back whole from the presence store: from `list`, after being
/// lost and written back by the node's heartbeat, and from `reap` once the node is dead (once).
/// The store is driven directly, on a node of its own (the hub only starts the transport).
pub async fn presence_records_round_trip(nodes: &NodeFactory, backend: &dyn PresenceBackend) {
    let transport = nodes().await;
    // Without `subscriptions` the hub neither heartbeats nor reaps: the test drives the store.
    let _hub = match Hub::start(transport.clone(), HubOptions::default()).await {
        Ok(h) => h,
        Err(e) => panic!("hub start: {e}"),
    };
    let Some(store) = transport.presence() else {
        panic!("a clustered transport has a presence store");
    };
    let node = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let records = sample_records(&node);
    let store_op = |what: &str, r: Result<(), TransportError>| {
        if let Err(e) = r {
            panic!("{what}: {e}");
        }
    };
    for r in &records {
        store_op("add", store.add(r).await);
    }
    store_op(
        "heartbeat",
        store.heartbeat(&node, Duration::from_secs(30)).await,
    );
    assert_eq!(listed_of(&*store, &node).await, records);
    backend.check_stored(&node, &records).await;

    // Lost while the node lives: written back from the node's own copy by its next heartbeat.
    backend.lose(&node).await;
    assert!(listed_of(&*store, &node).await.is_empty());
    store_op(
        "heartbeat",
        store.heartbeat(&node, Duration::from_millis(300)).await,
    );
    assert_eq!(listed_of(&*store, &node).await, records);

    // Dead: reaped whole, once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    match store.reap().await {
        Ok(reaped) => assert_eq!(sorted(reaped), records),
        Err(e) => panic!("reap: {e}"),
    }
    match store.reap().await {
        Ok(reaped) => assert!(reaped.is_empty(), "{reaped:?}"),
        Err(e) => panic!("reap: {e}"),
    }
}

/// A broker outage in the middle of a publish stream, on node A: while the broker is down,
/// publishing fails with `Unavailable` (503, within 10 s, the reason naming `broker`) and
/// readiness fails, liveness holds; after it comes back on the same address, readiness recovers
/// by itself, the tail catches up from the last entry it read (entries written by node B before
/// A reconnected are delivered), the subscriber that stayed connected gets everything published
/// after the restart once, a client reconnecting with its last id from before the outage
/// resumes, and the failed publish left nothing. With `presence_timeout` (subscriptions
/// exposed), A's subscribers are listed again afterwards.
pub async fn outage_loses_nothing(
    nodes: &NodeFactory,
    presence_timeout: Option<Duration>,
    broker: &str,
    outage: &mut dyn Outage,
) {
    let series = |prefix: &str| (0..10).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
    let (a, ta) = node_and_transport(nodes, presence_timeout).await;
    let mut sub = subscribe(&a, &[TOPIC], None).await;
    let mut before_id = String::new();
    for i in 0..10 {
        before_id = publish(&a, update("", &format!("before{i}"))).await;
    }
    assert_eq!(take(&mut sub, 10).await, series("before"));
    if let Err(e) = ta.ready().await {
        panic!("ready before the outage: {e}");
    }

    // The broker goes down hard.
    outage.crash();
    let started = Instant::now();
    match a.publish(update("", "lost")).await {
        Err(PublishError::Transport(TransportError::Unavailable(reason))) => {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "503 took {:?}",
                started.elapsed()
            );
            assert!(reason.contains(broker), "{reason}");
        }
        other => panic!(
            "publishing during the outage: expected Unavailable, got {:?}",
            other.map(|u| u.id().to_string())
        ),
    }
    match ta.ready().await {
        Err(TransportError::Unavailable(_)) => {}
        other => panic!("ready during the outage: expected Unavailable, got {other:?}"),
    }
    if let Err(e) = ta.live().await {
        panic!("a short outage must not fail liveness: {e}");
    }
    // Long enough for the tail's backoff to grow, so that B (below) writes before A's tail is
    // back: A must then catch up from the last entry it read, not from the end of the log.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // It comes back with its data; another node writes before this one reconnects.
    outage.resume();
    let b = node(nodes, presence_timeout).await;
    for i in 0..5 {
        publish(&b, update("", &format!("after{i}"))).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(e) = ta.ready().await {
        assert!(Instant::now() < deadline, "readiness did not recover: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 5..10 {
        publish(&a, update("", &format!("after{i}"))).await;
    }
    // The subscriber that stayed connected: everything after the restart, nothing lost, once.
    assert_eq!(take(&mut sub, 10).await, series("after"));
    nothing_more(&mut sub, Duration::from_millis(300)).await;
    // A client reconnecting with its last id from before the outage.
    let mut back = subscribe(&a, &[TOPIC], Some(&before_id)).await;
    assert_eq!(back.cursor(), Some(before_id.as_str()));
    assert_eq!(take(&mut back, 10).await, series("after"));
    // Nothing half-published: the failed publish left nothing.
    let mut all = subscribe(&a, &[TOPIC], Some("earliest")).await;
    let everything = take(&mut all, 20).await;
    assert!(!everything.iter().any(|d| d == "lost"), "{everything:?}");
    if let Err(e) = ta.live().await {
        panic!("{e}");
    }
    if presence_timeout.is_some() {
        // Presence survived too: A heartbeats again and lists its subscribers.
        let records = listed(&b).await;
        assert!(
            records.iter().any(|r| r.node == a.node_id()),
            "A's subscribers after the restart: {records:?}"
        );
    }
}
