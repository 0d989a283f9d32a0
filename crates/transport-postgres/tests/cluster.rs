//! Several hubs sharing one table, in one process, against a real PostgreSQL: the cluster
//! contract of `quicksilver_hub::contract::cluster` (cross-node delivery, custom ids and history
//! across nodes, presence across nodes, a dead node reaped exactly once, self-healing presence),
//! and PostgreSQL's own: a 100 KB update (beyond NOTIFY's 8000 bytes), concurrent publishers on
//! three nodes delivering one sequence everywhere (with a transaction that commits late and one
//! that rolls back), the out-of-order commit hazard and how the table's lock removes it, rows
//! inserted with plain SQL, concurrent reapers, retention by count and by age, nodes migrating a
//! fresh table at once, and a table of the wrong shape.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Tables, inspector, with_cleanup};
use futures::StreamExt;
use quicksilver_hub::contract::cluster::{
    self, TOPIC, nothing_more, publish, subscribe, take, take_updates, update,
};
use quicksilver_hub::{Hub, HubOptions, Position, Transport};
use quicksilver_transport_postgres::{PostgresOptions, PostgresTransport};

async fn start(tables: &Tables, opts: &PostgresOptions) -> Arc<Hub> {
    cluster::start(tables.transport(opts.clone()), Some(opts.presence_timeout)).await
}

/// Cross-node delivery in one order, history across nodes, a late node (the cluster contract).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_delivery_and_history() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[]);
        cluster::cross_node_delivery_and_history(&*tables.nodes(&opts)).await;
    })
    .await;
}

/// NOTIFY payloads are limited to 8000 bytes; ours carry only the sequence number, so an
/// update of 100 KB crosses nodes, live and in history, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_update_across_nodes() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[]);
        let a = start(&tables, &opts).await;
        let b = start(&tables, &opts).await;
        let mut on_b = subscribe(&b, &[TOPIC], None).await;
        let big: String = (0..100 * 1024)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let mut d = update("big-1", &format!("{big}\nsecond line"));
        d.event_type = Some("large".into());
        d.retry = Some(2500);
        d.topics.push("https://example.com/alternate".into());
        publish(&a, d.clone()).await;
        let got = take_updates(&mut on_b, 1).await.remove(0);
        assert_eq!(got.data(), &d);
        let mut h = subscribe(&b, &[TOPIC], Some("earliest")).await;
        let replayed = take_updates(&mut h, 1).await.remove(0);
        assert_eq!(replayed.data(), &d);
        assert_eq!(replayed.frame(), got.frame());
    })
    .await;
}

