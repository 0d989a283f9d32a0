//! Several hubs sharing one stream, in one process: the cluster contract of
//! `quicksilver_hub::contract::cluster` (cross-node delivery, custom ids and history across
//! nodes, presence across nodes: listing, a late node, a graceful leave, a dead node reaped
//! exactly once, self-healing, records of both drafts), and Redis's own: mixed encodings,
//! trimming with the id index. Each scenario runs against Redis, Valkey and the Redis Cluster.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Presence, Streams, inspector, with_cleanup};
use futures::StreamExt;
use quicksilver_hub::contract::cluster::{
    self as contract, TOPIC, publish, subscribe, take, update,
};
use quicksilver_hub::{Hub, HubOptions, Position, Transport};
use quicksilver_transport_redis::{Keys, RedisOptions};

async fn start(streams: &Streams, opts: &RedisOptions) -> Arc<Hub> {
    contract::start(streams.transport(opts.clone()), Some(opts.presence_timeout)).await
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

/// The cluster contract's scenarios on this backend.
async fn cross_node_delivery_and_history(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[]);
        contract::cross_node_delivery_and_history(&*streams.nodes(&opts)).await;
    })
    .await;
}

async fn presence_across_nodes(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[("presence_timeout", &["2s"])]);
        contract::presence_across_nodes(&*streams.nodes(&opts), opts.presence_timeout).await;
    })
    .await;
}

async fn dead_node_reaped_once(backend: Backend) {
    with_cleanup(|streams| async move {
        // Short, so the test is quick; not so short that a loaded CI machine delays a live
        // node's heartbeat past it.
        let opts = backend.options(&[("presence_timeout", &["2s"])]);
        contract::dead_node_reaped_once(&*streams.nodes(&opts), opts.presence_timeout).await;
    })
    .await;
}

/// A live node whose presence state was lost (declared dead during a pause, a Redis restart
/// without persistence) writes it back on its next heartbeat.
async fn presence_heals_itself(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[("presence_timeout", &["900ms"])]);
        contract::presence_heals_itself(
            &*streams.nodes(&opts),
            opts.presence_timeout,
            &Presence::of(&opts),
        )
        .await;
    })
    .await;
}

/// Both drafts' records through `add`, `list`, the resync and `reap`, stored as JSON documents.
async fn presence_records_round_trip(backend: Backend) {
    with_cleanup(|streams| async move {
        let opts = backend.options(&[]);
        contract::presence_records_round_trip(&*streams.nodes(&opts), &Presence::of(&opts)).await;
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

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn presence_records_round_trip() {
                super::presence_records_round_trip(Backend::$backend).await;
            }
        }
    )*};
}

against!(Redis => redis, Valkey => valkey, Cluster => cluster);
