//! The cluster contract: several real `quicksilver` processes sharing one broker behave as one
//! hub. Each check is a function of a [`Backend`]; `cluster_tests!` instantiates it for Redis,
//! Valkey and a Redis Cluster (a later transport adds one line per check there).
//!
//! - cross-node delivery: exactly once, in order, the same order on every node, also with
//!   publishers on several nodes at once;
//! - custom event ids and history across nodes;
//! - presence across nodes: the subscriptions API and subscription events, a node that joins
//!   later, a node killed with SIGKILL (its subscriptions vanish within the presence timeout,
//!   one `active: false` each, cluster-wide);
//! - the broker killed in the middle of a publish stream (a private broker): 503 with
//!   `Retry-After` while it is down, readiness failing then recovering, nothing that got a 200
//!   lost.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::cluster_harness::*;
use crate::common::*;

/// The selector that grants (and subscribes to) every subscription event and API URL.
const PRESENCE: &str = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
/// How long a test waits for something that should happen promptly.
const T: Duration = Duration::from_secs(15);

/// Publishes with one reused HTTP client (a test publishes hundreds of updates).
#[derive(Clone)]
struct Publisher {
    http: reqwest::Client,
    token: String,
}

/// The answer to one publish.
struct Published {
    status: u16,
    body: String,
    retry_after: Option<String>,
}

impl Publisher {
    fn new() -> Publisher {
        Publisher {
            http: client(),
            token: publisher(),
        }
    }

    async fn try_publish(&self, hub: &Hub, fields: &[(&str, &str)]) -> Result<Published, String> {
        let r = self
            .http
            .post(hub.hub_url())
            .header("Authorization", bearer(&self.token))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let retry_after = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.text().await.map_err(|e| e.to_string())?;
        Ok(Published {
            status,
            body,
            retry_after,
        })
    }

    /// Publishes and expects 200; returns the event id.
    async fn publish(&self, hub: &Hub, topic: &str, data: &str, id: Option<&str>) -> String {
        let mut fields = vec![("topic", topic), ("data", data)];
        if let Some(id) = id {
            fields.push(("id", id));
        }
        let p = self
            .try_publish(hub, &fields)
            .await
            .unwrap_or_else(|e| panic!("publishing {data:?}: {e}"));
        assert_eq!(p.status, 200, "publishing {data:?}: {}", p.body);
        p.body
    }

    /// Publishes until a 200 (503s and refused connections are retried for `within`); returns
    /// the event id and how many attempts failed.
    async fn publish_retrying(
        &self,
        hub: &Hub,
        topic: &str,
        data: &str,
        within: Duration,
    ) -> (String, usize) {
        let deadline = Instant::now() + within;
        let mut failures = 0;
        loop {
            match self
                .try_publish(hub, &[("topic", topic), ("data", data)])
                .await
            {
                Ok(p) if p.status == 200 => return (p.body, failures),
                Ok(p) if p.status == 503 => {}
                Ok(p) => panic!("publishing {data:?}: unexpected {} {}", p.status, p.body),
                Err(_) => {}
            }
            failures += 1;
            assert!(
                Instant::now() < deadline,
                "publishing {data:?}: no 200 within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A topic of this cluster's own (the stream is per test anyway; this keeps logs readable).
fn topic_of(c: &Cluster, what: &str) -> String {
    format!("https://example.com/{}/{what}", c.stream)
}

/// One SSE event: its id and its (reassembled) data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    id: String,
    data: String,
}

fn parse(event: &str) -> Event {
    let mut id = String::new();
    let mut data = Vec::new();
    for line in event.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v);
        }
    }
    Event {
        id,
        data: data.join("\n"),
    }
}

fn events_of(sse: &Sse) -> Vec<Event> {
    sse.complete_events().iter().map(|e| parse(e)).collect()
}

/// Reads until `sse` holds `n` complete events (panics after `within`), then returns them all.
async fn read_events(sse: &mut Sse, n: usize, within: Duration, what: &str) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = events_of(sse);
        if got.len() >= n {
            return got;
        }
        assert!(
            !sse.ended && tokio::time::Instant::now() < deadline,
            "{what}: {} of {n} events within {within:?} (stream ended: {}, error: {:?})",
            got.len(),
            sse.ended,
            sse.error
        );
        sse.drain_for(Duration::from_millis(50)).await;
    }
}

