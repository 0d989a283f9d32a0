//! History and reconnection (draft-07): `Last-Event-ID` (header), `lastEventID` (query), the
//! legacy `Last-Event-ID` query parameter (compatibility 7 only), the `Last-Event-ID` response
//! header, retention of `transport local { size N }` (1000 by default), private updates in
//! replays, and the boundary between replay and live delivery under concurrent publishing.

use std::time::Duration;

use crate::common::*;

const T: Duration = Duration::from_secs(5);
const TOPIC: &str = "https://example.com/h";
const OTHER: &str = "https://example.com/other";

async fn publish_ids(hub: &Hub, topic: &str, ids: &[&str]) {
    for id in ids {
        let (s, body) = publish(
            hub,
            &publisher(),
            &[("topic", topic), ("id", id), ("data", id)],
        )
        .await;
        assert_eq!((s, body.as_str()), (200, *id));
    }
}

/// Opens a subscription to TOPIC (anonymous) with an extra query and headers; asserts 200 and
/// consumes the initial comment.
async fn open(hub: &Hub, extra_query: &str, headers: &[(&str, &str)]) -> Sse {
    let mut q = topics_query(&[TOPIC]);
    if !extra_query.is_empty() {
        q = format!("{q}&{extra_query}");
    }
    let mut s = Sse::open(hub, &q, headers).await;
    assert_eq!(s.status, 200, "{}", s.text());
    assert!(s.read_until(":\n", T).await);
    assert!(s.text().starts_with(":\n"));
    s.buf.drain(..2);
    s
}

/// Publishes a live marker to TOPIC and waits for it. Each marker has its own id (so a replayed
/// marker is not mistaken for the live one); [`ids`] shows them all as `marker`.
async fn marker(hub: &Hub, s: &mut Sse) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!("marker-{}", N.fetch_add(1, Ordering::SeqCst));
    publish_ids(hub, TOPIC, &[&id]).await;
    assert!(
        s.read_until(&format!("id: {id}\ndata: {id}\n\n"), T).await,
        "{:?}",
        s.text()
    );
}

/// The ids received, markers shown as `marker`.
fn ids(s: &Sse) -> Vec<String> {
    s.ids()
        .into_iter()
        .map(|i| {
            if i.starts_with("marker-") {
                "marker".to_string()
            } else {
                i
            }
        })
        .collect()
}

#[tokio::test]
async fn last_event_id_header_replays_then_continues_live() {
    let hub = Hub::with_directives("anonymous");
    publish_ids(&hub, TOPIC, &["a1", "a2"]).await;
    publish_ids(&hub, OTHER, &["o1"]).await;
    publish_ids(&hub, TOPIC, &["a3"]).await;
    let mut s = open(&hub, "", &[("Last-Event-ID", "a1")]).await;
    assert_eq!(s.header("last-event-id"), "a1");
    assert!(s.read_until("data: a3\n\n", T).await, "{:?}", s.text());
    publish_ids(&hub, TOPIC, &["a4"]).await;
    assert!(s.read_until("data: a4\n\n", T).await);
    assert_eq!(
        s.text(),
        "id: a2\ndata: a2\n\nid: a3\ndata: a3\n\nid: a4\ndata: a4\n\n"
    );
}

#[tokio::test]
async fn last_event_id_query_parameter() {
    let hub = Hub::with_directives("anonymous");
    publish_ids(&hub, TOPIC, &["b1", "b2", "b3"]).await;
    let mut s = open(&hub, "lastEventID=b2", &[]).await;
    assert_eq!(s.header("last-event-id"), "b2");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["b3", "marker"]);
}

#[tokio::test]
async fn header_wins_over_query() {
    let hub = Hub::with_directives("anonymous");
    publish_ids(&hub, TOPIC, &["c1", "c2", "c3"]).await;
    let mut s = open(&hub, "lastEventID=c1", &[("Last-Event-ID", "c2")]).await;
    assert_eq!(s.header("last-event-id"), "c2");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["c3", "marker"]);
    // An empty header counts as absent: the query parameter is used.
    let mut s = open(&hub, "lastEventID=c1", &[("Last-Event-ID", "")]).await;
    assert_eq!(s.header("last-event-id"), "c1");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["c2", "c3", "marker", "marker"]);
}