/// The hazard: sequence numbers are drawn at insert time but become visible at commit, so
/// without our lock a later number can commit first, and a reader following `seq > last`
/// skips the earlier one forever. Shown on a plain table, then the same interleaving on a
/// transport's table, where the second writer waits for the first to commit and is delivered
/// after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_commits_are_prevented() {
    with_cleanup(|tables| async move {
        let plain = format!("{}_plain", common::table_name());
        let first = inspector().await;
        let second = inspector().await;
        first
            .batch_execute(&format!(
                "CREATE TABLE \"{plain}\" (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)"
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        first
            .batch_execute(&format!("BEGIN; INSERT INTO \"{plain}\" (v) VALUES ('early')"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        second
            .batch_execute(&format!("INSERT INTO \"{plain}\" (v) VALUES ('late')"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let visible: Vec<i64> = second
            .query(&format!("SELECT seq FROM \"{plain}\" WHERE seq > 0 ORDER BY seq"), &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(visible, [2], "seq 2 committed while seq 1 is still open");
        first
            .batch_execute("COMMIT")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // A reader that had advanced to 2 would never read 1.
        let after_two: i64 = second
            .query_one(&format!("SELECT count(*) FROM \"{plain}\" WHERE seq > 2"), &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .get(0);
        assert_eq!(after_two, 0);
        first
            .batch_execute(&format!("DROP TABLE \"{plain}\""))
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // The same interleaving on a transport's table.
        let opts = tables.options(&[]);
        let hub = start(&tables, &opts).await;
        let mut sub = subscribe(&hub, &[TOPIC], None).await;
        let table = format!("\"{}\"", opts.table);
        first
            .batch_execute(&format!(
                "BEGIN; INSERT INTO {table} (event_id, topics, data) VALUES ('early', ARRAY['{TOPIC}'], 'early')"
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let late = {
            let table = table.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let seq: i64 = second
                    .query_one(
                        &format!(
                            "INSERT INTO {table} (event_id, topics, data) VALUES ('late', ARRAY['{TOPIC}'], 'late') RETURNING seq"
                        ),
                        &[],
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .get(0);
                (seq, started.elapsed())
            })
        };
        // A publish through the hub waits behind the open transaction too.
        let through_hub = {
            let hub = hub.clone();
            tokio::spawn(async move { publish(&hub, update("hub", "hub")).await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!late.is_finished(), "the second writer must wait for the first");
        assert!(!through_hub.is_finished(), "the hub's insert must wait too");
        nothing_more(&mut sub, Duration::from_millis(10)).await;
        let early_seq: i64 = first
            .query_one("SELECT currval(pg_get_serial_sequence($1, 'seq'))", &[&table])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .get(0);
        first
            .batch_execute("COMMIT")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (late_seq, waited) = late.await.unwrap_or_else(|e| panic!("{e}"));
        through_hub.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(late_seq > early_seq, "{late_seq} <= {early_seq}");
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        let mut got = take(&mut sub, 3).await;
        assert_eq!(got.remove(0), "early");
        got.sort();
        assert_eq!(got, ["hub", "late"]);
    })
    .await;
}

/// Three nodes, three publishers each, plus a transaction that inserts and commits a second
/// later, and one that rolls back (a permanent gap in the sequence): every node delivers the
/// same sequence, which is the table's `ORDER BY seq`, without gap or duplicate; each
/// publisher's own order is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_three_nodes_deliver_one_sequence() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[]);
        // Without the subscriptions API, so that only published updates are in the table.
        let mut hubs = Vec::new();
        for _ in 0..3 {
            let options = HubOptions {
                queue_capacity: 100_000,
                ..HubOptions::default()
            };
            hubs.push(
                Hub::start(tables.transport(opts.clone()), options)
                    .await
                    .unwrap_or_else(|e| panic!("hub start: {e}")),
            );
        }
        let mut subs = Vec::new();
        for h in &hubs {
            subs.push(subscribe(h, &["*"], None).await);
        }
        let table = format!("\"{}\"", opts.table);
        let each = 60;
        let mut tasks = Vec::new();
        for (n, hub) in hubs.iter().enumerate() {
            for p in 0..3 {
                let hub = hub.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..each {
                        publish(&hub, update(&format!("n{n}p{p}-{i}"), "x")).await;
                    }
                }));
            }
        }
        let delayed = {
            let table = table.clone();
            tokio::spawn(async move {
                let c = inspector().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                c.batch_execute(&format!(
                    "BEGIN; INSERT INTO {table} (event_id, topics, data) VALUES ('delayed', ARRAY['{TOPIC}'], 'x')"
                ))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                c.batch_execute("COMMIT")
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                c.batch_execute(&format!(
                    "BEGIN; INSERT INTO {table} (event_id, topics, data) VALUES ('rolled-back', ARRAY['{TOPIC}'], 'x')"
                ))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
                tokio::time::sleep(Duration::from_millis(300)).await;
                c.batch_execute("ROLLBACK")
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            })
        };
        for t in tasks {
            t.await.unwrap_or_else(|e| panic!("publisher: {e}"));
        }
        delayed.await.unwrap_or_else(|e| panic!("{e}"));
        let c = inspector().await;
        let rows = c
            .query(&format!("SELECT event_id FROM {table} ORDER BY seq"), &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let in_table: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let total = in_table.len();
        assert!(in_table.contains(&"delayed".to_owned()));
        assert!(!in_table.contains(&"rolled-back".to_owned()));
        let mut orders = Vec::new();
        for s in subs.iter_mut() {
            let ids: Vec<String> = take_updates(s, total)
                .await
                .iter()
                .map(|u| u.id().to_string())
                .collect();
            nothing_more(s, Duration::from_millis(300)).await;
            orders.push(ids);
        }
        for (i, o) in orders.iter().enumerate() {
            assert_eq!(o, &in_table, "node {i} differs from the table's order");
        }
        for n in 0..3 {
            for p in 0..3 {
                let prefix = format!("n{n}p{p}-");
                let mine: Vec<_> = in_table
                    .iter()
                    .filter(|id| id.starts_with(&prefix))
                    .cloned()
                    .collect();
                let expected: Vec<_> = (0..each).map(|i| format!("{prefix}{i}")).collect();
                assert_eq!(mine, expected, "publisher {prefix} order broken");
            }
        }
    })
    .await;
}

/// A row inserted with plain SQL (the table is a documented interface) is delivered live by
/// every node, with the defaults filled in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_inserted_with_sql_are_delivered() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[]);
        let a = start(&tables, &opts).await;
        let mut sub = subscribe(&a, &[TOPIC], None).await;
        let c = inspector().await;
        c.execute(
            &format!(
                "INSERT INTO \"{}\" (topics, data, type) VALUES ($1, 'from sql', 'note')",
                opts.table
            ),
            &[&vec![TOPIC]],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let u = take_updates(&mut sub, 1).await.remove(0);
        assert_eq!(u.data().data, "from sql");
        assert_eq!(u.data().event_type.as_deref(), Some("note"));
        assert!(u.id().starts_with("urn:uuid:"), "{}", u.id());
        // The notification arrived: well before the periodic read.
        let started = Instant::now();
        c.execute(
            &format!(
                "INSERT INTO \"{}\" (topics, data) VALUES ($1, 'second')",
                opts.table
            ),
            &[&vec![TOPIC]],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(take(&mut sub, 1).await, ["second"]);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}

/// Presence listed on every node, a late node, unsubscribing, a graceful shutdown (the cluster
/// contract).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_across_nodes() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[("presence_timeout", &["2s"])]);
        cluster::presence_across_nodes(&*tables.nodes(&opts), opts.presence_timeout).await;
    })
    .await;
}

/// A node dying without a goodbye is reaped once, within its timeout (the cluster contract).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_node_reaped_once() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[("presence_timeout", &["1500ms"])]);
        cluster::dead_node_reaped_once(&*tables.nodes(&opts), opts.presence_timeout).await;
    })
    .await;
}