/// Asserts that nothing more than `n` events arrives within `d`.
async fn assert_no_more(sse: &mut Sse, n: usize, d: Duration, what: &str) {
    sse.drain_for(d).await;
    let got = events_of(sse);
    assert_eq!(
        got.len(),
        n,
        "{what}: extra events {:?}",
        &got[n.min(got.len())..]
    );
}

fn no_duplicate_ids(events: &[Event], what: &str) {
    let mut seen = HashSet::new();
    for e in events {
        assert!(
            seen.insert(e.id.as_str()),
            "{what}: id {} delivered twice",
            e.id
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery.

/// 200 updates published on node A reach a subscriber on every node, all of them, once each,
/// in publish order.
async fn cross_node_delivery(b: Backend) {
    let c = Cluster::start(3, &b).await;
    let topic = topic_of(&c, "delivery");
    let mut subs = Vec::new();
    for i in 0..3 {
        subs.push(Sse::subscribe(c.node(i), &[&topic], None).await);
    }
    let p = Publisher::new();
    let mut ids = Vec::new();
    for k in 0..200 {
        ids.push(p.publish(c.node(0), &topic, &format!("u{k}"), None).await);
    }
    let data: Vec<String> = (0..200).map(|k| format!("u{k}")).collect();
    for (i, s) in subs.iter_mut().enumerate() {
        let what = format!("{}: subscriber on node {i}", b.name);
        let got = read_events(s, 200, T, &what).await;
        assert_eq!(
            got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
            ids,
            "{what}"
        );
        assert_eq!(
            got.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
            data,
            "{what}"
        );
        assert_no_more(s, 200, Duration::from_millis(300), &what).await;
    }
}

/// Three nodes publishing 100 updates each at the same time: every subscriber on every node
/// receives all 300 once, every node delivers the same sequence, and each publisher's own
/// order is kept.
async fn concurrent_publishers(b: Backend) {
    let c = Cluster::start(3, &b).await;
    let topic = topic_of(&c, "concurrent");
    let mut subs = Vec::new();
    for i in 0..3 {
        subs.push(Sse::subscribe(c.node(i), &[&topic], None).await);
    }
    let p = Publisher::new();
    let per_node = futures::future::join_all((0..3).map(|n| {
        let (p, c, topic) = (&p, &c, &topic);
        async move {
            let mut ids = Vec::new();
            for k in 0..100 {
                ids.push(
                    p.publish(c.node(n), topic, &format!("n{n}-{k}"), None)
                        .await,
                );
            }
            ids
        }
    }))
    .await;
    let all: HashSet<&String> = per_node.iter().flatten().collect();
    assert_eq!(all.len(), 300, "{}: generated ids are unique", b.name);

    let mut sequences = Vec::new();
    for (i, s) in subs.iter_mut().enumerate() {
        let what = format!("{}: subscriber on node {i}", b.name);
        let got = read_events(s, 300, T, &what).await;
        assert_no_more(s, 300, Duration::from_millis(300), &what).await;
        no_duplicate_ids(&got, &what);
        let ids: Vec<String> = got.iter().map(|e| e.id.clone()).collect();
        assert_eq!(
            ids.iter().collect::<HashSet<_>>(),
            all,
            "{what}: the set of updates"
        );
        for (n, published) in per_node.iter().enumerate() {
            let theirs: HashSet<&String> = published.iter().collect();
            let order: Vec<&String> = ids.iter().filter(|id| theirs.contains(id)).collect();
            assert_eq!(
                order,
                published.iter().collect::<Vec<_>>(),
                "{what}: the order of node {n}'s publications"
            );
            // The data follows its id.
            for e in got.iter().filter(|e| theirs.contains(&e.id)) {
                assert!(e.data.starts_with(&format!("n{n}-")), "{what}: {e:?}");
            }
        }
        sequences.push(ids);
    }
    assert_eq!(
        sequences[0], sequences[1],
        "{}: nodes 0 and 1 deliver different sequences",
        b.name
    );
    assert_eq!(
        sequences[0], sequences[2],
        "{}: nodes 0 and 2 deliver different sequences",
        b.name
    );
}

// ---------------------------------------------------------------------------------------------
// Event ids and history.

/// Publisher-chosen ids published on A are history cursors on B.
async fn custom_ids_across_nodes(b: Backend) {
    let c = Cluster::start(2, &b).await;
    let topic = topic_of(&c, "custom");
    let p = Publisher::new();
    for k in 1..=5 {
        let id = format!("custom-{k}");
        assert_eq!(
            p.publish(c.node(0), &topic, &format!("c{k}"), Some(&id))
                .await,
            id
        );
    }
    let mut s = Sse::open(
        c.node(1),
        &topics_query(&[&topic]),
        &[("Last-Event-ID", "custom-2")],
    )
    .await;
    assert_eq!(s.status, 200, "{}: {}", b.name, s.text());
    assert_eq!(s.header("last-event-id"), "custom-2", "{}", b.name);
    let what = format!("{}: history on node 1 after custom-2", b.name);
    let got = read_events(&mut s, 3, T, &what).await;
    assert_eq!(
        got,
        (3..=5)
            .map(|k| Event {
                id: format!("custom-{k}"),
                data: format!("c{k}")
            })
            .collect::<Vec<_>>(),
        "{what}"
    );
    // Then live, still from A.
    p.publish(c.node(0), &topic, "c6", Some("custom-6")).await;
    let got = read_events(&mut s, 4, T, &what).await;
    assert_eq!(got[3].id, "custom-6", "{what}");
    assert_no_more(&mut s, 4, Duration::from_millis(300), &what).await;

    // The query parameter works the same way, on a third node that joined later.
    let mut c = c;
    let late = c.add_node().await;
    let mut s = Sse::open(
        c.node(late),
        &format!("{}&lastEventID=custom-4", topics_query(&[&topic])),
        &[],
    )
    .await;
    assert_eq!(s.header("last-event-id"), "custom-4", "{}", b.name);
    let got = read_events(&mut s, 2, T, "late node").await;
    assert_eq!(
        got.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["custom-5", "custom-6"],
        "{}",
        b.name
    );
}

/// What A published is history on B: `earliest` replays it all, a generated id resumes after
/// itself, and the replay joins the live stream without gap or duplicate.
async fn history_across_nodes(b: Backend) {
    let c = Cluster::start(2, &b).await;
    let topic = topic_of(&c, "history");
    let other = topic_of(&c, "other");
    let p = Publisher::new();
    let mut ids = Vec::new();
    for k in 0..10 {
        ids.push(p.publish(c.node(0), &topic, &format!("h{k}"), None).await);
        // Another topic in between: history filters by topic.
        p.publish(c.node(0), &other, "x", None).await;
    }
    let mut s = Sse::open(
        c.node(1),
        &format!("{}&lastEventID=earliest", topics_query(&[&topic])),
        &[],
    )
    .await;
    assert_eq!(s.status, 200, "{}", b.name);
    let what = format!("{}: earliest on node 1", b.name);
    let got = read_events(&mut s, 10, T, &what).await;
    assert_eq!(
        got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids,
        "{what}"
    );
    assert_eq!(got[0].data, "h0", "{what}");

    let mut from5 = Sse::open(
        c.node(1),
        &topics_query(&[&topic]),
        &[("Last-Event-ID", &ids[4])],
    )
    .await;
    assert_eq!(from5.header("last-event-id"), ids[4], "{}", b.name);
    let what5 = format!("{}: after the 5th id on node 1", b.name);
    let got5 = read_events(&mut from5, 5, T, &what5).await;
    assert_eq!(
        got5.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids[5..],
        "{what5}"
    );

    // Live updates, published on either node, follow the replay.
    let live_a = p.publish(c.node(0), &topic, "live-a", None).await;
    let live_b = p.publish(c.node(1), &topic, "live-b", None).await;
    let got = read_events(&mut s, 12, T, &what).await;
    assert_eq!(
        (got[10].id.as_str(), got[11].id.as_str()),
        (live_a.as_str(), live_b.as_str()),
        "{what}"
    );
    assert_no_more(&mut s, 12, Duration::from_millis(300), &what).await;
    let got5 = read_events(&mut from5, 7, T, &what5).await;
    assert_eq!(got5[5].id, live_a, "{what5}");
    assert_eq!(got5[6].id, live_b, "{what5}");
    no_duplicate_ids(&got5, &what5);
}

// ---------------------------------------------------------------------------------------------
// Presence.

fn presence_token() -> String {
    token(None, Some(&[PRESENCE]))
}

/// A subscription event or API entry: (subscriber, topic, active).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Presence {
    subscriber: String,
    topic: String,
    active: bool,
}

fn presence_of(doc: &serde_json::Value) -> Presence {
    Presence {
        subscriber: doc["subscriber"].as_str().unwrap_or_default().to_string(),
        topic: doc["topic"].as_str().unwrap_or_default().to_string(),
        active: doc["active"].as_bool().unwrap_or_default(),
    }
}

/// The subscription events a watcher received so far.
fn presence_events(w: &Sse) -> Vec<Presence> {
    events_of(w)
        .iter()
        .map(|e| {
            let doc: serde_json::Value = serde_json::from_str(&e.data)
                .unwrap_or_else(|err| panic!("subscription event not JSON ({err}): {e:?}"));
            presence_of(&doc)
        })
        .collect()
}

/// Reads the watcher until `pred` holds for its events (panics after `within`).
async fn watch_until(
    w: &mut Sse,
    within: Duration,
    what: &str,
    pred: impl Fn(&[Presence]) -> bool,
) -> Vec<Presence> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = presence_events(w);
        if pred(&got) {
            return got;
        }
        assert!(
            !w.ended && tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}; events: {got:#?}"
        );
        w.drain_for(Duration::from_millis(50)).await;
    }
}