#[tokio::test]
async fn unknown_id_answers_earliest_and_replays_nothing() {
    let hub = Hub::with_directives("anonymous");
    publish_ids(&hub, TOPIC, &["d1", "d2"]).await;
    let mut s = open(&hub, "", &[("Last-Event-ID", "no-such-id")]).await;
    assert_eq!(s.header("last-event-id"), "earliest");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["marker"]);
    assert!(hub.wait_log("can't find requested Last-Event-ID").await);
}

#[tokio::test]
async fn earliest_replays_everything_kept() {
    let hub = Hub::with_directives("anonymous");
    publish_ids(&hub, TOPIC, &["e1"]).await;
    publish_ids(&hub, OTHER, &["o1"]).await;
    publish_ids(&hub, TOPIC, &["e2", "e3"]).await;
    let mut s = open(&hub, "", &[("Last-Event-ID", "earliest")]).await;
    assert_eq!(s.header("last-event-id"), "earliest");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["e1", "e2", "e3", "marker"]);
    // Without a cursor nothing is replayed and no Last-Event-ID header is sent.
    let mut s = open(&hub, "", &[]).await;
    assert!(s.headers.get("last-event-id").is_none());
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["marker"]);
}

#[tokio::test]
async fn the_default_local_history_keeps_1000_updates() {
    // `transport local` without `size` (the default transport is bolt).
    let hub = Hub::with_directives("anonymous\ntransport local");
    let (c, auth) = (client(), bearer(&publisher()));
    for i in 0..1001 {
        let r = c
            .post(hub.hub_url())
            .header("Authorization", &auth)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(&[("topic", TOPIC), ("id", &format!("k{i}"))]))
            .send()
            .await
            .expect("publish");
        assert_eq!(r.status(), 200);
    }
    let mut s = open(&hub, "", &[("Last-Event-ID", "earliest")]).await;
    assert!(s.read_until("id: k1000\n", T).await);
    assert!(s.read_until("\n\n", T).await);
    let got = ids(&s);
    assert_eq!(got.len(), 1000);
    assert_eq!(got[0], "k1");
    assert_eq!(got[999], "k1000");
    // k0 was evicted.
    let s = open(&hub, "", &[("Last-Event-ID", "k0")]).await;
    assert_eq!(s.header("last-event-id"), "earliest");
}

#[tokio::test]
async fn legacy_last_event_id_query_needs_compatibility_7() {
    let hub = Hub::with_directives("anonymous");
    publish_ids(&hub, TOPIC, &["f1", "f2"]).await;
    let mut s = open(&hub, "Last-Event-ID=f1", &[]).await;
    assert!(s.headers.get("last-event-id").is_none());
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["marker"]);
    assert!(hub.wait_log("needs protocol_version_compatibility 7").await);

    let compat = Hub::with_directives("anonymous\nprotocol_version_compatibility 7");
    publish_ids(&compat, TOPIC, &["f1", "f2"]).await;
    let mut s = open(&compat, "Last-Event-ID=f1", &[]).await;
    assert_eq!(s.header("last-event-id"), "f1");
    marker(&compat, &mut s).await;
    assert_eq!(ids(&s), vec!["f2", "marker"]);
    assert!(
        compat
            .wait_log("deprecated: the Last-Event-ID query parameter")
            .await
    );
    // lastEventID still wins over it.
    let mut s = open(&compat, "Last-Event-ID=f1&lastEventID=f2", &[]).await;
    assert_eq!(s.header("last-event-id"), "f2");
    marker(&compat, &mut s).await;
    assert_eq!(ids(&s), vec!["marker", "marker"]);
}

#[tokio::test]
async fn local_size_2_keeps_the_last_two() {
    let hub = Hub::with_directives("anonymous\ntransport local {\nsize 2\n}");
    publish_ids(&hub, TOPIC, &["g1", "g2", "g3", "g4"]).await;
    // g3 is still kept.
    let mut s = open(&hub, "", &[("Last-Event-ID", "g3")]).await;
    assert_eq!(s.header("last-event-id"), "g3");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["g4", "marker"]);
    // Now [g4, marker] are kept.
    let mut s = open(&hub, "", &[("Last-Event-ID", "earliest")]).await;
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["g4", "marker", "marker"]);
    // g2 was evicted.
    let mut s = open(&hub, "", &[("Last-Event-ID", "g2")]).await;
    assert_eq!(s.header("last-event-id"), "earliest");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["marker"]);
}

