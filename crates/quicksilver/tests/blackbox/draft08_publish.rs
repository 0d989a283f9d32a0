//! Draft-08 publishing, checklist items 19-30 (§1.4, spec §Publication): the form, the 200
//! answer, ids (generated and supplied), the validation of `id`, `type`, `retry` and topics
//! (`*` and the reserved `/.well-known/mercure` namespace after normalisation), unknown fields,
//! `private`, the publish grants (403 `insufficient_scope`) and the size limits (413).
//!
//! Every refusal is also checked to have dispatched nothing: a subscriber of `*` allowed every
//! private update sees only the marker published after the refusal.

use crate::common::*;
use crate::draft08_common::*;

const BOOK: &str = "https://example.com/books/1";

/// Publishes `fields` with `token`, expects `status`, and checks nothing reached `watcher`.
async fn refused(
    hub: &Hub08,
    watcher: &mut Sse,
    token: &str,
    fields: &[(&str, &str)],
    status: u16,
) {
    let r = pub08(hub, token, fields).await;
    assert_eq!(r.status, status, "{fields:?}: {:?}", r.body);
    assert_nothing_dispatched(hub, watcher).await;
}

/// `urn:uuid:` + an RFC 9562 version-7 UUID in lowercase.
fn assert_uuid_v7_urn(s: &str) {
    let u = s
        .strip_prefix("urn:uuid:")
        .unwrap_or_else(|| panic!("{s:?} is not a urn:uuid IRI"));
    let parts: Vec<&str> = u.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, [8, 4, 4, 4, 12], "{s:?}");
    assert!(
        u.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{s:?}"
    );
    assert!(parts[2].starts_with('7'), "not a version-7 UUID: {s:?}");
    assert!(
        parts[3].starts_with(['8', '9', 'a', 'b']),
        "not an RFC 9562 variant: {s:?}"
    );
}

#[tokio::test]
async fn c19_publish_without_topic_is_400() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    refused(&hub, &mut w, &t, &[("data", "x"), ("id", "no-topic")], 400).await;
    refused(&hub, &mut w, &t, &[], 400).await;
    // Topic-like names that are not `topic`.
    refused(&hub, &mut w, &t, &[("Topic", BOOK), ("topics", BOOK)], 400).await;
    // Not form-encoded: the form is empty, so no topic.
    let auth = bearer(&t);
    for ct in [
        "text/plain",
        "application/json",
        "multipart/form-data; boundary=x",
    ] {
        let r = post_raw(
            &hub,
            &[("Authorization", &auth), ("Content-Type", ct)],
            format!("topic={}", enc(BOOK)),
        )
        .await;
        assert_eq!(r.status, 400, "{ct}: {}", r.body);
    }
    let r = post_raw(
        &hub,
        &[("Authorization", &auth)],
        format!("topic={}", enc(BOOK)),
    )
    .await;
    assert_eq!(r.status, 400, "no Content-Type");
    assert_nothing_dispatched(&hub, &mut w).await;
}

#[tokio::test]
async fn c20_success_is_200_text_plain_utf8_with_the_id_as_body() {
    let hub = Hub08::start("");
    let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK), ("id", "the-id")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.body, "the-id");
    // With a charset parameter on the request, still a form.
    let r = post_raw(
        &hub,
        &[
            ("Authorization", &bearer(&hub.publisher())),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
        format!("topic={}&id=with-charset", enc(BOOK)),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "with-charset"));
}

#[tokio::test]
async fn c21_generated_ids_are_unique_urn_uuid_v7_iris() {
    let hub = Hub08::start("anonymous");
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK)]).await;
        assert_eq!(r.status, 200);
        assert_uuid_v7_urn(&r.body);
        ids.push(r.body);
    }
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2]);
    wait_id(&mut s, &ids[2]).await;
    assert_eq!(s.ids(), ids, "the SSE ids are the returned ones");
}

