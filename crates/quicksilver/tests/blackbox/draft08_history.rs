//! Draft-08 reconnection, checklist items 45-49 (§1.6, spec §Reconciliation) on the default
//! (bolt) transport: the `Last-Event-ID` header and the `last_event_id` parameter and their
//! precedence, replay with private authorization re-evaluated, the `Mercure-Last-Event-ID`
//! response header, `earliest`, and duplicate ids. (`QUERY` bodies carrying `last_event_id`
//! are in draft08_subscribe.rs, item 11.)

use crate::common::*;
use crate::draft08_common::*;

const TOPIC: &str = "https://example.com/h";
const OTHER: &str = "https://example.com/other";

async fn publish_ids(hub: &Hub08, topic: &str, ids: &[&str]) {
    for id in ids {
        let got = pub08_ok(hub, &[("topic", topic), ("id", id), ("data", id)]).await;
        assert_eq!(got, *id);
    }
}

/// A subscription to TOPIC plus a topic of its own for live markers (so that markers
/// published for other streams, being history too, are never replayed to it).
struct Stream {
    sse: Sse,
    marker: String,
    n: usize,
}

impl std::ops::Deref for Stream {
    type Target = Sse;
    fn deref(&self) -> &Sse {
        &self.sse
    }
}

/// Opens `match=TOPIC` + its marker topic + `extra`, with headers.
async fn open(hub: &Hub08, extra: &str, headers: &[(&str, &str)]) -> Stream {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let marker = format!("https://example.com/marker/{n}");
    let mut query = q(&[("match", TOPIC), ("match", &marker)]);
    if !extra.is_empty() {
        query = format!("{query}&{extra}");
    }
    let sse = sub08_with(hub, &query, headers).await;
    Stream { sse, marker, n }
}

/// Publishes a live marker on the stream's marker topic and returns the ids received up to
/// it (the marker shown as `live`).
async fn ids_then_live(hub: &Hub08, s: &mut Stream) -> Vec<String> {
    let id = format!("live-{}", s.n);
    let got = pub08_ok(hub, &[("topic", &s.marker), ("id", &id)]).await;
    assert_eq!(got, id);
    wait_id(&mut s.sse, &id).await;
    s.sse
        .ids()
        .into_iter()
        .map(|i| if i == id { "live".to_string() } else { i })
        .collect()
}

#[tokio::test]
async fn c45_last_event_id_parameter_and_header_the_header_wins() {
    let hub = Hub08::start("anonymous");
    publish_ids(&hub, TOPIC, &["h1", "h2"]).await;
    publish_ids(&hub, OTHER, &["o1"]).await;
    publish_ids(&hub, TOPIC, &["h3"]).await;

    let mut s = open(&hub, "last_event_id=h1", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "h1");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["h2", "h3", "live"]);

    let mut s = open(&hub, "", &[("Last-Event-ID", "h2")]).await;
    assert_eq!(s.header("mercure-last-event-id"), "h2");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["h3", "live"]);

    let mut s = open(&hub, "last_event_id=h1", &[("Last-Event-ID", "h2")]).await;
    assert_eq!(s.header("mercure-last-event-id"), "h2");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["h3", "live"]);

    // An empty header counts as absent: the parameter is used.
    let mut s = open(&hub, "last_event_id=h2", &[("Last-Event-ID", "")]).await;
    assert_eq!(s.header("mercure-last-event-id"), "h2");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["h3", "live"]);
}

#[tokio::test]
async fn c45_draft07_cursor_names_are_not_cursors() {
    let hub = Hub08::start("anonymous");
    publish_ids(&hub, TOPIC, &["d1", "d2"]).await;
    for extra in ["lastEventID=d1", "Last-Event-ID=d1", "last-event-id=d1"] {
        let mut s = open(&hub, extra, &[]).await;
        assert!(
            s.headers.get("mercure-last-event-id").is_none(),
            "{extra}: {:?}",
            s.headers
        );
        assert_eq!(ids_then_live(&hub, &mut s).await, ["live"], "{extra}");
    }
}

