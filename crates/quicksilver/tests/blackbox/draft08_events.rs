//! Draft-08 events and their data, checklist items 15-18 (§1.2 "Event serialization", §1.3
//! delivery rule, §1.5 private updates, Appendix A): the exact SSE bytes of an update, one
//! `data:` line per line of data, every event carrying an id, private updates reaching only
//! subscribers granted one of their topics, and alternate topics both for routing and for
//! authorization.

use crate::common::*;
use crate::draft08_common::*;

const BOOK: &str = "https://example.com/books/1";

/// Publishes and returns the raw text of the one event `s` received for it.
async fn event_text(hub: &Hub08, s: &mut Sse, fields: &[(&str, &str)]) -> String {
    s.buf.clear();
    let id = pub08_ok(hub, fields).await;
    let events = wait_id(s, &id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    s.text()
}

#[tokio::test]
async fn c15_data_is_split_into_one_data_line_per_line() {
    let hub = Hub08::start("anonymous");
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    for (id, data, expected) in [
        (
            "crlf-cr-lf",
            "a\r\nb\rc\nd",
            "id: crlf-cr-lf\ndata: a\ndata: b\ndata: c\ndata: d\n\n",
        ),
        ("empty", "", "id: empty\ndata: \n\n"),
        ("trailing", "a\n", "id: trailing\ndata: a\ndata: \n\n"),
        (
            "blank-lines",
            "a\n\nb",
            "id: blank-lines\ndata: a\ndata: \ndata: b\n\n",
        ),
        // An attempt to smuggle a second event (or a reserved `event: mercure`) stays data.
        (
            "inject",
            "x\n\nid: forged\nevent: mercure\r\ndata: y",
            "id: inject\ndata: x\ndata: \ndata: id: forged\ndata: event: mercure\ndata: data: y\n\n",
        ),
    ] {
        let text = event_text(&hub, &mut s, &[("topic", BOOK), ("id", id), ("data", data)]).await;
        assert_eq!(text, expected, "{id}");
    }
    // No `data` field at all: an empty data line still (an event without data is not
    // dispatched by EventSource).
    let text = event_text(&hub, &mut s, &[("topic", BOOK), ("id", "no-data")]).await;
    assert_eq!(text, "id: no-data\ndata: \n\n");
}

#[tokio::test]
async fn c16_id_event_and_retry_are_emitted_as_published() {
    let hub = Hub08::start("anonymous");
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    // Appendix A's example.
    let text = event_text(
        &hub,
        &mut s,
        &[
            ("topic", BOOK),
            ("data", "{\"a\":1}\nline2"),
            ("type", "book"),
            ("retry", "3000"),
            ("id", "urn:uuid:0190f0a4-0000-7000-8000-000000000001"),
        ],
    )
    .await;
    assert_eq!(
        text,
        "event: book\nretry: 3000\nid: urn:uuid:0190f0a4-0000-7000-8000-000000000001\n\
         data: {\"a\":1}\ndata: line2\n\n"
    );
    // Only the fields that were published: no event type, no retry.
    let text = event_text(
        &hub,
        &mut s,
        &[("topic", BOOK), ("id", "plain"), ("data", "d")],
    )
    .await;
    assert_eq!(text, "id: plain\ndata: d\n\n");
    // Every event has an id: the generated one is the publish response body.
    s.buf.clear();
    let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK), ("data", "gen")]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("urn:uuid:"), "{}", r.body);
    wait_id(&mut s, &r.body).await;
    assert_eq!(s.text(), format!("id: {}\ndata: gen\n\n", r.body));
}

#[tokio::test]
async fn c17_private_updates_only_reach_subscribers_granted_one_of_their_topics() {
    let hub = Hub08::start("anonymous");
    let query = q(&[("match", "*")]);
    let mut anonymous = sub08(&hub, &query, None).await;
    let mut granted = sub08(&hub, &query, Some(&hub.token(&[], &[ex(BOOK)]))).await;
    let mut pattern = sub08(
        &hub,
        &query,
        Some(&hub.token(&[], &[up("https://example.com/books/:id")])),
    )
    .await;
    let mut other = sub08(
        &hub,
        &query,
        Some(&hub.token(&[], &[ex("https://example.com/books/2")])),
    )
    .await;
    // A valid token without any subscribe grant is accepted, and gets public updates only.
    let mut publish_only = sub08(&hub, &query, Some(&hub.token(&[ex("*")], &[]))).await;
    let mut no_grants = sub08(&hub, &query, Some(&hub.token(&[], &[]))).await;
    let r = pub08(
        &hub,
        &hub.publisher(),
        &[("topic", BOOK), ("private", "on"), ("id", "secret")],
    )
    .await;
    assert_eq!(r.status, 200);
    pub08_ok(&hub, &[("topic", BOOK), ("id", "public")]).await;
    for (name, s, expected) in [
        ("granted", &mut granted, vec!["secret", "public"]),
        ("pattern", &mut pattern, vec!["secret", "public"]),
        ("anonymous", &mut anonymous, vec!["public"]),
        ("other", &mut other, vec!["public"]),
        ("publish_only", &mut publish_only, vec!["public"]),
        ("no_grants", &mut no_grants, vec!["public"]),
    ] {
        wait_id(s, "public").await;
        assert_eq!(s.ids(), expected, "{name}");
    }
}