#[tokio::test]
async fn c22_publisher_supplied_id_is_kept() {
    let hub = Hub08::start("anonymous");
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    for id in [
        "https://example.com/events/1",
        "urn:uuid:1e0c0000-0000-4000-8000-000000000000",
        "a#b",
        "earliest-but-not-quite",
        "caf\u{e9} 1",
    ] {
        let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK), ("id", id)]).await;
        assert_eq!((r.status, r.body.as_str()), (200, id));
        wait_id(&mut s, id).await;
    }
}

#[tokio::test]
async fn c23_ids_starting_with_hash_equal_to_earliest_or_with_control_chars_are_400() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    for id in [
        "#",
        "#fragment",
        "earliest",
        "a\u{0}b",
        "a\tb",
        "a\nb",
        "a\rb",
        "a\u{7f}",
        "a\u{85}",
        "a\u{9f}",
        "a\u{ad}b",
        "a\u{200b}b",
        "\u{feff}a",
        "a\u{e0001}",
    ] {
        refused(&hub, &mut w, &t, &[("topic", BOOK), ("id", id)], 400).await;
    }
}

#[tokio::test]
async fn c24_type_with_control_chars_or_equal_to_mercure_is_400() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    for ty in [
        "mercure",
        "a\nb",
        "a\rb",
        "a\u{0}",
        "a\tb",
        "a\u{85}",
        "a\u{200b}",
    ] {
        refused(&hub, &mut w, &t, &[("topic", BOOK), ("type", ty)], 400).await;
    }
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), Some(&hub.subscriber())).await;
    let r = pub08(
        &hub,
        &t,
        &[("topic", BOOK), ("type", "mercure-like"), ("id", "typed")],
    )
    .await;
    assert_eq!(r.status, 200);
    wait_id(&mut s, "typed").await;
    assert_eq!(s.text(), "event: mercure-like\nid: typed\ndata: \n\n");
}

#[tokio::test]
async fn c25_retry_that_is_not_ascii_digits_is_400() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    for retry in [
        "abc", "-1", "+3", "1.5", " 3000", "3000 ", "0x10", "1e3", "\u{ff11}",
    ] {
        refused(&hub, &mut w, &t, &[("topic", BOOK), ("retry", retry)], 400).await;
    }
    let r = pub08(&hub, &t, &[("topic", BOOK), ("retry", "0042"), ("id", "r")]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn c26_star_and_reserved_namespace_topics_are_400() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    let own = hub.url("/.well-known/mercure/subscriptions/exact/a/b");
    let reserved = [
        "*",
        // Resolves to the hub URL itself.
        "",
        "/.well-known/mercure",
        "/.well-known/mercure/",
        "/.well-known/mercure/subscriptions/exact/x/urn%3Auuid%3A1",
        "https://hub.example.com/.well-known/mercure/subscriptions",
        "http://other.example/.well-known/mercure/x",
        own.as_str(),
        // Relative references resolved against the hub URL.
        "mercure/subscriptions/foo",
        "./mercure",
        // Dot segments and percent-encoded unreserved characters.
        "/.well-known/mercure/../mercure/x",
        "/foo/../.well-known/mercure",
        "/.well-known/./mercure",
        "https://example.com/.well-known/%6Dercure/subscriptions/x",
        "https://example.com/.well-known/%6dercure",
        "/.well-known/me%72cure/x",
        "/%2Ewell-known/mercure",
    ];
    for topic in reserved {
        refused(&hub, &mut w, &t, &[("topic", topic)], 400).await;
        // As an alternate topic too.
        refused(&hub, &mut w, &t, &[("topic", BOOK), ("topic", topic)], 400).await;
    }
    // Look-alikes outside the namespace are fine.
    for topic in [
        "https://example.com/.well-known/mercureXXX",
        "https://example.com/.well-known/mercure-dashboard",
        "https://example.com/foo/.well-known/mercure/bar",
        "subscriptions/foo",
        "bar",
        "../mercure/x",
        "urn:example:mercure",
        "a topic with spaces",
        "**",
    ] {
        let r = pub08(&hub, &t, &[("topic", topic)]).await;
        assert_eq!(r.status, 200, "{topic:?}: {}", r.body);
    }
}

