//! Several hubs sharing one stream, in one process: cross-node delivery, custom ids and history
//! across nodes, mixed encodings, trimming with the id index, and presence across nodes
//! (listing, a late node, a graceful leave, a dead node reaped exactly once, self-healing).
//! Each scenario runs against Redis, Valkey and the Redis Cluster.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Streams, inspector, with_cleanup};
use futures::StreamExt;
use quicksilver_hub::{
    Hub, HubOptions, Position, SubscribeRequest, Subscription, Transport, UpdateData,
};
use quicksilver_transport_redis::{Keys, RedisOptions};

const TOPIC: &str = "https://example.com/books/1";
const WATCH: &str = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";

fn hub_options(presence_timeout: Duration) -> HubOptions {
    HubOptions {
        subscriptions: true,
        presence_timeout,
        queue_capacity: 100_000,
        ..HubOptions::default()
    }
}

async fn start(streams: &Streams, opts: &RedisOptions) -> Arc<Hub> {
    let t = streams.transport(opts.clone());
    let timeout = t.presence_timeout();
    Hub::start(t, hub_options(timeout))
        .await
        .unwrap_or_else(|e| panic!("hub start: {e}"))
}

fn update(id: &str, data: &str) -> UpdateData {
    UpdateData {
        id: id.into(),
        topics: vec![TOPIC.into()],
        data: data.into(),
        private: false,
        event_type: None,
        retry: None,
    }
}

async fn subscribe(hub: &Hub, topics: &[&str], last: Option<&str>) -> Subscription {
    hub.subscribe(SubscribeRequest {
        topics: topics.iter().map(|s| s.to_string()).collect(),
        private_topics: Some(topics.iter().map(|s| s.to_string()).collect()),
        payload: Some(serde_json::json!({"user": "test"})),
        last_event_id: last.map(str::to_owned),
    })
    .await
    .unwrap_or_else(|e| panic!("subscribe: {e}"))
}

async fn take(s: &mut Subscription, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), s.next_update()).await {
            Ok(Some(u)) => out.push(u.data().data.clone()),
            other => panic!(
                "after {out:?}: no update ({:?})",
                other.map(|o| o.map(|u| u.id().to_string()))
            ),
        }
    }
    out
}

async fn nothing_more(s: &mut Subscription, wait: Duration) {
    if let Ok(Some(u)) = tokio::time::timeout(wait, s.next_update()).await {
        panic!("unexpected update: {}", u.data().data);
    }
}

async fn publish(hub: &Hub, d: UpdateData) -> String {
    hub.publish(d)
        .await
        .unwrap_or_else(|e| panic!("publish: {e}"))
        .id()
        .to_string()
}

/// Updates published on any node reach subscribers on every node, once, in one order; custom
/// ids published on one node are history cursors on another; a node started later replays.
async fn cross_node_delivery_and_history(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[]);
        let a = start(&streams, &opts).await;
        let b = start(&streams, &opts).await;
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
            t.await.unwrap_or_else(|e| panic!("publisher: {e}"));
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

        // A node started later replays everything with `earliest`, and its tail starts after
        // the existing entries.
        let c = start(&streams, &opts).await;
        assert_eq!(c.last_event_id(), a.last_event_id());
        assert_eq!(b.last_event_id(), a.last_event_id());
        let mut all = subscribe(&c, &[TOPIC], Some("earliest")).await;
        assert_eq!(take(&mut all, 103).await[..3], ["one", "two", "three"]);
        publish(&a, update("", "after")).await;
        assert_eq!(take(&mut all, 1).await, ["after"]);
        nothing_more(&mut all, Duration::from_millis(200)).await;
    })
    .await;
}

