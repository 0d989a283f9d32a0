//! `cargo bench -p quicksilver-transport-bolt`: acknowledged publishes per second through
//! `Hub::publish` with 1, 16 and 64 concurrent publishers (each publish returns only once its
//! update is fsync'd), and the throughput of a 100 000-update `earliest` replay through a hub
//! subscription. A plain main, not a timed test: it prints figures for `docs/bolt.md`.
//!
//! `BOLT_BENCH_SECS` sets the length of each publishing run (default 3 s);
//! `BOLT_BENCH_DIR` the directory of the file (default: a temporary directory, usually on
//! the same disk as /tmp).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quicksilver_hub::{Hub, HubOptions, SubscribeRequest, UpdateData};
use quicksilver_transport_bolt::{BoltOptions, BoltTransport};

fn update(body: &str) -> UpdateData {
    UpdateData {
        id: String::new(),
        topics: vec!["https://example.com/books/1".into()],
        data: body.into(),
        private: false,
        event_type: None,
        retry: None,
    }
}

async fn publish_run(
    hub: &Arc<Hub>,
    transport: &BoltTransport,
    publishers: usize,
    secs: u64,
) -> (f64, f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (c0, a0) = transport.commit_counts();
    let body = "{\"@id\":\"https://example.com/books/1\",\"status\":\"OutOfStock\"}".to_string();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..publishers {
        let (hub, stop, done, body) = (hub.clone(), stop.clone(), done.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                hub.publish(update(&body)).await.expect("publish");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("publisher");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (c1, a1) = transport.commit_counts();
    let n = done.load(Ordering::Relaxed);
    let per_commit = (a1 - a0) as f64 / (c1 - c0).max(1) as f64;
    (n as f64 / elapsed, per_commit, n)
}

async fn replay_run(hub: &Arc<Hub>, n: usize) -> f64 {
    let start = Instant::now();
    let mut sub = hub
        .subscribe(SubscribeRequest {
            topics: vec!["*".into()],
            private_topics: None,
            payload: None,
            last_event_id: Some("earliest".into()),
            ..Default::default()
        })
        .await
        .expect("subscribe");
    for i in 0..n {
        if sub.next_update().await.is_none() {
            panic!("the replay ended after {i} of {n} updates");
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn open(path: &std::path::Path, size: u64) -> (Arc<BoltTransport>, Arc<Hub>) {
    let transport = Arc::new(
        BoltTransport::open(BoltOptions {
            size,
            ..BoltOptions::with_path(path)
        })
        .expect("open"),
    );
    let hub = Hub::start(transport.clone(), HubOptions::default())
        .await
        .expect("hub");
    (transport, hub)
}

fn main() {
    let secs: u64 = std::env::var("BOLT_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = match std::env::var_os("BOLT_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!(
            "bolt transport, files in {} ({} cores), {secs} s per run",
            dir.path().display(),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        println!("retention     publishers  acknowledged publishes/s  appends per commit (fsync)");
        for (label, size) in [("size 0 (all)", 0), ("size 1000", 1000)] {
            let (transport, hub) = open(&dir.path().join(format!("publish-{size}.db")), size).await;
            for publishers in [1, 16, 64] {
                let (rate, per_commit, _) = publish_run(&hub, &transport, publishers, secs).await;
                println!("{label:<12}  {publishers:>10}  {rate:>25.0}  {per_commit:>27.1}");
            }
            hub.shutdown().await;
        }

        // A log of exactly 100 000 updates, replayed from `earliest`.
        let path = dir.path().join("replay.db");
        let (transport, hub) = open(&path, 0).await;
        let total = 100_000;
        let publishers = 100;
        let mut tasks = Vec::new();
        for _ in 0..publishers {
            let hub = hub.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..total / publishers {
                    hub.publish(update("{\"@id\":\"https://example.com/books/1\",\"status\":\"OutOfStock\"}"))
                        .await
                        .expect("publish");
                }
            }));
        }
        for t in tasks {
            t.await.expect("preload");
        }
        assert_eq!(transport.stats().await.expect("stats").count, total as u64);
        for _ in 0..2 {
            let rate = replay_run(&hub, total).await;
            println!(
                "replay of {total} updates (earliest, one subscriber): {rate:.0} updates/s ({:.3} s)",
                total as f64 / rate
            );
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("file size for {total} updates: {:.1} MB", size as f64 / 1e6);
        hub.shutdown().await;
    });
}