#[tokio::test]
async fn c26_topics_with_control_or_format_characters_or_bad_utf8_are_400() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    for topic in [
        "https://example.com/a\u{0}",
        "https://example.com/a\nb",
        "https://example.com/a\u{7f}",
        "https://example.com/a\u{85}",
        "https://example.com/a\u{200e}",
        "https://example.com/\u{feff}",
    ] {
        refused(&hub, &mut w, &t, &[("topic", topic)], 400).await;
    }
    // Invalid UTF-8 in a topic, in data.
    let auth = bearer(&t);
    for body in [
        "topic=https%3A%2F%2Fexample.com%2F%FF".to_string(),
        format!("topic={}&data=%C3%28", enc(BOOK)),
    ] {
        let r = post_raw(&hub, &[("Authorization", &auth), FORM], body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
    }
    assert_nothing_dispatched(&hub, &mut w).await;
}

#[tokio::test]
async fn c27_unknown_fields_are_ignored() {
    let hub = Hub08::start("anonymous");
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    let r = pub08(
        &hub,
        &hub.publisher(),
        &[
            ("topic", BOOK),
            ("id", "u1"),
            ("data", "d"),
            ("foo", "bar"),
            ("mercure", "x"),
            ("lastEventID", "y"),
            ("Private", "on"),
            ("match", "z"),
        ],
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "u1"));
    wait_id(&mut s, "u1").await;
    // `Private` is not `private`: the update is public.
    assert_eq!(s.text(), "id: u1\ndata: d\n\n");
}

#[tokio::test]
async fn c28_the_presence_of_private_makes_an_update_private_whatever_its_value() {
    let hub = Hub08::start("anonymous");
    let mut anonymous = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    let mut granted = sub08(&hub, &q(&[("match", BOOK)]), Some(&hub.subscriber())).await;
    let mut ids = Vec::new();
    for (i, value) in ["on", "", "off", "false", "0"].iter().enumerate() {
        let id = format!("p{i}");
        let r = pub08(
            &hub,
            &hub.publisher(),
            &[("topic", BOOK), ("private", value), ("id", &id)],
        )
        .await;
        assert_eq!(r.status, 200);
        ids.push(id);
    }
    // A bare name without `=`.
    let r = post_raw(
        &hub,
        &[("Authorization", &bearer(&hub.publisher())), FORM],
        format!("topic={}&id=bare&private", enc(BOOK)),
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "bare"));
    ids.push("bare".into());
    pub08_ok(&hub, &[("topic", BOOK), ("id", "public")]).await;
    ids.push("public".into());
    wait_id(&mut granted, "public").await;
    assert_eq!(granted.ids(), ids);
    wait_id(&mut anonymous, "public").await;
    assert_eq!(anonymous.ids(), ["public"]);
}

