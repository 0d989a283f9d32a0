//! A PostgreSQL restart in the middle of a publish stream, with our own server (initdb in a
//! temporary directory, port 15433 or `QS_PG_OUTAGE_PORT`), stopped with
//! `pg_ctl stop -m immediate`: while it is down, publishing fails with `Unavailable` (503)
//! and readiness fails, liveness holds; after it comes back on the same port, readiness
//! recovers by itself, the tail catches up from the last row it read (rows written by another
//! node before this one reconnected are delivered), subscribers get everything published after
//! the restart, and history still works across it.

mod common;

use std::time::{Duration, Instant};

use common::server::OwnServer;
use quicksilver_hub::{
    Hub, HubOptions, PublishError, SubscribeRequest, Subscription, Transport, TransportError,
    UpdateData,
};
use quicksilver_transport_postgres::PostgresTransport;

const TOPIC: &str = "https://example.com/outage";

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

async fn hub(url: &str) -> (std::sync::Arc<Hub>, std::sync::Arc<PostgresTransport>) {
    let opts = common::options_for(url, "outage", &[("presence_timeout", &["2s"])]);
    let t = std::sync::Arc::new(PostgresTransport::new(opts).unwrap_or_else(|e| panic!("{e}")));
    let options = HubOptions {
        subscriptions: true,
        presence_timeout: t.presence_timeout(),
        ..HubOptions::default()
    };
    let hub = Hub::start(t.clone(), options)
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
async fn database_restart_loses_nothing() {
    let port: u16 = std::env::var("QS_PG_OUTAGE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(15433);
    let server = OwnServer::start(port, &[]);
    let url = format!("{}?sslmode=disable", server.url("postgres"));
    let (a, ta) = hub(&url).await;
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

    // The database goes down hard.
    server.crash();
    let started = Instant::now();
    match a.publish(update("lost")).await {
        Err(PublishError::Transport(TransportError::Unavailable(reason))) => {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "503 took {:?}",
                started.elapsed()
            );
            assert!(reason.contains("PostgreSQL"), "{reason}");
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
    // back: A must then catch up from the last row it read, not from the end of the table.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // It comes back with its data; another node writes before this one reconnects.
    server.resume();
    let (b, _tb) = hub(&url).await;
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
    // Nothing half-published: the failed publish left no row.
    let mut all = a
        .subscribe(subscribe_req(Some("earliest")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let everything = take(&mut all, 20).await;
    assert!(!everything.iter().any(|d| d == "lost"), "{everything:?}");
    ta.live().await.unwrap_or_else(|e| panic!("{e}"));
    // Presence survived too: A heartbeats again and lists its subscribers.
    let (_, listed) = b
        .cluster_subscribers()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        listed.iter().any(|r| r.node == a.node_id()),
        "A's subscribers after the restart: {listed:?}"
    );
    drop(server);
}