/// Many reapers at once on the same dead node: exactly one gets its records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reapers_take_each_record_once() {
    use quicksilver_hub::{PresenceStore, SubscriberRecord};
    with_cleanup(|tables| async move {
        let opts = tables.options(&[("presence_timeout", &["1s"])]);
        let transports: Vec<Arc<PostgresTransport>> =
            (0..4).map(|_| tables.transport(opts.clone())).collect();
        let mut hubs = Vec::new();
        for t in &transports {
            // Starting migrates the table; the hubs themselves don't reap (no subscriptions).
            hubs.push(
                Hub::start(t.clone(), HubOptions::default())
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        let store = transports[0].presence_store();
        for i in 0..50 {
            store
                .add(&SubscriberRecord {
                    id: format!("s{i}"),
                    topics: vec![TOPIC.into()],
                    payload: None,
                    node: "doomed".into(),
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        store
            .heartbeat("doomed", Duration::from_millis(100))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut reapers = Vec::new();
        for t in &transports {
            for _ in 0..4 {
                let store = t.presence_store();
                reapers.push(tokio::spawn(async move { store.reap().await }));
            }
        }
        let mut taken = Vec::new();
        for r in reapers {
            let got = r
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
            taken.extend(got.into_iter().map(|r| r.id));
        }
        taken.sort();
        let mut expected: Vec<String> = (0..50).map(|i| format!("s{i}")).collect();
        expected.sort();
        assert_eq!(taken, expected);
    })
    .await;
}

/// A live node whose presence rows were lost (declared dead during a pause) writes them back
/// on its next heartbeat (the cluster contract).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_heals_itself() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[("presence_timeout", &["900ms"])]);
        cluster::presence_heals_itself(
            &*tables.nodes(&opts),
            opts.presence_timeout,
            &common::Presence::of(&opts),
        )
        .await;
    })
    .await;
}

async fn history_data(t: &PostgresTransport, after: &str) -> (bool, Vec<String>) {
    let h = t
        .history(after, Position(u128::MAX))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let found = h.found;
    let data = h
        .updates
        .map(|u| {
            u.map(|u| u.data().data.clone())
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
        .await;
    (found, data)
}

/// `max_length`: the newest N updates are kept (deterministically, by the node holding the
/// trim lock); trimmed ids become unknown, kept ones still work, the first occurrence of a
/// duplicate id wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_count() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[("max_length", &["50"])]);
        let t = tables.transport(opts.clone());
        let other = tables.transport(opts.clone());
        let hub = Hub::start(t.clone(), HubOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _other = Hub::start(other.clone(), HubOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..300 {
            // Every tenth id repeats the previous one.
            let id = if i % 10 == 9 {
                format!("t{}", i - 1)
            } else {
                format!("t{i}")
            };
            publish(&hub, update(&id, &format!("d{i}"))).await;
        }
        // Both nodes run the trimmer; explicit calls make the test independent of the timer.
        let (x, y) = tokio::join!(t.trim(), other.trim());
        x.unwrap_or_else(|e| panic!("{e}"));
        y.unwrap_or_else(|e| panic!("{e}"));
        let c = inspector().await;
        let (count, min): (i64, String) = {
            let r = c
                .query_one(
                    &format!(
                        "SELECT count(*), (SELECT data FROM \"{t}\" ORDER BY seq LIMIT 1) FROM \"{t}\"",
                        t = opts.table
                    ),
                    &[],
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            (r.get(0), r.get(1))
        };
        assert_eq!(count, 50);
        assert_eq!(min, "d250");
        assert_eq!(history_data(&t, "t0").await, (false, vec![]));
        let (found, rest) = history_data(&t, "t290").await;
        assert!(found);
        assert_eq!(rest, (291..300).map(|i| format!("d{i}")).collect::<Vec<_>>());
        // t298 was published at 298 and again at 299: the first occurrence counts.
        assert_eq!(history_data(&t, "t298").await, (true, vec!["d299".into()]));
        // The timer trims too, without explicit calls.
        for i in 0..20 {
            publish(&hub, update("", &format!("e{i}"))).await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n: i64 = c
                .query_one(&format!("SELECT count(*) FROM \"{}\"", opts.table), &[])
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .get(0);
            if n == 50 {
                break;
            }
            assert!(Instant::now() < deadline, "still {n} rows");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

/// `max_age`: updates published longer ago are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[("max_age", &["1h"])]);
        let t = tables.transport(opts.clone());
        let hub = Hub::start(t.clone(), HubOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..10 {
            publish(&hub, update(&format!("a{i}"), &format!("d{i}"))).await;
        }
        let c = inspector().await;
        c.execute(
            &format!(
                "UPDATE \"{}\" SET published_at = now() - interval '2 hours' WHERE event_id IN ('a0', 'a1', 'a2')",
                opts.table
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let deleted = t.trim().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deleted, 3);
        let (found, rest) = history_data(&t, "earliest").await;
        assert!(found);
        assert_eq!(rest, (3..10).map(|i| format!("d{i}")).collect::<Vec<_>>());
    })
    .await;
}

/// Several nodes starting at once on a table that doesn't exist yet: one creates it, the
/// others wait for the migration lock and find it complete; all of them work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_migrate_a_fresh_table_at_once() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[]);
        let mut starts = Vec::new();
        for _ in 0..6 {
            let t = tables.transport(opts.clone());
            starts.push(tokio::spawn(async move {
                Hub::start(t, HubOptions::default()).await
            }));
        }
        let mut hubs = Vec::new();
        for s in starts {
            hubs.push(
                s.await
                    .unwrap_or_else(|e| panic!("{e}"))
                    .unwrap_or_else(|e| panic!("start: {e}")),
            );
        }
        let mut sub = subscribe(&hubs[5], &[TOPIC], None).await;
        publish(&hubs[0], update("", "works")).await;
        assert_eq!(take(&mut sub, 1).await, ["works"]);
        // Idempotent: starting again on the complete schema changes nothing.
        let again = tables.transport(opts.clone());
        Hub::start(again, HubOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    })
    .await;
}

/// A pre-existing table of another shape is refused with what differs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_of_the_wrong_shape_is_refused() {
    with_cleanup(|tables| async move {
        let opts = tables.options(&[]);
        let c = inspector().await;
        c.batch_execute(&format!(
            "CREATE TABLE \"{}\" (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id text, topics text, data text)",
            opts.table
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let t = tables.transport(opts.clone());
        match Hub::start(t, HubOptions::default()).await {
            Ok(_) => panic!("a table with topics as text must be refused"),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains("column topics is text, expected text[]"),
                    "{e}"
                );
            }
        }
    })
    .await;
}