#[tokio::test]
async fn c29_token_must_grant_publish_on_every_topic_else_403_and_nothing_dispatched() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let insufficient = hub.challenge_err("insufficient_scope");
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        (hub.token(&[ex(BOOK)], &[]), vec![("topic", BOOK)], 200),
        (
            hub.token(&[ex(BOOK)], &[]),
            vec![("topic", BOOK), ("topic", "https://example.com/books/2")],
            403,
        ),
        (
            hub.token(&[ex(BOOK)], &[]),
            vec![("topic", "https://example.com/books/2")],
            403,
        ),
        (
            hub.token(&[up("https://example.com/books/:id")], &[]),
            vec![("topic", "https://example.com/books/7")],
            200,
        ),
        (
            hub.token(&[up("https://example.com/books/:id")], &[]),
            vec![("topic", "https://example.com/books/7/reviews")],
            403,
        ),
        (
            hub.token(&[up("https://example.com/books/:id")], &[]),
            vec![("topic", BOOK), ("topic", "https://example.com/authors/1")],
            403,
        ),
        // `match_type` defaults to exact: a pattern-looking exact grant covers only itself.
        (
            hub.token(&[ex("https://example.com/books/:id")], &[]),
            vec![("topic", BOOK)],
            403,
        ),
        // Subscribe grants do not allow publishing; no grant at all neither.
        (hub.token(&[], &[ex("*")]), vec![("topic", BOOK)], 403),
        (hub.token(&[], &[]), vec![("topic", BOOK)], 403),
        // Private updates need the same grant.
        (
            hub.token(&[ex(BOOK)], &[]),
            vec![("topic", "https://example.com/books/2"), ("private", "on")],
            403,
        ),
    ];
    for (token, fields, status) in cases {
        let r = pub08(&hub, &token, &fields).await;
        assert_eq!(r.status, status, "{fields:?}: {}", r.body);
        if status == 403 {
            assert_eq!(r.header("www-authenticate"), insufficient, "{fields:?}");
            assert_nothing_dispatched(&hub, &mut w).await;
        } else {
            // The accepted one did reach the watcher.
            let events = wait_id(&mut w, &r.body).await;
            assert_eq!(events.len(), 1);
            w.buf.clear();
        }
    }
}

#[tokio::test]
async fn c30_request_body_over_the_limit_is_413() {
    // Default limit: 1 MiB.
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    let mut big = format!("topic={}&data=", enc(BOOK));
    big.push_str(&"a".repeat(1024 * 1024));
    let r = client()
        .post(hub.hub_url())
        .header("Authorization", bearer(&t))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status().as_u16(), 413),
        // The hub may answer before reading the whole body and close the connection; the
        // client then sees a write error instead of the 413 (nothing was dispatched either way).
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    assert_nothing_dispatched(&hub, &mut w).await;
    // Just under the limit passes.
    let almost = "a".repeat(1024 * 1024 - 200);
    let r = pub08(&hub, &t, &[("topic", BOOK), ("data", &almost)]).await;
    assert_eq!(r.status, 200);
    // A configured limit.
    let small = Hub08::start("max_request_body_size 1KB");
    let mut w = watch_all(&small).await;
    let t = small.publisher();
    refused(
        &small,
        &mut w,
        &t,
        &[("topic", BOOK), ("data", &"a".repeat(2000))],
        413,
    )
    .await;
    let r = pub08(&small, &t, &[("topic", BOOK), ("data", &"a".repeat(500))]).await;
    assert_eq!(r.status, 200);
}

/// More than 1000 topics: the spec says 413 for exceeded limits, the reference answers 400
/// (gotcha 7 of the protocol reference); either refusal is accepted, nothing may be dispatched.
#[tokio::test]
async fn c30_more_than_1000_topics_is_refused() {
    let hub = Hub08::start("");
    let mut w = watch_all(&hub).await;
    let t = hub.publisher();
    let topics: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let mut fields: Vec<(&str, &str)> = topics.iter().map(|x| ("topic", x.as_str())).collect();
    let r = pub08(&hub, &t, &fields).await;
    assert!(matches!(r.status, 400 | 413), "{}: {}", r.status, r.body);
    assert_nothing_dispatched(&hub, &mut w).await;
    fields.pop();
    let r = pub08(&hub, &t, &fields).await;
    assert_eq!(r.status, 200, "1000 topics");
}

#[tokio::test]
async fn c30_max_request_body_size_zero_means_no_hub_limit() {
    let hub = Hub08::start("max_request_body_size 0");
    let data = "a".repeat(2 * 1024 * 1024);
    let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK), ("data", &data)]).await;
    assert_eq!(r.status, 200);
}
