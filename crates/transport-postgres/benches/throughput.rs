//! `cargo bench -p quicksilver-transport-postgres`: figures for `docs/postgres.md`, against the
//! PostgreSQL of `QS_POSTGRES_URL` (default the machine's, 127.0.0.1:5432 database `test`).
//! A plain main, not a timed test.
//!
//! - Acknowledged publishes per second through `Hub::publish` with 1, 16 and 64 concurrent
//!   publishers on one node, and 64 spread over two nodes (each publish returns once its row
//!   committed and this node's tail read it back), with the average batch size.
//! - End-to-end latency through two hubs: publish on A, receive on a subscriber of B.
//! - The price of the ordering lock at the database, without the hub: single-row INSERTs from
//!   16 connections into the table with its triggers, then with the lock trigger disabled.
//!
//! `QS_PG_BENCH_SECS` sets the length of each run (default 3 s). Each run uses a fresh table,
//! dropped at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quicksilver_hub::{Hub, HubOptions, SubscribeRequest, UpdateData};
use quicksilver_transport_postgres::{PostgresTransport, from_options};

const TOPIC: &str = "https://example.com/books/1";

fn url() -> String {
    std::env::var("QS_POSTGRES_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_owned())
}

fn update(body: &str) -> UpdateData {
    UpdateData {
        id: String::new(),
        topics: vec![TOPIC.into()],
        data: body.into(),
        private: false,
        event_type: None,
        retry: None,
    }
}

fn transport(table: &str) -> Arc<PostgresTransport> {
    let args = [vec![url()], vec![table.to_owned()]];
    let opts = from_options([
        ("url", args[0].as_slice(), 0, "bench"),
        ("table", args[1].as_slice(), 0, "bench"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    Arc::new(PostgresTransport::new(opts).unwrap_or_else(|e| panic!("{e}")))
}

async fn hub(t: Arc<PostgresTransport>) -> Arc<Hub> {
    Hub::start(
        t,
        HubOptions {
            queue_capacity: 1_000_000,
            ..HubOptions::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("hub start: {e}"))
}

async fn inspector() -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {} ({e}): start it with ./scripts/brokers",
                url()
            )
        });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

async fn drop_table(table: &str) {
    inspector()
        .await
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{table}\", \"{table}_nodes\", \"{table}_subscribers\";
             DROP FUNCTION IF EXISTS \"{table}_lock\"(), \"{table}_notify\"();"
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn table_name() -> String {
    format!("qs_bench_{}", uuid::Uuid::new_v4().simple())
}

/// Publishers spread over `nodes` hubs on one table for `secs`; returns publishes/s and the
/// average number of updates per INSERT.
async fn publish_run(nodes: usize, publishers: usize, secs: u64) -> (f64, f64) {
    let table = table_name();
    let mut transports = Vec::new();
    let mut hubs = Vec::new();
    for _ in 0..nodes {
        let t = transport(&table);
        hubs.push(hub(t.clone()).await);
        transports.push(t);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let body = "{\"@id\":\"https://example.com/books/1\",\"status\":\"OutOfStock\"}".to_string();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let hub = hubs[p % nodes].clone();
        let (stop, done, body) = (stop.clone(), done.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                hub.publish(update(&body))
                    .await
                    .unwrap_or_else(|e| panic!("publish: {e}"));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("publisher: {e}"));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (statements, updates) = transports
        .iter()
        .map(|t| t.insert_counts())
        .fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    for h in &hubs {
        h.shutdown().await;
    }
    drop_table(&table).await;
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        updates as f64 / statements.max(1) as f64,
    )
}

/// Publish on A, one at a time, and time the arrival on a subscriber of B.
async fn latency_run(samples: usize) -> Vec<Duration> {
    let table = table_name();
    let a = hub(transport(&table)).await;
    let b = hub(transport(&table)).await;
    let mut sub = b
        .subscribe(SubscribeRequest {
            topics: vec![TOPIC.into()],
            private_topics: None,
            payload: None,
            last_event_id: None,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples + 20 {
        let sent = Instant::now();
        let publish = a.publish(update(&format!("m{i}")));
        let receive = async {
            tokio::time::timeout(Duration::from_secs(10), sub.next_update())
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("update {i} never arrived on B"))
        };
        let (published, received) = tokio::join!(publish, receive);
        published.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(received.data().data, format!("m{i}"));
        // The first few warm up connections and prepared statements.
        if i >= 20 {
            out.push(sent.elapsed());
        }
    }
    a.shutdown().await;
    b.shutdown().await;
    drop_table(&table).await;
    out
}

/// Single-row INSERTs from `connections` connections, with or without the ordering lock.
async fn raw_insert_run(connections: usize, lock: bool, secs: u64) -> f64 {
    let table = table_name();
    // A transport creates the schema.
    let t = transport(&table);
    let h = hub(t.clone()).await;
    if !lock {
        inspector()
            .await
            .batch_execute(&format!(
                "ALTER TABLE \"{table}\" DISABLE TRIGGER \"{table}_lock\""
            ))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let sql = format!("INSERT INTO \"{table}\" (topics, data) VALUES (ARRAY['{TOPIC}'], 'x')");
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (stop, done, sql) = (stop.clone(), done.clone(), sql.clone());
        tasks.push(tokio::spawn(async move {
            let c = inspector().await;
            let stmt = c.prepare(&sql).await.unwrap_or_else(|e| panic!("{e}"));
            while !stop.load(Ordering::Relaxed) {
                c.execute(&stmt, &[])
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    h.shutdown().await;
    drop_table(&table).await;
    rate
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let secs: u64 = std::env::var("QS_PG_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let server: String = inspector()
            .await
            .query_one(
                "SELECT current_setting('server_version') || ', fsync ' || current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit')",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .get(0);
        println!("PostgreSQL {server}; {secs} s per run");
        println!("\nacknowledged publishes through Hub::publish (commit + read back by the node's tail):");
        for (nodes, publishers) in [(1, 1), (1, 16), (1, 64), (2, 64)] {
            let (rate, batch) = publish_run(nodes, publishers, secs).await;
            println!(
                "  {nodes} node(s), {publishers:>2} publishers: {rate:>8.0} publishes/s  ({batch:.1} updates per INSERT)"
            );
        }
        let mut lat = latency_run(500).await;
        lat.sort();
        println!(
            "\nend-to-end latency, publish on node A -> subscriber on node B, one at a time ({} samples):\n  p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            lat.len(),
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.9).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
        println!("\nthe ordering lock at the database (single-row INSERTs, no hub, 16 connections):");
        // Alternated, A B A B: the machine's disk is shared and its fsync time varies.
        for round in 1..=2 {
            let with = raw_insert_run(16, true, secs).await;
            let without = raw_insert_run(16, false, secs).await;
            println!(
                "  round {round}: with the lock trigger {with:>7.0} inserts/s, lock trigger disabled {without:>7.0} inserts/s"
            );
        }
    });
}