/// A JSON node and a `gob` (MessagePack) node share a stream and read each other.
async fn mixed_encodings(backend: Backend) {
    with_cleanup(|streams| async move {
        let json = backend.options(&[]);
        let mut gob = json.clone();
        gob.encoding = quicksilver_transport_redis::Encoding::MessagePack;
        let a = start(&streams, &json).await;
        let b = start(&streams, &gob).await;
        let mut on_a = subscribe(&a, &[TOPIC], None).await;
        let mut d = update("j1", "from json");
        d.event_type = Some("kind".into());
        d.retry = Some(100);
        publish(&a, d).await;
        publish(&b, update("g1", "from gob")).await;
        assert_eq!(take(&mut on_a, 2).await, ["from json", "from gob"]);
        let mut h = subscribe(&b, &[TOPIC], Some("earliest")).await;
        let first = tokio::time::timeout(Duration::from_secs(5), h.next_update())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no history"));
        assert_eq!(first.data().event_type.as_deref(), Some("kind"));
        assert_eq!(first.data().retry, Some(100));
        assert_eq!(take(&mut h, 1).await, ["from gob"]);
        let mut ins = inspector(&json).await;
        let keys = Keys::new(&json.stream);
        type Entry = (String, Vec<(String, Vec<u8>)>);
        let encodings: Vec<Entry> = ins
            .query(::redis::cmd("XRANGE").arg(&keys.stream).arg("-").arg("+"))
            .await;
        let tags: Vec<_> = encodings
            .iter()
            .filter_map(|(_, f)| {
                f.iter()
                    .find(|(k, _)| k == "encoding")
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            })
            .collect();
        // A's subscription event, j1 (A, JSON), g1 (B, MessagePack), B's subscription event.
        assert_eq!(tags, ["json", "json", "msgpack", "msgpack"]);
    })
    .await;
}

/// With a cap, the stream is trimmed approximately and the id index with it: no index entry
/// outlives its stream entry, trimmed ids are unknown, kept ids still work, and the first
/// occurrence of a duplicate id wins.
async fn trimming_keeps_the_index_in_step(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[("max_length", &["50"])]);
        let t = streams.transport(opts.clone());
        let hub = Hub::start(t.clone(), HubOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..600 {
            // Every tenth id repeats the previous one.
            let id = if i % 10 == 9 {
                format!("t{}", i - 1)
            } else {
                format!("t{i}")
            };
            publish(&hub, update(&id, &format!("d{i}"))).await;
        }
        let keys = Keys::new(&opts.stream);
        let mut ins = inspector(&opts).await;
        let len: usize = ins.query(::redis::cmd("XLEN").arg(&keys.stream)).await;
        assert!((50..600).contains(&len), "stream length {len}");
        let hlen: usize = ins.query(::redis::cmd("HLEN").arg(&keys.ids)).await;
        let llen: usize = ins.query(::redis::cmd("LLEN").arg(&keys.id_order)).await;
        assert_eq!(hlen, llen, "index hash and order list disagree");
        // Index entries = distinct ids among the kept entries (up to the approximation of the
        // first macro node, whose head may be partially trimmed).
        assert!(
            hlen <= len && hlen + 60 >= len * 9 / 10,
            "index {hlen} for {len} entries"
        );
        let first: Vec<(String, Vec<(String, String)>)> = ins
            .query(
                ::redis::cmd("XRANGE")
                    .arg(&keys.stream)
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1),
            )
            .await;
        let first_pos = position(&first[0].0);
        let all: Vec<String> = ins.query(::redis::cmd("HVALS").arg(&keys.ids)).await;
        assert!(
            all.iter().all(|e| position(e) >= first_pos),
            "index points before the stream"
        );

        let h = t
            .history("t0", Position(u128::MAX))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!h.found, "a trimmed id must be unknown");
        let h = t
            .history("t590", Position(u128::MAX))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(h.found);
        let rest: Vec<String> = h
            .updates
            .map(|u| {
                u.map(|u| u.data().data.clone())
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
            .await;
        assert_eq!(
            rest,
            (591..600).map(|i| format!("d{i}")).collect::<Vec<_>>()
        );
        // t598 was published at 598 and again at 599: the first occurrence counts.
        let h = t
            .history("t598", Position(u128::MAX))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let rest: Vec<String> = h
            .updates
            .map(|u| {
                u.map(|u| u.data().data.clone())
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
            .await;
        assert_eq!(rest, ["d599"]);
    })
    .await;
}

fn position(entry: &str) -> (u64, u64) {
    let (ms, seq) = entry
        .split_once('-')
        .unwrap_or_else(|| panic!("entry id {entry}"));
    (
        ms.parse().unwrap_or_else(|e| panic!("{entry}: {e}")),
        seq.parse().unwrap_or_else(|e| panic!("{entry}: {e}")),
    )
}

/// The subscriptions API of any node lists every node's subscribers; a node started later
/// sees them; subscription events cross nodes; a graceful shutdown removes a node's
/// subscriptions at once.
async fn presence_across_nodes(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[("presence_timeout", &["2s"])]);
        let a = start(&streams, &opts).await;
        let b = start(&streams, &opts).await;
        let mut watcher = subscribe(&b, &[WATCH], None).await;
        let on_a = subscribe(&a, &[TOPIC], None).await;
        let id = on_a.subscriber().id().to_string();
        let event = take(&mut watcher, 1).await.remove(0);
        assert!(
            event.contains(&id) && event.contains("\"active\": true"),
            "{event}"
        );

        let (_, listed) = b
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let from_a: Vec<_> = listed.iter().filter(|r| r.node == a.node_id()).collect();
        assert_eq!(from_a.len(), 1, "{listed:?}");
        assert_eq!(from_a[0].id, id);
        assert_eq!(from_a[0].topics, [TOPIC]);
        assert_eq!(from_a[0].payload, Some(serde_json::json!({"user": "test"})));

        let c = start(&streams, &opts).await;
        let (_, listed) = c
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            listed.len(),
            2,
            "a late node sees existing subscriptions: {listed:?}"
        );

        // Unsubscribing on A: gone everywhere, with one event.
        drop(on_a);
        let event = take(&mut watcher, 1).await.remove(0);
        assert!(
            event.contains(&id) && event.contains("\"active\": false"),
            "{event}"
        );
        let (_, listed) = c
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.iter().all(|r| r.id != id), "{listed:?}");

        // A graceful shutdown removes the node's records at once.
        let _on_c = subscribe(&c, &[TOPIC], None).await;
        let (_, listed) = a
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.iter().any(|r| r.node == c.node_id()));
        c.shutdown().await;
        let (_, listed) = a
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.iter().all(|r| r.node != c.node_id()), "{listed:?}");
    })
    .await;
}

