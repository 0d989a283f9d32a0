//! A Redis outage in the middle of a publish stream, with our own redis-server (AOF with
//! `appendfsync always` in a temporary directory, so a restart keeps what Redis acknowledged):
//! while it is down, publishing fails with `Unavailable` (503) and readiness fails, liveness
//! holds; after it comes back on the same port, readiness recovers by itself, the tail resumes
//! from the last entry it read (entries written by another node before this one reconnected are
//! delivered), subscribers get everything published after the broker came back, and history
//! still works across the restart.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ping;
use quicksilver_hub::{
    Hub, HubOptions, PublishError, SubscribeRequest, Subscription, Transport, TransportError,
    UpdateData,
};
use quicksilver_transport_redis::{Address, RedisOptions, RedisTransport, options::from_options};

const TOPIC: &str = "https://example.com/outage";

/// A redis-server we start and stop by PID.
struct Server {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    fn start(port: u16, dir: tempfile::TempDir) -> Server {
        let addr = Address {
            host: "127.0.0.1".into(),
            port,
        };
        if ping(&addr).is_ok() {
            panic!(
                "something already answers on 127.0.0.1:{port}; stop it (the outage test starts its own redis-server there)"
            );
        }
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with ./scripts/brokers")
            });
        let server = Server {
            port,
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while ping(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// SIGKILL: no shutdown, no final save.
    fn kill(mut self) -> (u16, tempfile::TempDir) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let port = self.port;
        let dir = std::mem::replace(
            &mut self.dir,
            tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}")),
        );
        (port, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn update(data: &str) -> UpdateData {
    UpdateData {
        id: String::new(),
        topics: vec![TOPIC.into()],
        data: data.into(),
        private: false,
        event_type: None,
        retry: None,
    }
}

async fn take(s: &mut Subscription, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), s.next_update()).await {
            Ok(Some(u)) => out.push(u.data().data.clone()),
            _ => panic!("after {out:?}: no more updates"),
        }
    }
    out
}

fn options(port: u16) -> RedisOptions {
    let url = vec![format!("redis://127.0.0.1:{port}")];
    let stream = vec!["outage".to_string()];
    from_options([
        ("url", url.as_slice(), 0, "test"),
        ("stream", stream.as_slice(), 0, "test"),
    ])
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn hub(port: u16) -> (std::sync::Arc<Hub>, std::sync::Arc<RedisTransport>) {
    let t =
        std::sync::Arc::new(RedisTransport::new(options(port)).unwrap_or_else(|e| panic!("{e}")));
    let hub = Hub::start(t.clone(), HubOptions::default())
        .await
        .unwrap_or_else(|e| panic!("hub start: {e}"));
    (hub, t)
}

fn subscribe_req(last: Option<&str>) -> SubscribeRequest {
    SubscribeRequest {
        topics: vec![TOPIC.into()],
        private_topics: None,
        payload: None,
        last_event_id: last.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing_redis_kept() {
    let port: u16 = std::env::var("QS_OUTAGE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(16390);
    let server = Server::start(
        port,
        tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}")),
    );
    let (a, ta) = hub(port).await;
    let mut sub = a
        .subscribe(subscribe_req(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut before_id = String::new();
    for i in 0..10 {
        before_id = a
            .publish(update(&format!("before{i}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .id()
            .to_string();
    }
    assert_eq!(
        take(&mut sub, 10).await,
        (0..10).map(|i| format!("before{i}")).collect::<Vec<_>>()
    );
    ta.ready()
        .await
        .unwrap_or_else(|e| panic!("ready before the outage: {e}"));

    // The broker dies.
    let (port, dir) = server.kill();
    let started = Instant::now();
    match a.publish(update("lost")).await {
        Err(PublishError::Transport(TransportError::Unavailable(reason))) => {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "503 took {:?}",
                started.elapsed()
            );
            assert!(reason.contains("Redis"), "{reason}");
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
    ta.live()
        .await
        .unwrap_or_else(|e| panic!("a short outage must not fail liveness: {e}"));
    // Long enough for the tail's backoff to grow, so that B (below) writes before A's tail is
    // back: A must then resume from the last entry it read, not from the end of the stream.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // It comes back with its data (AOF); another node writes before this one reconnects.
    let server = Server::start(port, dir);
    let (b, _tb) = hub(port).await;
    for i in 0..5 {
        b.publish(update(&format!("after{i}")))
            .await
            .unwrap_or_else(|e| panic!("publish on B after the restart: {e}"));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Err(e) = ta.ready().await {
        assert!(Instant::now() < deadline, "readiness did not recover: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 5..10 {
        a.publish(update(&format!("after{i}")))
            .await
            .unwrap_or_else(|e| panic!("publish on A after the restart: {e}"));
    }
    // The subscriber that stayed connected: everything after the restart, nothing lost, once.
    assert_eq!(
        take(&mut sub, 10).await,
        (0..10).map(|i| format!("after{i}")).collect::<Vec<_>>()
    );
    if let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(300), sub.next_update()).await {
        panic!("unexpected extra update {}", u.data().data);
    }
    // A client reconnecting with its last id from before the outage.
    let mut back = a
        .subscribe(subscribe_req(Some(&before_id)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.cursor(), Some(before_id.as_str()));
    assert_eq!(
        take(&mut back, 10).await,
        (0..10).map(|i| format!("after{i}")).collect::<Vec<_>>()
    );
    // Nothing half-published: the failed publish left no entry.
    let mut all = a
        .subscribe(subscribe_req(Some("earliest")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let everything = take(&mut all, 20).await;
    assert!(!everything.iter().any(|d| d == "lost"), "{everything:?}");
    ta.live().await.unwrap_or_else(|e| panic!("{e}"));
    drop(server);
}