#[tokio::test]
async fn c46_replay_re_evaluates_private_authorization_per_event() {
    let hub = Hub08::start("anonymous");
    let publisher = hub.publisher();
    for (id, private) in [("pub1", false), ("priv1", true), ("pub2", false)] {
        let mut fields = vec![("topic", TOPIC), ("id", id)];
        if private {
            fields.push(("private", "on"));
        }
        let r = pub08(&hub, &publisher, &fields).await;
        assert_eq!(r.status, 200);
    }
    let anonymous_ids = {
        let mut s = open(&hub, "last_event_id=earliest", &[]).await;
        ids_then_live(&hub, &mut s).await
    };
    assert_eq!(anonymous_ids, ["pub1", "pub2", "live"]);
    let granted = bearer(&hub.token(&[], &[ex(TOPIC)]));
    let mut s = open(
        &hub,
        "last_event_id=earliest",
        &[("Authorization", &granted)],
    )
    .await;
    let granted_ids = ids_then_live(&hub, &mut s).await;
    assert_eq!(
        &granted_ids[..3],
        ["pub1", "priv1", "pub2"],
        "{granted_ids:?}"
    );
    let elsewhere = bearer(&hub.token(&[], &[ex(OTHER)]));
    let mut s = open(&hub, "last_event_id=pub1", &[("Authorization", &elsewhere)]).await;
    assert_eq!(s.header("mercure-last-event-id"), "pub1");
    let ids = ids_then_live(&hub, &mut s).await;
    assert_eq!(&ids[..1], ["pub2"], "{ids:?}");
    assert!(!ids.contains(&"priv1".to_string()));
}

#[tokio::test]
async fn c47_mercure_last_event_id_names_the_event_before_the_first_sent() {
    let hub = Hub08::start("anonymous");
    // Empty history.
    let mut s = open(&hub, "last_event_id=earliest", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "earliest");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["live"]);
    let s = open(&hub, "", &[("Last-Event-ID", "whatever")]).await;
    assert_eq!(s.header("mercure-last-event-id"), "earliest");
    drop(s);

    publish_ids(&hub, TOPIC, &["k1", "k2"]).await;
    // Known id: itself.
    let s = open(&hub, "last_event_id=k1", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "k1");
    // The draft-07 response header is not sent.
    assert!(s.headers.get("last-event-id").is_none());
    drop(s);
    // Unknown id: `earliest`, nothing replayed.
    let mut s = open(&hub, "last_event_id=no-such-id", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "earliest");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["live"]);
    // No cursor: no header.
    let s = open(&hub, "", &[]).await;
    assert!(s.headers.get("mercure-last-event-id").is_none());
    // The id of an event on a topic not subscribed to is still a position in the hub-wide
    // sequence.
    publish_ids(&hub, OTHER, &["o1"]).await;
    publish_ids(&hub, TOPIC, &["k3"]).await;
    let mut s = open(&hub, "last_event_id=o1", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "o1");
    assert_eq!(ids_then_live(&hub, &mut s).await, ["k3", "live"]);
}

#[tokio::test]
async fn c48_earliest_replays_all_history_then_continues_live() {
    let hub = Hub08::start("anonymous");
    publish_ids(&hub, TOPIC, &["e1", "e2"]).await;
    publish_ids(&hub, OTHER, &["x"]).await;
    publish_ids(&hub, TOPIC, &["e3"]).await;
    let mut s = open(&hub, "last_event_id=earliest", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "earliest");
    wait_id(&mut s.sse, "e3").await;
    publish_ids(&hub, TOPIC, &["e4"]).await;
    wait_id(&mut s.sse, "e4").await;
    assert_eq!(
        s.text(),
        "id: e1\ndata: e1\n\nid: e2\ndata: e2\n\nid: e3\ndata: e3\n\nid: e4\ndata: e4\n\n"
    );
}

#[tokio::test]
async fn c49_duplicate_ids_resolve_to_the_earliest_occurrence() {
    let hub = Hub08::start("anonymous");
    for (id, data) in [
        ("dup", "first"),
        ("x1", "x1"),
        ("dup", "second"),
        ("x2", "x2"),
    ] {
        let got = pub08_ok(&hub, &[("topic", TOPIC), ("id", id), ("data", data)]).await;
        assert_eq!(got, id);
    }
    let mut s = open(&hub, "last_event_id=dup", &[]).await;
    assert_eq!(s.header("mercure-last-event-id"), "dup");
    wait_id(&mut s.sse, "x2").await;
    assert_eq!(
        s.text(),
        "id: x1\ndata: x1\n\nid: dup\ndata: second\n\nid: x2\ndata: x2\n\n"
    );
}