/// The subscriptions the API of `hub` lists (all topics).
async fn api_list(hub: &Hub) -> Vec<Presence> {
    let r = client()
        .get(hub.url("/.well-known/mercure/subscriptions"))
        .header("Authorization", bearer(&presence_token()))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("subscriptions API request");
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "subscriptions API: {body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("subscriptions API JSON");
    doc["subscriptions"]
        .as_array()
        .expect("a subscriptions array")
        .iter()
        .map(presence_of)
        .collect()
}

/// Polls the API of `hub` until `pred` holds for the entries of `topics` (panics after `within`).
async fn api_until(
    hub: &Hub,
    topics: &[&str],
    within: Duration,
    what: &str,
    pred: impl Fn(&[Presence]) -> bool,
) -> Vec<Presence> {
    let deadline = Instant::now() + within;
    loop {
        let list: Vec<Presence> = api_list(hub)
            .await
            .into_iter()
            .filter(|p| topics.contains(&p.topic.as_str()))
            .collect();
        if pred(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; listed: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A subscriber on A is listed by B's API and by a node that starts later; a watcher on B gets
/// its `active: true` and, when it leaves, its `active: false`, which every API then reflects.
async fn presence_across_nodes(b: Backend) {
    let mut c = Cluster::start(2, &b).await;
    let topic = topic_of(&c, "presence");
    let mut w = Sse::subscribe(c.node(1), &[PRESENCE], Some(&presence_token())).await;

    let sub = Sse::subscribe(c.node(0), &[&topic], None).await;
    let what = format!("{}: watcher on node 1", b.name);
    let got = watch_until(&mut w, T, &what, |e| e.iter().any(|p| p.topic == topic)).await;
    let joined: Vec<&Presence> = got.iter().filter(|p| p.topic == topic).collect();
    assert_eq!(joined.len(), 1, "{what}: {got:#?}");
    assert!(joined[0].active, "{what}: {got:#?}");
    let subscriber = joined[0].subscriber.clone();
    assert!(subscriber.starts_with("urn:uuid:"), "{subscriber}");

    let listed = api_until(c.node(1), &[&topic], T, "API on node 1", |l| !l.is_empty()).await;
    assert_eq!(
        listed,
        [Presence {
            subscriber: subscriber.clone(),
            topic: topic.clone(),
            active: true
        }],
        "{}: API on node 1",
        b.name
    );
    // The watcher itself, on node 1, is listed by node 0.
    let on_a = api_list(c.node(0)).await;
    assert!(
        on_a.iter().any(|p| p.topic == PRESENCE),
        "{}: API on node 0: {on_a:#?}",
        b.name
    );

    // A node that starts later sees it at once.
    let late = c.add_node().await;
    let listed = api_list(c.node(late)).await;
    assert!(
        listed
            .iter()
            .any(|p| p.topic == topic && p.subscriber == subscriber),
        "{}: API on the late node: {listed:#?}",
        b.name
    );

    // It leaves: one `active: false`, on the watcher of the other node, and gone everywhere.
    drop(sub);
    let got = watch_until(&mut w, T, &what, |e| {
        e.iter().any(|p| p.topic == topic && !p.active)
    })
    .await;
    let left: Vec<&Presence> = got
        .iter()
        .filter(|p| p.topic == topic && !p.active)
        .collect();
    assert_eq!(left.len(), 1, "{what}: {got:#?}");
    assert_eq!(left[0].subscriber, subscriber, "{what}");
    for i in c.alive() {
        api_until(
            c.node(i),
            &[&topic],
            T,
            &format!("{}: API on node {i}", b.name),
            |l| l.is_empty(),
        )
        .await;
    }
    w.drain_for(Duration::from_millis(300)).await;
    let n = presence_events(&w)
        .iter()
        .filter(|p| p.topic == topic)
        .count();
    assert_eq!(
        n,
        2,
        "{what}: exactly one event each way: {:#?}",
        presence_events(&w)
    );
}

/// `kill -9` of a node: within the presence timeout (+ margin) its subscriptions vanish from
/// the other nodes' APIs, and one `active: false` per subscription reaches every watcher, even
/// though the two surviving nodes both reap.
async fn sigkill_of_a_node(b: Backend) {
    let mut c = Cluster::start(3, &b).await;
    let topics = [topic_of(&c, "k1"), topic_of(&c, "k2"), topic_of(&c, "k3")];
    let t: Vec<&str> = topics.iter().map(String::as_str).collect();
    let mut watchers = [
        Sse::subscribe(c.node(1), &[PRESENCE], Some(&presence_token())).await,
        Sse::subscribe(c.node(2), &[PRESENCE], Some(&presence_token())).await,
    ];
    // Three subscriptions on A: one subscriber with two topics, another with one.
    let s1 = Sse::subscribe(c.node(0), &[t[0], t[1]], None).await;
    let s2 = Sse::subscribe(c.node(0), &[t[2]], None).await;
    let mut on_a = HashSet::new();
    for (i, w) in watchers.iter_mut().enumerate() {
        let got = watch_until(w, T, &format!("{}: watcher {i}", b.name), |e| {
            e.iter()
                .filter(|p| t.contains(&p.topic.as_str()) && p.active)
                .count()
                == 3
        })
        .await;
        let seen: HashSet<(String, String)> = got
            .into_iter()
            .filter(|p| t.contains(&p.topic.as_str()))
            .map(|p| (p.subscriber, p.topic))
            .collect();
        assert!(
            i == 0 || seen == on_a,
            "{}: the watchers saw different subscriptions",
            b.name
        );
        on_a = seen;
    }
    assert_eq!(on_a.len(), 3, "{}", b.name);
    api_until(c.node(1), &t, T, "API on node 1 before the kill", |l| {
        l.len() == 3
    })
    .await;

    c.kill(0);
    let killed = Instant::now();
    let margin = PRESENCE_TIMEOUT * 5; // 2 s timeout: gone within 10 s
    for i in [1, 2] {
        api_until(
            c.node(i),
            &t,
            margin.saturating_sub(killed.elapsed()),
            &format!("{}: API on node {i} after kill -9 of node 0", b.name),
            |l| l.is_empty(),
        )
        .await;
    }
    let gone_after = killed.elapsed();
    assert!(gone_after <= margin, "{}: took {gone_after:?}", b.name);

    for (i, w) in watchers.iter_mut().enumerate() {
        let what = format!("{}: watcher {i} after kill -9 of node 0", b.name);
        watch_until(w, margin, &what, |e| {
            e.iter()
                .filter(|p| t.contains(&p.topic.as_str()) && !p.active)
                .count()
                >= 3
        })
        .await;
    }
    // Both survivors went through several reaping rounds meanwhile; wait a few more, then count.
    tokio::time::sleep(PRESENCE_TIMEOUT).await;
    for (i, w) in watchers.iter_mut().enumerate() {
        w.drain_for(Duration::from_millis(200)).await;
        let what = format!("{}: watcher {i} after kill -9 of node 0", b.name);
        let mut count: HashMap<(String, String), usize> = HashMap::new();
        for p in presence_events(w)
            .into_iter()
            .filter(|p| t.contains(&p.topic.as_str()) && !p.active)
        {
            *count.entry((p.subscriber, p.topic)).or_default() += 1;
        }
        let expected: HashMap<(String, String), usize> =
            on_a.iter().cloned().map(|k| (k, 1)).collect();
        assert_eq!(
            count, expected,
            "{what}: exactly one active:false per killed subscription"
        );
    }
    drop((s1, s2));

    // The killed node comes back on its port and is a full member again.
    c.restart(0).await;
    let back = topic_of(&c, "back");
    let mut s = Sse::subscribe(c.node(0), &[&back], None).await;
    api_until(
        c.node(1),
        &[&back],
        T,
        "API on node 1 after the restart",
        |l| l.len() == 1,
    )
    .await;
    let id = Publisher::new()
        .publish(c.node(2), &back, "again", None)
        .await;
    let got = read_events(&mut s, 1, T, "subscriber on the restarted node").await;
    assert_eq!(got[0].id, id, "{}", b.name);
}

// ---------------------------------------------------------------------------------------------
// The broker fails (a private broker: the shared ones are never touched).

/// Polls `/health/ready` of `hub` until it answers `want`.
async fn ready_becomes(hub: &Hub, want: u16, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let s = ready_status(hub).await;
        if s == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /health/ready not {want} within {within:?} (last {s:?})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The broker is SIGKILLed in the middle of a publish stream and restarted on the same port and
/// data: the publisher retries its 503s, readiness fails then recovers by itself, and a
/// subscriber on the other node (reconnecting with its last id if its stream ended) ends up with
/// every update that got a 200, in order, once.
async fn broker_restart_mid_stream(b: Backend) {
    let mut broker = b.own_broker();
    let ob = broker.backend();
    let c = Cluster::start(2, &ob).await;
    let topic = topic_of(&c, "restart");
    let mut sub = Sse::subscribe(c.node(1), &[&topic], None).await;
    // One on the publishing node too.
    let mut local = Sse::subscribe(c.node(0), &[&topic], None).await;
    let p = Publisher::new();

    const BEFORE: usize = 20;
    const TOTAL: usize = 60;
    let mut published: Vec<String> = Vec::new();
    for k in 0..BEFORE {
        published.push(p.publish(c.node(0), &topic, &format!("r{k}"), None).await);
    }
    // What a client that drops out during the outage last saw.
    let seen = read_events(
        &mut sub,
        BEFORE,
        T,
        "subscriber on node 1 before the outage",
    )
    .await;
    let last_seen = seen[BEFORE - 1].id.clone();

    broker.kill();
    let killed = Instant::now();
    // Publishing goes on (retrying) while the test watches readiness and restarts the broker.
    let publishing = async {
        let mut ids = Vec::new();
        let mut failures = 0;
        for k in BEFORE..TOTAL {
            let (id, f) = p
                .publish_retrying(c.node(0), &topic, &format!("r{k}"), T)
                .await;
            ids.push(id);
            failures += f;
        }
        (ids, failures)
    };
    let outage = async {
        ready_becomes(
            c.node(0),
            503,
            Duration::from_secs(10),
            "node 0 during the outage",
        )
        .await;
        ready_becomes(
            c.node(1),
            503,
            Duration::from_secs(10),
            "node 1 during the outage",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        broker.restart();
        let restarted = killed.elapsed();
        ready_becomes(c.node(0), 200, T, "node 0 after the restart").await;
        ready_becomes(c.node(1), 200, T, "node 1 after the restart").await;
        restarted
    };
    let ((after, failures), restarted_after) = futures::future::join(publishing, outage).await;
    assert!(
        failures > 0,
        "{}: no publish failed during a {restarted_after:?} outage",
        b.name
    );
    published.extend(after);

    // The subscriber: everything that got a 200, in order, once; a reconnection resumes from
    // the last id it received.
    let what = format!("{}: subscriber on node 1", b.name);
    let wanted: HashSet<&String> = published.iter().collect();
    let mut received: Vec<Event> = Vec::new();
    let mut reconnections = 0;
    let deadline = Instant::now() + T;
    loop {
        sub.drain_for(Duration::from_millis(100)).await;
        let mut all = received.clone();
        all.extend(events_of(&sub));
        if wanted.iter().all(|id| all.iter().any(|e| &&e.id == id)) {
            received = all;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: missing {:?} (received {} events, {reconnections} reconnections)",
            published
                .iter()
                .filter(|id| !all.iter().any(|e| &&e.id == id))
                .collect::<Vec<_>>(),
            all.len()
        );
        if sub.ended {
            received = all;
            let last = received
                .last()
                .map(|e| e.id.clone())
                .unwrap_or_else(|| "earliest".into());
            reconnections += 1;
            sub = Sse::open(
                c.node(1),
                &topics_query(&[&topic]),
                &[("Last-Event-ID", &last)],
            )
            .await;
            if sub.status != 200 {
                sub.ended = true;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    no_duplicate_ids(&received, &what);
    let order: Vec<&String> = received
        .iter()
        .map(|e| &e.id)
        .filter(|id| wanted.contains(id))
        .collect();
    assert_eq!(order, published.iter().collect::<Vec<_>>(), "{what}: order");
    // The data of every 200 is there (retried publications may add a duplicate *payload* under
    // another id when a 503 answered a write that Redis had taken: that is not a lost update).
    for (k, id) in published.iter().enumerate() {
        let e = received.iter().find(|e| &e.id == id).expect("received");
        assert_eq!(e.data, format!("r{k}"), "{what}");
    }
    // The subscriber on the publishing node got the same sequence (if its stream ended, what
    // it got is a prefix of it).
    if !local.ended {
        let got = read_events(&mut local, received.len(), T, "subscriber on node 0").await;
        assert_eq!(
            got, received,
            "{}: nodes 0 and 1 delivered different sequences",
            b.name
        );
    } else {
        let got = events_of(&local);
        assert_eq!(
            got[..],
            received[..got.len()],
            "{}: node 0's stream is not a prefix of node 1's",
            b.name
        );
    }
    // The broker kept what it acknowledged (AOF, fsync always): history has all of it.
    let mut h = Sse::open(
        c.node(0),
        &format!("{}&lastEventID=earliest", topics_query(&[&topic])),
        &[],
    )
    .await;
    let hist = read_events(&mut h, received.len(), T, "history after the restart").await;
    assert_eq!(hist, received, "{}: history after the restart", b.name);
    // A client that left during the outage comes back with its last id: nothing is missing.
    let mut back = Sse::open(
        c.node(1),
        &topics_query(&[&topic]),
        &[("Last-Event-ID", &last_seen)],
    )
    .await;
    assert_eq!(back.header("last-event-id"), last_seen, "{}", b.name);
    let got = read_events(
        &mut back,
        received.len() - BEFORE,
        T,
        "client back after the outage",
    )
    .await;
    assert_eq!(
        got[..],
        received[BEFORE..],
        "{}: client back after the outage",
        b.name
    );
    drop(c);
    drop(broker);
}

/// While the broker is down, publishing answers 503 with `Retry-After` and a reason; after it
/// comes back, every update that got a 200 is in the history, and none of the refused ones
/// (they were sent while the broker was already dead, so no write can have reached it).
async fn unavailable_log_503(b: Backend) {
    let mut broker = b.own_broker();
    let ob = broker.backend();
    let c = Cluster::start(2, &ob).await;
    let topic = topic_of(&c, "unavailable");
    let p = Publisher::new();
    let mut ok = Vec::new();
    for k in 0..5 {
        ok.push(
            p.publish(
                c.node(k % 2),
                &topic,
                &format!("ok{k}"),
                Some(&format!("ok-{k}")),
            )
            .await,
        );
    }

    broker.kill();
    let mut refused = Vec::new();
    for (k, node) in [0, 1, 0].into_iter().enumerate() {
        let id = format!("refused-{k}");
        let started = Instant::now();
        let r = p
            .try_publish(
                c.node(node),
                &[("topic", &topic), ("data", "no"), ("id", &id)],
            )
            .await
            .unwrap_or_else(|e| panic!("{}: publish during the outage: {e}", b.name));
        assert_eq!(
            r.status, 503,
            "{}: publish on node {node} with the broker down: {}",
            b.name, r.body
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}: the 503 took {:?}",
            b.name,
            started.elapsed()
        );
        assert!(
            r.retry_after.is_some(),
            "{}: 503 without Retry-After",
            b.name
        );
        assert!(
            r.body.to_lowercase().contains("unavailable"),
            "{}: no reason: {:?}",
            b.name,
            r.body
        );
        refused.push(id);
    }
    ready_becomes(
        c.node(0),
        503,
        Duration::from_secs(10),
        "node 0 with the broker down",
    )
    .await;

    // Reads of shared state fail the same way, with a status rather than a hang.
    let started = Instant::now();
    let r = client()
        .get(c.node(1).url("/.well-known/mercure/subscriptions"))
        .header("Authorization", bearer(&presence_token()))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("subscriptions API during the outage");
    assert_eq!(
        r.status().as_u16(),
        503,
        "{}: subscriptions API with the broker down",
        b.name
    );
    assert!(
        r.headers().contains_key("retry-after"),
        "{}: no Retry-After",
        b.name
    );
    let r = client()
        .get(format!(
            "{}?{}",
            c.node(1).hub_url(),
            topics_query(&[&topic])
        ))
        .header("Last-Event-ID", "ok-0")
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("subscribing with history during the outage");
    assert_eq!(
        r.status().as_u16(),
        503,
        "{}: history with the broker down",
        b.name
    );
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{}: took {:?}",
        b.name,
        started.elapsed()
    );
    // A subscriber without history can connect meanwhile; it is served and listed afterwards.
    let mut during = Sse::subscribe(c.node(1), &[&topic], None).await;

    broker.restart();
    ready_becomes(c.node(0), 200, T, "node 0 after the restart").await;
    ready_becomes(c.node(1), 200, T, "node 1 after the restart").await;
    for k in 5..10 {
        let (id, _) = p
            .publish_retrying(
                c.node(k % 2),
                &topic,
                &format!("ok{k}"),
                Duration::from_secs(10),
            )
            .await;
        ok.push(id);
    }

    let mut s = Sse::open(
        c.node(1),
        &format!("{}&lastEventID=earliest", topics_query(&[&topic])),
        &[],
    )
    .await;
    let what = format!("{}: history after the restart", b.name);
    let got = read_events(&mut s, 10, T, &what).await;
    assert_no_more(&mut s, 10, Duration::from_millis(500), &what).await;
    assert_eq!(
        got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ok,
        "{what}"
    );
    for id in &refused {
        assert!(
            !got.iter().any(|e| &e.id == id),
            "{what}: {id} was refused but published"
        );
    }
    drop(s);
    let what = format!("{}: subscriber that connected during the outage", b.name);
    let got = read_events(&mut during, 5, T, &what).await;
    assert_eq!(
        got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ok[5..],
        "{what}"
    );
    api_until(c.node(0), &[&topic], T, &what, |l| l.len() == 1).await;
    drop(c);
    drop(broker);
}

// ---------------------------------------------------------------------------------------------

/// One `#[tokio::test]` per (check, backend): `cluster::<check>::<backend>`.
macro_rules! cluster_tests {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                use crate::cluster_harness::Backend;

                #[tokio::test]
                async fn redis() {
                    super::$check(Backend::redis()).await
                }

                #[tokio::test]
                async fn valkey() {
                    super::$check(Backend::valkey()).await
                }

                #[tokio::test]
                async fn redis_cluster() {
                    super::$check(Backend::redis_cluster()).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$check(Backend::postgres()).await
                }
            }
        )*
    };
}

cluster_tests!(
    cross_node_delivery,
    concurrent_publishers,
    custom_ids_across_nodes,
    history_across_nodes,
    presence_across_nodes,
    sigkill_of_a_node,
    broker_restart_mid_stream,
    unavailable_log_503,
);

/// The harness cleans up after itself: no key of a test's stream is left on the broker.
#[tokio::test]
async fn harness_removes_the_stream_keys() {
    for (b, cluster) in [(Backend::redis(), false), (Backend::redis_cluster(), true)] {
        let urls: Vec<String> = b.needs.iter().map(|a| format!("redis://{a}")).collect();
        let c = Cluster::start(1, &b).await;
        let stream = c.stream.clone();
        let sub = Sse::subscribe(c.node(0), &[&topic_of(&c, "x")], None).await;
        Publisher::new()
            .publish(c.node(0), &topic_of(&c, "x"), "x", Some("x"))
            .await;
        assert!(
            !redis_keys(&urls, cluster, &stream).is_empty(),
            "{}: no keys while running",
            b.name
        );
        drop(sub);
        drop(c);
        assert_eq!(
            redis_keys(&urls, cluster, &stream),
            Vec::<String>::new(),
            "{}: keys left",
            b.name
        );
    }
}
