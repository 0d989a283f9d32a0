//! Draft-08 (Mercure 1.0) across nodes: real hub processes in `protocol draft-08` mode sharing
//! one broker (the multi-node harness of `cluster_harness.rs`), on the Redis and the PostgreSQL
//! transports. Each check is a function of a [`Backend`]; `draft08_cluster_tests!` runs it on
//! both.
//!
//! - delivery: `match_urlpattern` subscribers on node B receive, in publish order and with
//!   every field (`event`, `retry`, multi-line data), what node A published; a private update
//!   reaches one only when a subscribe grant of its token matches one of the update's topics;
//! - presence: B's subscriptions are draft-08 subscription events (`event: mercure`, the JSON
//!   document with `match`, `match_type`, `payload`) on a watcher of A; A's subscriptions API
//!   (collection, per-matcher collections, single documents) lists them with the payload of the
//!   token's first matching subscribe detail, and names the last event in `ETag`/`Link`, from
//!   which a watcher on B follows; their end is an `active: false` on A, after which A's API no
//!   longer lists them; B killed with SIGKILL: the same `active: false` documents, from A;
//! - history: `Last-Event-ID` on B replays what A published (private updates re-authorized, a
//!   duplicate id resolved to its first occurrence), `Mercure-Last-Event-ID` answers the
//!   requested id (`earliest` for an unknown one), also for subscribers resuming while A keeps
//!   publishing (no gap, no duplicate).
//!
//! Every node runs with the same `resource_identifier`, as nodes behind one load balancer do, so
//! that one token is valid on all of them; the keys come from the environment (issuer
//! `https://localhost`), as in the single-node draft-08 tests.

use std::time::Duration;

use quicksilver_auth::{AccessMintOptions, Grant};
use serde_json::{Value, json};

use crate::cluster_harness::*;
use crate::common::*;
use crate::draft08_common::{ISS, ex, mint08, pub08, q, seg, sub08, sub08_with, up, with_payload};

/// The audience of every token: the resource identifier every node is configured with.
const RID: &str = "https://hub.example.com/.well-known/mercure";
/// The subscriptions API (and the prefix of the subscription event topics).
const API: &str = "/.well-known/mercure/subscriptions";
/// Selects every subscription event (and, as a grant, every single-subscription API URL).
const PRESENCE: &str = "/.well-known/mercure/subscriptions/:match_type/:match/:subscriber";
/// How long a test waits for something that should happen promptly (other processes and a
/// broker in between, tests running in parallel on two cores).
const W: Duration = Duration::from_secs(15);

/// `n` draft-08 nodes with the subscriptions API, sharing the backend.
async fn start(n: usize, b: &Backend) -> Cluster {
    Cluster::start_with(
        n,
        b,
        &format!("protocol draft-08\nresource_identifier {RID}\nsubscriptions"),
    )
    .await
}

/// Topics of this cluster's own (the stream is unique per test; this keeps logs readable).
fn base(c: &Cluster) -> String {
    format!("https://example.com/{}", c.stream)
}

/// A valid access token of every node granting `publish` and `subscribe`.
fn token(publish: &[Grant], subscribe: &[Grant]) -> String {
    mint08(&AccessMintOptions {
        key: SECRET.into(),
        alg: "HS256".into(),
        issuer: ISS.into(),
        audience: vec![RID.into()],
        ttl: Some(Duration::from_secs(3600)),
        publish: publish.to_vec(),
        subscribe: subscribe.to_vec(),
        ..Default::default()
    })
}

/// A publisher of every topic.
fn publisher() -> String {
    token(&[ex("*")], &[])
}

/// Publishes on `hub`, expects 200 and returns the id.
async fn publish(hub: &Hub, token: &str, fields: &[(&str, &str)]) -> String {
    let r = pub08(hub, token, fields).await;
    assert_eq!(r.status, 200, "publish refused: {:?} {fields:?}", r.body);
    r.body
}