#[tokio::test]
async fn c17_a_hub_without_subscriber_key_never_delivers_private_updates() {
    // Anonymous-only: tokens are not even read, so a token granting everything (or garbage)
    // changes nothing.
    let hub = Hub08::from_builder(
        HubBuilder::new().unset("MERCURE_SUBSCRIBER_JWT_KEY"),
        "anonymous",
    );
    let query = q(&[("match", "*")]);
    let mut with_token = sub08(&hub, &query, Some(&hub.subscriber())).await;
    let garbage = "x".repeat(60);
    let mut with_garbage = sub08(&hub, &query, Some(&garbage)).await;
    let r = pub08(
        &hub,
        &hub.publisher(),
        &[("topic", BOOK), ("private", "on"), ("id", "secret")],
    )
    .await;
    assert_eq!(r.status, 200);
    pub08_ok(&hub, &[("topic", BOOK), ("id", "public")]).await;
    for s in [&mut with_token, &mut with_garbage] {
        wait_id(s, "public").await;
        assert_eq!(s.ids(), ["public"]);
    }
}

#[tokio::test]
async fn c18_alternate_topics_route_and_authorize_as_a_set() {
    let hub = Hub08::start("anonymous");
    // Routing on an alternate topic (public update).
    let mut alt_route = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    // Appendix A: routing on the canonical topic, grant on a per-user alternate topic.
    let books = q(&[("match_urlpattern", "https://example.com/books/:id")]);
    let mut user42 = sub08(
        &hub,
        &books,
        Some(&hub.token(&[], &[up("https://example.com/users/42/*")])),
    )
    .await;
    let mut user43 = sub08(
        &hub,
        &books,
        Some(&hub.token(&[], &[up("https://example.com/users/43/*")])),
    )
    .await;
    // Routing on the alternate, grant on the canonical topic.
    let mut crossed = sub08(
        &hub,
        &q(&[("match", "https://example.com/users/42/books/1")]),
        Some(&hub.token(&[], &[ex(BOOK)])),
    )
    .await;

    let publisher = hub.publisher();
    for fields in [
        vec![
            ("topic", "https://example.com/elsewhere"),
            ("topic", BOOK),
            ("id", "public-alt"),
        ],
        vec![
            ("topic", BOOK),
            ("topic", "https://example.com/users/42/books/1"),
            ("private", "on"),
            ("id", "for-42"),
        ],
        vec![
            ("topic", "https://example.com/books/2"),
            ("topic", "https://example.com/users/43/books/2"),
            ("private", "on"),
            ("id", "for-43"),
        ],
        // Grant on one topic, no subscriber's matcher on any: routed nowhere.
        vec![
            ("topic", "https://example.com/users/42/books/9"),
            ("private", "on"),
            ("id", "unrouted"),
        ],
        vec![
            ("topic", BOOK),
            ("topic", "https://example.com/users/42/books/1"),
            ("topic", "https://example.com/books/3"),
            ("id", "end"),
        ],
    ] {
        let r = pub08(&hub, &publisher, &fields).await;
        assert_eq!(r.status, 200, "{fields:?}: {}", r.body);
    }
    wait_id(&mut alt_route, "end").await;
    assert_eq!(alt_route.ids(), ["public-alt", "end"]);
    wait_id(&mut user42, "end").await;
    assert_eq!(user42.ids(), ["public-alt", "for-42", "end"]);
    wait_id(&mut user43, "end").await;
    assert_eq!(user43.ids(), ["public-alt", "for-43", "end"]);
    wait_id(&mut crossed, "end").await;
    assert_eq!(crossed.ids(), ["for-42", "end"]);
}