#[tokio::test]
async fn local_size_0_keeps_nothing() {
    let dir = std::env::temp_dir().join(format!(
        "qs-blackbox-history-{}-{}",
        std::process::id(),
        line!()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("mercure.conf");
    std::fs::write(&file, "anonymous\ntransport local {\n\tsize 0\n}\n").expect("config file");
    let hub = HubBuilder::new()
        .arg("--config")
        .arg(&file.display().to_string())
        .start();
    publish_ids(&hub, TOPIC, &["h1", "h2"]).await;
    let mut s = open(&hub, "", &[("Last-Event-ID", "earliest")]).await;
    assert_eq!(s.header("last-event-id"), "earliest");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["marker"]);
    let mut s = open(&hub, "", &[("Last-Event-ID", "h1")]).await;
    assert_eq!(s.header("last-event-id"), "earliest");
    marker(&hub, &mut s).await;
    assert_eq!(ids(&s), vec!["marker"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn private_updates_are_replayed_only_to_authorized_subscribers() {
    let hub = Hub::with_directives("anonymous");
    for (id, private) in [("p1", true), ("q1", false), ("p2", true)] {
        let mut f = vec![("topic", TOPIC), ("id", id), ("data", id)];
        if private {
            f.push(("private", "on"));
        }
        let (s, _) = publish(&hub, &publisher(), &f).await;
        assert_eq!(s, 200);
    }
    let earliest = [("Last-Event-ID", "earliest")];
    let mut anon = open(&hub, "", &earliest).await;
    marker(&hub, &mut anon).await;
    assert_eq!(ids(&anon), vec!["q1", "marker"]);

    let granted = bearer(&token(None, Some(&[TOPIC])));
    let mut ok = open(&hub, "", &[earliest[0], ("Authorization", &granted)]).await;
    marker(&hub, &mut ok).await;
    assert_eq!(ids(&ok), vec!["p1", "q1", "p2", "marker", "marker"]);

    let other = bearer(&token(None, Some(&[OTHER])));
    let mut no = open(&hub, "", &[earliest[0], ("Authorization", &other)]).await;
    marker(&hub, &mut no).await;
    assert_eq!(ids(&no), vec!["q1", "marker", "marker", "marker"]);
}

/// Publishes continuously while subscribers reconnect at various cursors: each must receive
/// exactly the contiguous sequence after its cursor (no gap at the replay/live boundary, no
/// duplicate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_and_concurrent_publishing_meet_without_gap_or_duplicate() {
    const N: usize = 2000;
    const SUBSCRIBERS: usize = 5;
    let hub = Hub::with_directives("anonymous");
    let (tx, rx) = tokio::sync::watch::channel(0usize);
    let (url, tok) = (hub.hub_url(), publisher());
    let publisher_task = tokio::spawn(async move {
        let c = client();
        for i in 0..N {
            let r = c
                .post(&url)
                .header("Authorization", format!("Bearer {tok}"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_body(&[("topic", TOPIC), ("id", &format!("s{i}"))]))
                .send()
                .await
                .expect("publish");
            assert_eq!(r.status(), 200);
            let _ = tx.send(i + 1);
        }
    });

    let subscriber = |k: usize| {
        let mut rx = rx.clone();
        let hub = &hub;
        async move {
            // Connect once 100 + 350k updates are out (the publisher goes on meanwhile),
            // resuming from an earlier one.
            let connect_at = 100 + 350 * k;
            let cursor = connect_at - 10 - 5 * k;
            rx.wait_for(|n| *n >= connect_at)
                .await
                .expect("publisher alive");
            let cursor_id = format!("s{cursor}");
            let mut s = open(hub, "", &[("Last-Event-ID", &cursor_id)]).await;
            assert_eq!(s.header("last-event-id"), cursor_id);
            // Whether the publisher was still going once this subscription was registered.
            let during = *rx.borrow() < N;
            let last = format!("id: s{}\n", N - 1);
            assert!(
                s.read_until(&last, Duration::from_secs(20)).await,
                "subscriber {k} stalled: {:?}",
                s.ids().last()
            );
            assert!(s.read_until(&format!("{last}data: \n\n"), T).await);
            (cursor, during, s.ids())
        }
    };
    let results = futures::future::join_all((0..SUBSCRIBERS).map(subscriber)).await;
    publisher_task.await.expect("publisher task");
    assert!(
        results.iter().any(|(_, during, _)| *during),
        "every subscriber connected after publishing ended: nothing concurrent was tested"
    );
    for (k, (cursor, _, ids)) in results.into_iter().enumerate() {
        let expected: Vec<String> = (cursor + 1..N).map(|i| format!("s{i}")).collect();
        assert_eq!(ids, expected, "subscriber {k} resuming after s{cursor}");
    }
}