/// Reads `sse` until it holds the complete event with `id` (panics after [`W`]); returns the
/// ids received so far.
async fn ids_until(sse: &mut Sse, id: &str, what: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + W;
    loop {
        let ids = sse.ids();
        if ids.iter().any(|i| i == id) {
            return ids;
        }
        assert!(
            !sse.ended && tokio::time::Instant::now() < deadline,
            "{what}: no event {id} within {W:?} (ended: {}, error: {:?}); got {:?}",
            sse.ended,
            sse.error,
            sse.text()
        );
        sse.drain_for(Duration::from_millis(50)).await;
    }
}

/// (SSE event type, id, reassembled data) of a raw event.
fn parse(event: &str) -> (String, String, String) {
    let (mut ty, mut id, mut data) = (String::new(), String::new(), Vec::new());
    for line in event.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            ty = v.to_string();
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v);
        } else {
            panic!("unexpected line {line:?} in {event:?}");
        }
    }
    (ty, id, data.join("\n"))
}

// ---------------------------------------------------------------------------------------------
// Delivery.

/// One publication of the delivery check.
struct Publication {
    id: String,
    topics: Vec<String>,
    private: bool,
    event_type: Option<String>,
    retry: Option<String>,
    data: String,
}

impl Publication {
    /// The event as a subscriber receives it (fields in the reference's order), as
    /// [`Sse::complete_events`] shows it.
    fn event(&self) -> String {
        let mut lines = Vec::new();
        if let Some(t) = &self.event_type {
            lines.push(format!("event: {t}"));
        }
        if let Some(r) = &self.retry {
            lines.push(format!("retry: {r}"));
        }
        lines.push(format!("id: {}", self.id));
        lines.extend(self.data.split('\n').map(|l| format!("data: {l}")));
        lines.join("\n")
    }
}

