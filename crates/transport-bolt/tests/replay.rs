//! A long replay through the hub: 100 000 updates to a subscriber that reads slowly while
//! publishing goes on. The history is pulled by the reader a batch at a time, so the
//! subscriber's queue (1 000 by default) only holds the live updates and never overflows.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{data, temp_path};
use futures::StreamExt;
use quicksilver_hub::{Hub, HubOptions, Position, SubscribeRequest, Transport};
use quicksilver_transport_bolt::{BoltOptions, BoltTransport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_replays_100k_updates_while_publishing_goes_on() {
    let (_dir, path) = temp_path();
    let transport = Arc::new(
        BoltTransport::open(BoltOptions {
            size: 0,
            ..BoltOptions::with_path(&path)
        })
        .expect("open"),
    );
    let hub = Hub::start(transport.clone(), HubOptions::default())
        .await
        .expect("hub");
    assert_eq!(hub.options().queue_capacity, 1000);

    // Preload: many concurrent publishers, so group commit keeps this quick.
    let total = 100_000;
    let publishers = 250;
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..total / publishers {
                hub.publish(data("", &format!("{p}:{i}")))
                    .await
                    .expect("publish");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    // The log order, read straight from the transport.
    let log: Vec<String> = transport
        .history("earliest", Position(total as u128))
        .await
        .unwrap()
        .updates
        .map(|u| u.unwrap().data().data.clone())
        .collect()
        .await;
    assert_eq!(log.len(), total);

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
    let live = 500;
    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 0..live {
                hub.publish(data("", &format!("live:{i}")))
                    .await
                    .expect("publish");
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let mut got = Vec::with_capacity(total + live);
    while got.len() < total + live {
        match tokio::time::timeout(Duration::from_secs(30), sub.next_update()).await {
            Ok(Some(u)) => got.push(u.data().data.clone()),
            Ok(None) => panic!(
                "the stream ended after {} updates (subscriber closed: {:?})",
                got.len(),
                sub.subscriber().closed()
            ),
            Err(_) => panic!("stalled after {} updates", got.len()),
        }
        if got.len() % 1000 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    publisher.await.unwrap();
    assert_eq!(
        got[..total],
        log[..],
        "history: every update once, in log order"
    );
    let expected_live: Vec<String> = (0..live).map(|i| format!("live:{i}")).collect();
    assert_eq!(got[total..], expected_live[..], "then the live updates");
    if let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(200), sub.next_update()).await {
        panic!("unexpected extra update {:?}", u.data());
    }
}