/// A node that dies without a goodbye (its transport dropped, no `leave`): its subscriptions
/// disappear from every node within the timeout, with exactly one `active: false` event each,
/// although every other node reaps.
async fn dead_node_reaped_once(backend: Backend) {
    with_cleanup(|streams| async move {
        // Short, so the test is quick; not so short that a loaded CI machine delays a live
        // node's heartbeat past it.
        let opts = backend.options(&[("presence_timeout", &["2s"])]);
        let a = start(&streams, &opts).await;
        let b = start(&streams, &opts).await;
        let c = start(&streams, &opts).await;
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
        let (_, listed) = b
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.iter().filter(|r| r.node == a.node_id()).count(), 2);

        // Node A dies: no leave, no unsubscribe, no more heartbeats.
        let dead_node = a.node_id().to_string();
        std::mem::forget(doomed);
        std::mem::forget(doomed2);
        drop(a);
        let started = std::time::Instant::now();
        let mut events = take(&mut watch_b, 2).await;
        events.sort();
        let waited = started.elapsed();
        // The timeout plus one heartbeat period, with some slack.
        assert!(waited < Duration::from_secs(5), "reaped after {waited:?}");
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
            let (_, listed) = hub
                .cluster_subscribers()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(listed.iter().all(|r| r.node != dead_node), "{listed:?}");
        }
    })
    .await;
}

/// A live node whose presence state was lost (declared dead during a pause, a Redis restart
/// without persistence) writes it back on its next heartbeat.
async fn presence_heals_itself(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[("presence_timeout", &["900ms"])]);
        let a = start(&streams, &opts).await;
        let _s = subscribe(&a, &[TOPIC], None).await;
        let keys = Keys::new(&opts.stream);
        let mut ins = inspector(&opts).await;
        let _: i64 = ins
            .query(::redis::cmd("DEL").arg(keys.presence(a.node_id())))
            .await;
        let _: i64 = ins
            .query(::redis::cmd("ZREM").arg(&keys.nodes).arg(a.node_id()))
            .await;
        let (_, listed) = a
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(listed.is_empty());
        tokio::time::sleep(Duration::from_millis(800)).await;
        let (_, listed) = a
            .cluster_subscribers()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(listed.len(), 1, "{listed:?}");
    })
    .await;
}

macro_rules! against {
    ($($backend:ident => $module:ident),*) => {$(
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cross_node_delivery_and_history() {
                super::cross_node_delivery_and_history(Backend::$backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mixed_encodings() {
                super::mixed_encodings(Backend::$backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn trimming_keeps_the_index_in_step() {
                super::trimming_keeps_the_index_in_step(Backend::$backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn presence_across_nodes() {
                super::presence_across_nodes(Backend::$backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn dead_node_reaped_once() {
                super::dead_node_reaped_once(Backend::$backend).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn presence_heals_itself() {
                super::presence_heals_itself(Backend::$backend).await;
            }
        }
    )*};
}

against!(Redis => redis, Valkey => valkey, Cluster => cluster);