/// A `match_urlpattern` subscriber on B receives what A published, in order, exactly once,
/// fields intact; a private update reaches a subscriber only when one of its subscribe grants
/// matches one of the update's topics (not necessarily the one its matcher matched).
async fn delivery_across_nodes(b: Backend) {
    let c = start(2, &b).await;
    let base = base(&c);
    let books = format!("{base}/books/:id");
    let book1 = format!("{base}/books/1");
    let elsewhere = format!("{base}/elsewhere");
    let (node_a, node_b) = (c.node(0), c.node(1));
    let query = q(&[("match_urlpattern", &books)]);
    // Subscribers on B with the same matcher; their tokens grant every book / book 1 only /
    // a topic that is no book.
    let mut all = sub08(node_b, &query, Some(&token(&[], &[up(&books)]))).await;
    let mut one = sub08(node_b, &query, Some(&token(&[], &[ex(&book1)]))).await;
    let mut none = sub08(node_b, &query, Some(&token(&[], &[ex(&elsewhere)]))).await;

    // What `books/:id` matches: one non-empty segment after `books/`.
    let book_prefix = format!("{base}/books/");
    let is_book = |t: &str| {
        t.strip_prefix(&book_prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
    };
    // 40 publications on A: books 0-3, topics the pattern does not match, every fifth private,
    // some with a second topic (book 1, or the topic only `none` is granted), some with an
    // event type or a reconnection time.
    let mut publications = Vec::new();
    for k in 0..40 {
        let mut topics = vec![match k % 6 {
            4 => format!("{base}/other/{k}"),
            5 => format!("{base}/books/{k}/comments"),
            n => format!("{base}/books/{n}"),
        }];
        match k % 7 {
            3 => topics.push(book1.clone()),
            6 => topics.push(elsewhere.clone()),
            _ => {}
        }
        publications.push(Publication {
            id: format!("d{k}"),
            topics,
            private: k % 5 == 2,
            event_type: (k % 8 == 1).then(|| "book-event".to_string()),
            retry: (k % 9 == 4).then(|| format!("{}", 1500 + k)),
            data: format!("update {k}\nsecond line"),
        });
    }
    // A last public update everyone receives: nothing is delivered after it.
    publications.push(Publication {
        id: "end".into(),
        topics: vec![format!("{base}/books/end")],
        private: false,
        event_type: None,
        retry: None,
        data: "end".into(),
    });
    let p = publisher();
    for u in &publications {
        let mut fields: Vec<(&str, &str)> =
            u.topics.iter().map(|t| ("topic", t.as_str())).collect();
        fields.extend([("id", u.id.as_str()), ("data", u.data.as_str())]);
        if u.private {
            fields.push(("private", "on"));
        }
        if let Some(t) = &u.event_type {
            fields.push(("type", t));
        }
        if let Some(r) = &u.retry {
            fields.push(("retry", r));
        }
        assert_eq!(publish(node_a, &p, &fields).await, u.id);
    }

    let granted_all = |t: &str| is_book(t);
    let granted_one = |t: &str| t == book1;
    let granted_none = |t: &str| t == elsewhere;
    type Granted<'a> = &'a dyn Fn(&str) -> bool;
    let cases: [(&str, &mut Sse, Granted); 3] = [
        ("granted every book", &mut all, &granted_all),
        ("granted book 1", &mut one, &granted_one),
        ("granted no book", &mut none, &granted_none),
    ];
    let mut counts = Vec::new();
    for (name, s, granted) in cases {
        let what = format!("{}: subscriber on B {name}", b.name);
        let expected: Vec<String> = publications
            .iter()
            .filter(|u| u.topics.iter().any(|t| is_book(t)))
            .filter(|u| !u.private || u.topics.iter().any(|t| granted(t)))
            .map(Publication::event)
            .collect();
        ids_until(s, "end", &what).await;
        assert_eq!(s.complete_events(), expected, "{what}");
        counts.push(expected.len());
    }
    // The three differ: the grants made a difference (book 1 as a second topic, the topic
    // only `none` is granted as a second topic).
    assert!(counts[0] > counts[1] && counts[1] > counts[2], "{counts:?}");
    assert!(
        publications.iter().any(|u| u.private
            && u.topics.iter().any(|t| is_book(t))
            && u.topics.contains(&elsewhere)),
        "a private book update that `none` is granted through its second topic"
    );
}

// ---------------------------------------------------------------------------------------------
// Presence.

/// The JSON documents of the subscription events `w` received so far, checking each is an
/// `event: mercure` whose SSE id is not empty.
fn presence_docs(w: &Sse) -> Vec<Value> {
    w.complete_events()
        .iter()
        .map(|e| {
            let (ty, id, data) = parse(e);
            assert_eq!(
                ty, "mercure",
                "subscription events are `event: mercure`: {e:?}"
            );
            assert!(!id.is_empty(), "{e:?}");
            serde_json::from_str(&data)
                .unwrap_or_else(|err| panic!("subscription event not JSON ({err}): {e:?}"))
        })
        .collect()
}

/// Reads the watcher until `pred` holds for its documents (panics after [`W`]).
async fn watch_until(w: &mut Sse, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + W;
    loop {
        let docs = presence_docs(w);
        if pred(&docs) {
            return docs;
        }
        assert!(
            !w.ended && tokio::time::Instant::now() < deadline,
            "{what}: not within {W:?}; documents: {docs:#?}"
        );
        w.drain_for(Duration::from_millis(50)).await;
    }
}

/// `GET path` on `hub` with a bearer token: (status, body).
async fn api_get(hub: &Hub, path: &str, token: &str) -> (u16, String) {
    let r = hub
        .http_get(path, &[("Authorization", &bearer(token))])
        .await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// A collection document of the API: its `subscriptions`, after checking its `id` and `type`.
async fn api_collection(hub: &Hub, path: &str, token: &str) -> Vec<Value> {
    let (status, body) = api_get(hub, path, token).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    let doc: Value = serde_json::from_str(&body).expect("subscriptions API JSON");
    assert_eq!(doc["id"], path, "{body}");
    assert_eq!(doc["type"], "subscriptions", "{body}");
    doc["subscriptions"]
        .as_array()
        .unwrap_or_else(|| panic!("no subscriptions array: {body}"))
        .clone()
}

/// Polls the collection `path` of `hub` until `pred` holds for its entries whose `match` is
/// one of `matches` (panics after [`W`]).
async fn api_until(
    hub: &Hub,
    path: &str,
    token: &str,
    matches: &[&str],
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + W;
    loop {
        let listed: Vec<Value> = api_collection(hub, path, token)
            .await
            .into_iter()
            .filter(|d| matches.iter().any(|m| d["match"] == *m))
            .collect();
        if pred(&listed) {
            return listed;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {W:?}; listed: {listed:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The token and matchers of B's subscriber in the presence checks: an URL pattern and two
/// exact matchers. The token's first grant matches none of them; the second matches the
/// pattern (and is shown for it although later grants match too); the third, without a
/// payload, matches the first exact matcher (which then has no payload, although `*` with one
/// comes later); only `*` matches the second exact matcher.
struct Watched {
    token: String,
    query: String,
    /// (match, match_type, payload) of each subscription.
    subscriptions: Vec<(String, &'static str, Option<Value>)>,
}

fn watched(c: &Cluster) -> Watched {
    let base = base(c);
    let books = format!("{base}/books/:id");
    let solo = format!("{base}/solo");
    let third = format!("{base}/third");
    let token = token(
        &[],
        &[
            with_payload(ex(&format!("{base}/other")), json!({"n": 1})),
            with_payload(
                up(&format!("{base}/:kind/:id")),
                json!({"n": 2, "who": "b"}),
            ),
            ex(&solo),
            with_payload(ex("*"), json!({"n": 3})),
        ],
    );
    Watched {
        token,
        query: q(&[
            ("match_urlpattern", &books),
            ("match", &solo),
            ("match_exact", &third),
        ]),
        subscriptions: vec![
            (books, "urlpattern", Some(json!({"n": 2, "who": "b"}))),
            (solo, "exact", None),
            (third, "exact", Some(json!({"n": 3}))),
        ],
    }
}

impl Watched {
    fn matches(&self) -> Vec<&str> {
        self.subscriptions.iter().map(|s| s.0.as_str()).collect()
    }

    fn is_ours(&self, d: &Value) -> bool {
        self.subscriptions.iter().any(|s| d["match"] == s.0)
    }

    /// The documents of the subscriptions of `subscriber`, in `subscriptions` order.
    fn docs(&self, subscriber: &str, active: bool) -> Vec<Value> {
        self.subscriptions
            .iter()
            .map(|(m, t, payload)| {
                let mut doc = json!({
                    "id": format!("{API}/{t}/{}/{}", seg(m), seg(subscriber)),
                    "type": "subscription",
                    "subscriber": subscriber,
                    "match": m,
                    "match_type": t,
                    "active": active,
                });
                if let Some(p) = payload {
                    doc["payload"] = p.clone();
                }
                doc
            })
            .collect()
    }
}

/// Documents sorted by `match` (the order of one subscriber's events is not specified).
fn by_match(mut docs: Vec<Value>) -> Vec<Value> {
    docs.sort_by_key(|d| d["match"].as_str().unwrap_or_default().to_string());
    docs
}

/// A token allowed exactly what the watchers and the API need: the collection, per-matcher
/// collections, single subscriptions (which are also the subscription events' topics).
fn api_token() -> String {
    token(
        &[],
        &[
            ex(API),
            up(&format!("{API}/:match_type/:match")),
            up(PRESENCE),
        ],
    )
}

/// A watcher of every subscription event on `hub`, once its own subscription was announced
/// (through the broker too).
async fn watcher(hub: &Hub, headers: &[(&str, &str)], what: &str) -> Sse {
    let auth = bearer(&api_token());
    let mut all = vec![("Authorization", auth.as_str())];
    all.extend_from_slice(headers);
    let mut w = sub08_with(hub, &q(&[("match_urlpattern", PRESENCE)]), &all).await;
    watch_until(&mut w, what, |d| d.iter().any(|d| d["match"] == PRESENCE)).await;
    w
}

/// B's subscriptions (an URL pattern and an exact matcher) are announced on A (`active: true`,
/// then `false`) and listed by A's subscriptions API (collection, per-matcher collections,
/// single documents), each with its matcher type and the payload of its token's first
/// subscribe grant that matches it, until it ends. A client that lists them on A can follow
/// the later events on B from the cursor A's API gave.
async fn presence_across_nodes(b: Backend) {
    let c = start(2, &b).await;
    let (node_a, node_b) = (c.node(0), c.node(1));
    let api_token = api_token();
    let what = format!("{}: watcher on A", b.name);
    let mut w = watcher(node_a, &[], &what).await;

    let watched = watched(&c);
    let sub = sub08(node_b, &watched.query, Some(&watched.token)).await;
    let n = watched.subscriptions.len();
    let docs = watch_until(&mut w, &what, |d| {
        d.iter().filter(|d| watched.is_ours(d)).count() >= n
    })
    .await;
    let joined: Vec<Value> = docs.into_iter().filter(|d| watched.is_ours(d)).collect();
    let subscriber = joined[0]["subscriber"]
        .as_str()
        .expect("subscriber")
        .to_string();
    assert!(subscriber.starts_with("urn:uuid:"), "{what}: {joined:#?}");
    let expected = watched.docs(&subscriber, true);
    assert_eq!(by_match(joined), by_match(expected.clone()), "{what}");
    // The cursor a client listing now would get: the last event dispatched (the last join).
    let last_join = parse(w.complete_events().last().expect("events")).1;

    // A's API: the collection, each per-matcher collection, each single document.
    let listed = api_until(
        node_a,
        API,
        &api_token,
        &watched.matches(),
        "API of A",
        |l| l.len() >= n,
    )
    .await;
    assert_eq!(
        by_match(listed),
        by_match(expected.clone()),
        "{}: API of A",
        b.name
    );
    for doc in &expected {
        let (m, t) = (
            doc["match"].as_str().unwrap(),
            doc["match_type"].as_str().unwrap(),
        );
        let per_matcher = format!("{API}/{t}/{}", seg(m));
        assert_eq!(
            api_collection(node_a, &per_matcher, &api_token).await,
            std::slice::from_ref(doc),
            "{}: GET {per_matcher} on A",
            b.name
        );
        // The same string under the other matcher type: nobody.
        let other_type = if t == "exact" { "urlpattern" } else { "exact" };
        let per_other = format!("{API}/{other_type}/{}", seg(m));
        assert_eq!(
            api_collection(node_a, &per_other, &api_token).await,
            Vec::<Value>::new(),
            "{}: GET {per_other} on A",
            b.name
        );
        let single = doc["id"].as_str().unwrap();
        let (status, body) = api_get(node_a, single, &api_token).await;
        assert_eq!(status, 200, "{}: GET {single} on A: {body}", b.name);
        assert_eq!(
            &serde_json::from_str::<Value>(&body).expect("JSON"),
            doc,
            "{}: GET {single} on A",
            b.name
        );
    }
    // And the other way round: B lists A's watcher.
    let on_b = api_collection(node_b, API, &api_token).await;
    assert!(
        on_b.iter()
            .any(|d| d["match"] == PRESENCE && d["match_type"] == "urlpattern"),
        "{}: API of B: {on_b:#?}",
        b.name
    );

    // A's API names the last event dispatched cluster-wide (ETag and Link), from which a
    // client follows the subscription events on B: the joins are not replayed, the ends come.
    let deadline = tokio::time::Instant::now() + W;
    let etag = format!("\"{last_join}\"");
    loop {
        let r = node_a
            .http_get(API, &[("Authorization", &bearer(&api_token))])
            .await;
        let (got_etag, link) = (header(r.headers(), "etag"), header(r.headers(), "link"));
        if got_etag == etag {
            assert!(
                link.contains(&format!("last-event-id=\"{last_join}\"")),
                "{}: Link {link:?}",
                b.name
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: A's API cursor is {got_etag:?}, not {etag:?}",
            b.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let what_b = format!("{}: watcher on B from A's cursor", b.name);
    let mut follower = watcher(node_b, &[("Last-Event-ID", &last_join)], &what_b).await;
    assert_eq!(
        follower.header("mercure-last-event-id"),
        last_join,
        "{what_b}"
    );

    // B's subscriber leaves: `active: false` on A (and on the follower), once per
    // subscription, and A's API forgets it.
    drop(sub);
    let gone = |d: &Value| watched.is_ours(d) && d["active"] == false;
    let left_on = |w: &[Value]| w.iter().filter(|d| gone(d)).count() >= n;
    let docs = watch_until(&mut w, &what, left_on).await;
    let left: Vec<Value> = docs.into_iter().filter(|d| gone(d)).collect();
    assert_eq!(
        by_match(left),
        by_match(watched.docs(&subscriber, false)),
        "{what}"
    );
    let docs = watch_until(&mut follower, &what_b, left_on).await;
    let ours: Vec<Value> = docs.into_iter().filter(|d| watched.is_ours(d)).collect();
    assert_eq!(
        by_match(ours),
        by_match(watched.docs(&subscriber, false)),
        "{what_b}: only what followed the cursor"
    );
    api_until(
        node_a,
        API,
        &api_token,
        &watched.matches(),
        "API of A",
        |l| l.is_empty(),
    )
    .await;
    for doc in &expected {
        let (m, t) = (
            doc["match"].as_str().unwrap(),
            doc["match_type"].as_str().unwrap(),
        );
        let per_matcher = format!("{API}/{t}/{}", seg(m));
        assert_eq!(
            api_collection(node_a, &per_matcher, &api_token).await,
            Vec::<Value>::new(),
            "{}: GET {per_matcher} on A after the end",
            b.name
        );
        let single = doc["id"].as_str().unwrap();
        let (status, body) = api_get(node_a, single, &api_token).await;
        assert_eq!(
            status, 404,
            "{}: GET {single} on A after the end: {body}",
            b.name
        );
    }
    w.drain_for(Duration::from_millis(300)).await;
    let about = presence_docs(&w)
        .into_iter()
        .filter(|d| watched.is_ours(d))
        .count();
    assert_eq!(about, 2 * n, "{what}: one event each way per subscription");
}

/// B killed with SIGKILL (no goodbye): within the presence timeout its subscriptions vanish
/// from A's API, and A's watcher gets one `active: false` per subscription, still in the
/// draft-08 shape (match type, payload) although A rebuilt them from the shared records.
async fn killed_node_across_nodes(b: Backend) {
    let mut c = start(2, &b).await;
    let api_token = api_token();
    let what = format!("{}: watcher on A", b.name);
    let mut w = watcher(c.node(0), &[], &what).await;
    let watched = watched(&c);
    let sub = sub08(c.node(1), &watched.query, Some(&watched.token)).await;
    let n = watched.subscriptions.len();
    let docs = watch_until(&mut w, &what, |d| {
        d.iter().filter(|d| watched.is_ours(d)).count() >= n
    })
    .await;
    let subscriber = docs
        .iter()
        .find(|d| watched.is_ours(d))
        .and_then(|d| d["subscriber"].as_str())
        .expect("subscriber")
        .to_string();
    api_until(
        c.node(0),
        API,
        &api_token,
        &watched.matches(),
        "API of A",
        |l| l.len() == n,
    )
    .await;

    c.kill(1);
    drop(sub);
    let gone = |d: &Value| watched.is_ours(d) && d["active"] == false;
    let docs = watch_until(&mut w, &what, |d| d.iter().filter(|d| gone(d)).count() >= n).await;
    let left: Vec<Value> = docs.into_iter().filter(|d| gone(d)).collect();
    assert_eq!(
        by_match(left),
        by_match(watched.docs(&subscriber, false)),
        "{what}"
    );
    api_until(
        c.node(0),
        API,
        &api_token,
        &watched.matches(),
        "API of A",
        |l| l.is_empty(),
    )
    .await;
    w.drain_for(Duration::from_millis(300)).await;
    let about = presence_docs(&w)
        .into_iter()
        .filter(|d| watched.is_ours(d))
        .count();
    assert_eq!(about, 2 * n, "{what}: one event each way per subscription");
}

// ---------------------------------------------------------------------------------------------
// History.

/// A subscription on `hub` to `topic` plus a marker topic of its own (markers are history too:
/// one per stream keeps them out of the others' replays), with headers.
struct Stream {
    sse: Sse,
    marker: String,
}

async fn open(
    hub: &Hub,
    c: &Cluster,
    topic: &str,
    extra: &str,
    headers: &[(&str, &str)],
) -> Stream {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let marker = format!("{}/marker/{}", base(c), N.fetch_add(1, Ordering::SeqCst));
    let mut query = q(&[("match", topic), ("match", &marker)]);
    if !extra.is_empty() {
        query = format!("{query}&{extra}");
    }
    let sse = sub08_with(hub, &query, headers).await;
    Stream { sse, marker }
}

/// Publishes a live marker on node A for the stream and returns the ids it received up to it
/// (the marker shown as `live`).
async fn ids_then_live(c: &Cluster, s: &mut Stream, what: &str) -> Vec<String> {
    let id = publish(c.node(0), &publisher(), &[("topic", &s.marker)]).await;
    ids_until(&mut s.sse, &id, what)
        .await
        .into_iter()
        .map(|i| if i == id { "live".to_string() } else { i })
        .collect()
}

/// What A published is history on B: `Last-Event-ID` there resumes right after the requested
/// event (custom or hub-generated id), private updates replayed only where granted, the
/// replay joined to the live stream, and `Mercure-Last-Event-ID` names the requested event.
async fn history_across_nodes(b: Backend) {
    let c = start(2, &b).await;
    let base = base(&c);
    let topic = format!("{base}/h");
    let other = format!("{base}/other");
    let (node_a, node_b) = (c.node(0), c.node(1));
    let p = publisher();
    for (id, t, private) in [
        ("h1", &topic, false),
        ("o1", &other, false),
        ("h2", &topic, false),
        ("h3", &topic, true),
        ("o2", &other, false),
        ("h4", &topic, false),
    ] {
        let mut fields = vec![("topic", t.as_str()), ("id", id), ("data", id)];
        if private {
            fields.push(("private", "on"));
        }
        assert_eq!(publish(node_a, &p, &fields).await, id);
    }
    // A hub-generated id.
    let generated = publish(node_a, &p, &[("topic", &topic), ("data", "g")]).await;
    assert!(!generated.is_empty());

    let granted = bearer(&token(&[], &[ex(&topic)]));
    let elsewhere = bearer(&token(&[], &[ex(&other)]));
    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        (
            "granted, after h1",
            &granted,
            "h1",
            vec!["h2", "h3", "h4", &generated],
        ),
        (
            "not granted the private one, after h1",
            &elsewhere,
            "h1",
            vec!["h2", "h4", &generated],
        ),
        (
            "after an id of another topic",
            &granted,
            "o2",
            vec!["h4", &generated],
        ),
        ("after the generated id", &granted, &generated, vec![]),
    ];
    // Live updates published after a case are history for the next ones.
    let mut lives: Vec<String> = Vec::new();
    for (name, auth, cursor, replayed) in cases {
        let what = format!("{}: Last-Event-ID {cursor} on B, {name}", b.name);
        let mut s = open(
            node_b,
            &c,
            &topic,
            "",
            &[("Authorization", auth), ("Last-Event-ID", cursor)],
        )
        .await;
        assert_eq!(s.sse.header("mercure-last-event-id"), cursor, "{what}");
        let mut expected: Vec<String> = replayed.iter().map(|s| s.to_string()).collect();
        expected.extend(lives.iter().cloned());
        expected.push("live".into());
        assert_eq!(ids_then_live(&c, &mut s, &what).await, expected, "{what}");
        // The replayed events are the published ones.
        for event in s.sse.complete_events() {
            let (_, id, data) = parse(&event);
            if id.starts_with('h') {
                assert_eq!(data, id, "{what}");
            } else if id == generated {
                assert_eq!(data, "g", "{what}");
            }
        }
        // Live updates on the topic, from either node, follow.
        let live_a = publish(node_a, &p, &[("topic", &topic), ("data", "live-a")]).await;
        let live_b = publish(node_b, &p, &[("topic", &topic), ("data", "live-b")]).await;
        let got = ids_until(&mut s.sse, &live_b, &what).await;
        assert_eq!(
            got[got.len() - 2..],
            [live_a.clone(), live_b.clone()],
            "{what}"
        );
        lives.extend([live_a, live_b]);
    }

    // An unknown id: `earliest`, nothing replayed (there is history).
    let what = format!("{}: unknown Last-Event-ID on B", b.name);
    let mut s = open(
        node_b,
        &c,
        &topic,
        "",
        &[("Authorization", &granted), ("Last-Event-ID", "no-such-id")],
    )
    .await;
    assert_eq!(s.sse.header("mercure-last-event-id"), "earliest", "{what}");
    assert_eq!(ids_then_live(&c, &mut s, &what).await, ["live"], "{what}");

    // `earliest` replays everything A published on the topic.
    let what = format!("{}: last_event_id=earliest on B", b.name);
    let mut s = open(
        node_b,
        &c,
        &topic,
        "last_event_id=earliest",
        &[("Authorization", &granted)],
    )
    .await;
    assert_eq!(s.sse.header("mercure-last-event-id"), "earliest", "{what}");
    let mut expected: Vec<String> = ["h1", "h2", "h3", "h4", &generated]
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.extend(lives);
    expected.push("live".into());
    assert_eq!(ids_then_live(&c, &mut s, &what).await, expected, "{what}");

    // An id published twice, on A then on B: the cursor is its earliest occurrence, on either
    // node.
    let dup_topic = format!("{base}/dup");
    for (node, id, data) in [
        (node_a, "dup", "first"),
        (node_a, "x1", "x1"),
        (node_b, "dup", "second"),
        (node_a, "x2", "x2"),
    ] {
        let got = publish(
            node,
            &p,
            &[("topic", &dup_topic), ("id", id), ("data", data)],
        )
        .await;
        assert_eq!(got, id);
    }
    for (name, node) in [("A", node_a), ("B", node_b)] {
        let what = format!("{}: Last-Event-ID of a duplicate id on {name}", b.name);
        let mut s = open(
            node,
            &c,
            &dup_topic,
            "",
            &[("Authorization", &granted), ("Last-Event-ID", "dup")],
        )
        .await;
        assert_eq!(s.sse.header("mercure-last-event-id"), "dup", "{what}");
        ids_then_live(&c, &mut s, &what).await;
        let events = s.sse.complete_events();
        assert_eq!(
            events[..3],
            [
                "id: x1\ndata: x1",
                "id: dup\ndata: second",
                "id: x2\ndata: x2"
            ],
            "{what}"
        );
        assert_eq!(events.len(), 4, "{what}: {events:?}");
    }
}

/// Subscribers resuming on B while A keeps publishing: each gets everything after its cursor,
/// replay and live joined without gap, duplicate or reordering.
async fn resume_while_publishing(b: Backend) {
    const N: usize = 150;
    let c = start(2, &b).await;
    let topic = format!("{}/busy", base(&c));
    let (node_a, node_b) = (c.node(0), c.node(1));
    let p = publisher();
    let (published, mut progress) = tokio::sync::watch::channel(0usize);
    let publishing = async {
        for k in 0..N {
            let id = format!("p{k}");
            assert_eq!(
                publish(node_a, &p, &[("topic", &topic), ("id", &id), ("data", &id)]).await,
                id
            );
            published.send_replace(k + 1);
        }
    };
    let auth = bearer(&token(&[], &[]));
    let resuming = async {
        let mut streams = Vec::new();
        // Five subscribers, joining after 1, 31, 61, 91, 121 publications, each resuming after
        // the last one it knows of.
        for i in 0..5 {
            let at = progress
                .wait_for(|&n| n > 30 * i)
                .await
                .map(|n| *n)
                .expect("publisher alive");
            let cursor = format!("p{}", at - 1);
            let s = sub08_with(
                node_b,
                &q(&[("match", &topic)]),
                &[("Authorization", &auth), ("Last-Event-ID", &cursor)],
            )
            .await;
            assert_eq!(s.header("mercure-last-event-id"), cursor, "{}", b.name);
            streams.push((at, s));
        }
        streams
    };
    let ((), streams) = tokio::join!(publishing, resuming);
    for (at, mut s) in streams {
        let what = format!("{}: subscriber on B resuming after p{}", b.name, at - 1);
        let got = ids_until(&mut s, &format!("p{}", N - 1), &what).await;
        let expected: Vec<String> = (at..N).map(|k| format!("p{k}")).collect();
        assert_eq!(got, expected, "{what}");
    }
}

// ---------------------------------------------------------------------------------------------

/// One `#[tokio::test]` per (check, backend): `draft08_cluster::<check>::<backend>`.
macro_rules! draft08_cluster_tests {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                use crate::cluster_harness::Backend;

                #[tokio::test]
                async fn redis() {
                    super::$check(Backend::redis()).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$check(Backend::postgres()).await
                }
            }
        )*
    };
}

draft08_cluster_tests!(
    delivery_across_nodes,
    presence_across_nodes,
    killed_node_across_nodes,
    history_across_nodes,
    resume_while_publishing,
);
