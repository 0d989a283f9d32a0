//! The transport contract suite: what every transport must guarantee, checked through a real
//! [`Hub`] so it tests what subscribers see.
//!
//! A transport crate runs it with [`transport_contract_tests!`], giving a function that opens a
//! fresh, empty log each time. The checks: log order and exactly-once delivery, no gap and no
//! duplicate at the history/live boundary under concurrent publishing, publisher-chosen ids as
//! history cursors, unknown ids, `earliest`, concurrent publishers and subscribers seeing one
//! order, and private updates never replayed to a subscriber without a grant.
//!
//! [`cluster`] holds the scenarios of several nodes sharing one log, for clustered transports.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::hub::{Hub, HubOptions, Subscription};
use crate::subscriber::SubscribeRequest;
use crate::transport::Transport;
use crate::update::UpdateData;

pub mod cluster;

/// Opens a fresh, empty log.
pub type Factory =
    dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Transport>> + Send>> + Send + Sync;

/// The topic of the contract's updates.
pub const TOPIC: &str = "https://example.com/contract";
const WAIT: Duration = Duration::from_secs(20);

async fn hub(factory: &Factory) -> Arc<Hub> {
    let options = HubOptions {
        queue_capacity: 100_000,
        ..HubOptions::default()
    };
    match Hub::start(factory().await, options).await {
        Ok(h) => h,
        Err(e) => panic!("transport failed to start: {e}"),
    }
}

/// A public update on the contract's topic; an empty `id` lets the hub generate one.
pub fn data(id: &str, body: &str) -> UpdateData {
    UpdateData {
        id: id.to_string(),
        topics: vec![TOPIC.to_string()],
        data: body.to_string(),
        private: false,
        event_type: None,
        retry: None,
    }
}

/// Publishes, failing the test on error; returns the update's id.
pub async fn publish(hub: &Hub, d: UpdateData) -> String {
    match hub.publish(d).await {
        Ok(u) => u.id().to_string(),
        Err(e) => panic!("publish failed: {e}"),
    }
}

async fn subscribe(
    hub: &Hub,
    topics: &[&str],
    last: Option<&str>,
    grants: Option<&[&str]>,
) -> Subscription {
    let req = SubscribeRequest {
        topics: topics.iter().map(|s| s.to_string()).collect(),
        private_topics: grants.map(|g| g.iter().map(|s| s.to_string()).collect()),
        payload: None,
        last_event_id: last.map(str::to_string),
        ..Default::default()
    };
    match hub.subscribe(req).await {
        Ok(s) => s,
        Err(e) => panic!("subscribe failed: {e}"),
    }
}

/// Reads `n` updates' data, failing if they don't arrive in time.
pub async fn take(sub: &mut Subscription, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match tokio::time::timeout(WAIT, sub.next_update()).await {
            Ok(Some(u)) => out.push(u.data().data.clone()),
            Ok(None) => panic!("stream ended after {} of {n} updates", out.len()),
            Err(_) => panic!(
                "timed out after {} of {n} updates: {:?}",
                out.len(),
                out.last()
            ),
        }
    }
    out
}

/// Asserts nothing more arrives within a short while.
async fn nothing_more(sub: &mut Subscription) {
    if let Ok(Some(u)) = tokio::time::timeout(Duration::from_millis(300), sub.next_update()).await {
        panic!("unexpected extra update {:?}", u.data());
    }
}

fn seq(prefix: &str, r: std::ops::Range<usize>) -> Vec<String> {
    r.map(|i| format!("{prefix}{i}")).collect()
}

/// Updates arrive in publish order, each exactly once, to every matching subscriber.
pub async fn ordering_and_exactly_once(factory: &Factory) {
    let hub = hub(factory).await;
    let mut a = subscribe(&hub, &[TOPIC], None, None).await;
    let mut b = subscribe(&hub, &[TOPIC, "*", "https://example.com/{x}"], None, None).await;
    for i in 0..200 {
        publish(&hub, data("", &format!("m{i}"))).await;
    }
    assert_eq!(take(&mut a, 200).await, seq("m", 0..200));
    assert_eq!(take(&mut b, 200).await, seq("m", 0..200));
    nothing_more(&mut b).await;
}

/// A subscriber that connects with a cursor while updates are being published gets every update
/// after the cursor exactly once, replayed and live together, in order.
pub async fn history_live_boundary(factory: &Factory) {
    let hub = hub(factory).await;
    let first = publish(&hub, data("", "p0")).await;
    let total = 400;
    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            for i in 1..total {
                publish(&hub, data("", &format!("p{i}"))).await;
                if i % 20 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut subs = Vec::new();
    for _ in 0..8 {
        subs.push(subscribe(&hub, &[TOPIC], Some(&first), None).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if let Err(e) = publisher.await {
        panic!("publisher task failed: {e}");
    }
    for mut s in subs {
        assert_eq!(s.cursor(), Some(first.as_str()));
        assert_eq!(take(&mut s, total - 1).await, seq("p", 1..total));
        nothing_more(&mut s).await;
    }
}

/// Publisher-chosen ids are kept and work as history cursors.
pub async fn custom_ids(factory: &Factory) {
    let hub = hub(factory).await;
    assert_eq!(publish(&hub, data("custom-1", "a")).await, "custom-1");
    assert_eq!(
        publish(&hub, data("urn:example:2", "b")).await,
        "urn:example:2"
    );
    publish(&hub, data("", "c")).await;
    let mut s = subscribe(&hub, &[TOPIC], Some("custom-1"), None).await;
    assert_eq!(s.cursor(), Some("custom-1"));
    assert_eq!(take(&mut s, 2).await, vec!["b", "c"]);
    let mut s = subscribe(&hub, &[TOPIC], Some("urn:example:2"), None).await;
    assert_eq!(take(&mut s, 1).await, vec!["c"]);
    nothing_more(&mut s).await;
}

/// An unknown id replays nothing and answers `earliest`; live updates still flow.
pub async fn unknown_id(factory: &Factory) {
    let hub = hub(factory).await;
    publish(&hub, data("", "old")).await;
    let mut s = subscribe(&hub, &[TOPIC], Some("no-such-id"), None).await;
    assert_eq!(s.cursor(), Some("earliest"));
    publish(&hub, data("", "new")).await;
    assert_eq!(take(&mut s, 1).await, vec!["new"]);
}

/// `earliest` replays everything kept, then live.
pub async fn earliest(factory: &Factory) {
    let hub = hub(factory).await;
    let mut empty = subscribe(&hub, &[TOPIC], Some("earliest"), None).await;
    assert_eq!(empty.cursor(), Some("earliest"));
    for i in 0..5 {
        publish(&hub, data("", &format!("e{i}"))).await;
    }
    assert_eq!(take(&mut empty, 5).await, seq("e", 0..5));
    let mut s = subscribe(&hub, &[TOPIC], Some("earliest"), None).await;
    assert_eq!(s.cursor(), Some("earliest"));
    publish(&hub, data("", "e5")).await;
    assert_eq!(take(&mut s, 6).await, seq("e", 0..6));
    nothing_more(&mut s).await;
}

/// Duplicate ids resolve to the first occurrence.
pub async fn duplicate_ids(factory: &Factory) {
    let hub = hub(factory).await;
    publish(&hub, data("dup", "1")).await;
    publish(&hub, data("", "2")).await;
    publish(&hub, data("dup", "3")).await;
    let mut s = subscribe(&hub, &[TOPIC], Some("dup"), None).await;
    assert_eq!(take(&mut s, 2).await, vec!["2", "3"]);
}

/// Several publishers and subscribers at once: every subscriber gets every update once, and all
/// see the same order, which respects each publisher's own order.
pub async fn concurrent_publishers_and_subscribers(factory: &Factory) {
    let hub = hub(factory).await;
    let publishers = 4;
    let each = 100;
    let mut subs = Vec::new();
    for _ in 0..6 {
        subs.push(subscribe(&hub, &["*"], None, None).await);
    }
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let hub = hub.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                publish(&hub, data("", &format!("{p}:{i}"))).await;
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            panic!("publisher failed: {e}");
        }
    }
    let mut orders = Vec::new();
    for s in subs.iter_mut() {
        orders.push(take(s, publishers * each).await);
    }
    for o in &orders {
        assert_eq!(o, &orders[0], "subscribers disagree on the order");
        for p in 0..publishers {
            let mine: Vec<_> = o
                .iter()
                .filter(|m| m.starts_with(&format!("{p}:")))
                .cloned()
                .collect();
            assert_eq!(
                mine,
                seq(&format!("{p}:"), 0..each),
                "publisher {p} order broken"
            );
        }
    }
}

/// Private updates are replayed only to subscribers holding a matching grant.
pub async fn private_history(factory: &Factory) {
    let hub = hub(factory).await;
    let mut d = data("", "secret");
    d.private = true;
    publish(&hub, d).await;
    publish(&hub, data("", "public")).await;
    let mut anon = subscribe(&hub, &[TOPIC], Some("earliest"), None).await;
    assert_eq!(take(&mut anon, 1).await, vec!["public"]);
    let mut wrong = subscribe(
        &hub,
        &[TOPIC],
        Some("earliest"),
        Some(&["https://example.com/other"]),
    )
    .await;
    assert_eq!(take(&mut wrong, 1).await, vec!["public"]);
    let mut granted = subscribe(
        &hub,
        &[TOPIC],
        Some("earliest"),
        Some(&["https://example.com/{x}"]),
    )
    .await;
    assert_eq!(take(&mut granted, 2).await, vec!["secret", "public"]);
}

/// Generates one `#[tokio::test]` per contract check for a transport. `$factory` is an
/// expression of type `&'static Factory`-compatible closure: `|| Box::pin(async { ... })`.
#[macro_export]
macro_rules! transport_contract_tests {
    ($factory:expr) => {
        $crate::transport_contract_tests!(@one $factory,
            ordering_and_exactly_once, history_live_boundary, custom_ids, unknown_id, earliest,
            duplicate_ids, concurrent_publishers_and_subscribers, private_history);
    };
    (@one $factory:expr, $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let factory = $factory;
                $crate::contract::$name(&factory).await;
            }
        )*
    };
}

#[cfg(test)]
mod local_contract {
    use crate::local::LocalTransport;
    use crate::transport::Transport;
    use std::sync::Arc;

    fn local()
    -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Transport>> + Send>>
    {
        || Box::pin(async { Arc::new(LocalTransport::new(10_000)) as Arc<dyn Transport> })
    }

    crate::transport_contract_tests!(local());
}
