//! Draft-08 active subscriptions, checklist items 50-57 (§1.7, spec §Active Subscriptions):
//! the subscription events (topic `/.well-known/mercure/subscriptions/{match_type}/{match}/
//! {subscriber}` with each variable percent-encoded once, the JSON document indented by two
//! spaces as the reference writes it, `event: mercure`, private), hub-generated subscriber ids,
//! the subscriptions API (collection, per-matcher collection, single subscription, 404, 400),
//! its authorization (403 / 401), its `Link` / `ETag` headers and 304, and the payload
//! selection from the token.

use serde_json::{Value, json};

use crate::common::*;
use crate::draft08_common::*;

/// Selects every subscription event (and, as a grant, every API URL below the collection).
const PRESENCE: &str = "/.well-known/mercure/subscriptions/:match_type/:match/:subscriber";
const API: &str = "/.well-known/mercure/subscriptions";
const BOOKS: &str = "https://example.com/books/:id";

/// (SSE event type, SSE id, reassembled data) of a raw event; panics on any other field.
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

/// `urn:uuid:` + a lowercase UUID.
fn assert_urn_uuid(s: &str) {
    let u = s
        .strip_prefix("urn:uuid:")
        .unwrap_or_else(|| panic!("{s:?} is not a urn:uuid"));
    let lens: Vec<usize> = u.split('-').map(str::len).collect();
    assert_eq!(lens, [8, 4, 4, 4, 12], "{s:?}");
    assert!(
        u.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{s:?}"
    );
}

/// The subscription topic / document id.
fn topic(match_type: &str, m: &str, subscriber: &str) -> String {
    format!("{API}/{match_type}/{}/{}", seg(m), seg(subscriber))
}

/// The subscription document exactly as the reference indents it (`json.MarshalIndent(..,
/// "", "  ")`, fields in the reference's order); `payload` is the already-indented JSON of
/// the payload at the document's nesting level. Lines after the first are prefixed by `pad`
/// (documents nested in a collection).
fn doc(match_type: &str, m: &str, subscriber: &str, active: bool, payload: Option<&str>) -> String {
    let mut fields = vec![
        format!("  \"id\": \"{}\"", topic(match_type, m, subscriber)),
        "  \"type\": \"subscription\"".to_string(),
        format!("  \"subscriber\": \"{subscriber}\""),
        format!("  \"match\": \"{}\"", go_json(m)),
        format!("  \"match_type\": \"{match_type}\""),
        format!("  \"active\": {active}"),
    ];
    if let Some(p) = payload {
        fields.push(format!("  \"payload\": {p}"));
    }
    format!("{{\n{}\n}}", fields.join(",\n"))
}

/// A string as Go's `encoding/json` writes it by default (what the reference hub sends):
/// `"` and `\` escaped, and `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`.
fn go_json(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out
}

fn indent(doc: &str, pad: &str) -> String {
    doc.lines().collect::<Vec<_>>().join(&format!("\n{pad}"))
}

/// A collection document as the reference writes it.
fn collection(id: &str, docs: &[String]) -> String {
    if docs.is_empty() {
        return format!(
            "{{\n  \"id\": \"{id}\",\n  \"type\": \"subscriptions\",\n  \"subscriptions\": []\n}}"
        );
    }
    let items: Vec<String> = docs
        .iter()
        .map(|d| format!("    {}", indent(d, "    ")))
        .collect();
    format!(
        "{{\n  \"id\": \"{id}\",\n  \"type\": \"subscriptions\",\n  \"subscriptions\": [\n{}\n  ]\n}}",
        items.join(",\n")
    )
}

/// A watcher of every subscription event, allowed to receive them; its own subscription
/// event (the first one it gets) is checked and dropped. Returns it with its subscriber id.
async fn watcher(hub: &Hub08) -> (Sse, String) {
    let mut w = sub08(
        hub,
        &q(&[("match_urlpattern", PRESENCE)]),
        Some(&hub.subscriber()),
    )
    .await;
    let (ty, _, data) = parse(&nth_event(&mut w, 0).await);
    assert_eq!(ty, "mercure");
    let d: Value = serde_json::from_str(&data).expect("JSON document");
    assert_eq!(d["match"], PRESENCE);
    assert_eq!(d["match_type"], "urlpattern");
    let me = d["subscriber"].as_str().expect("subscriber").to_string();
    w.buf.clear();
    (w, me)
}

/// The next subscription event on `w` (which is then cleared): (SSE id, data, subscriber).
async fn next_presence(w: &mut Sse) -> (String, String, String) {
    let (ty, id, data) = parse(&nth_event(w, 0).await);
    assert_eq!(ty, "mercure", "subscription events carry `event: mercure`");
    let d: Value = serde_json::from_str(&data).expect("JSON document");
    let subscriber = d["subscriber"].as_str().expect("subscriber").to_string();
    // Drop exactly the first event from the buffer.
    let text = w.text();
    let end = text.find("\n\n").expect("complete event") + 2;
    w.buf.drain(..end);
    (id, data, subscriber)
}

/// GET an API path with a token.
async fn api(hub: &Hub08, path: &str, token: Option<&str>, extra: &[(&str, &str)]) -> Reply {
    let auth = token.map(bearer);
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let r = hub.http_get(path, &headers).await;
    let status = r.status().as_u16();
    let h = r.headers().clone();
    Reply {
        status,
        headers: h,
        body: r.text().await.unwrap_or_default(),
    }
}

fn link(last_event_id_quoted: &str) -> String {
    format!(
        "</.well-known/mercure>; rel=\"mercure\"; last-event-id=\"{last_event_id_quoted}\"; \
         type=\"mercure\"; content-type=\"application/json\""
    )
}

#[tokio::test]
async fn c50_c51_c52_subscription_events_on_connect_and_disconnect() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let (mut w, me) = watcher(&hub).await;
    assert_urn_uuid(&me);
    let token = hub.token(&[], &[with_payload(up(BOOKS), json!({"foo": "bar"}))]);
    let client = sub08(&hub, &q(&[("match_urlpattern", BOOKS)]), Some(&token)).await;

    let raw = nth_event(&mut w, 0).await;
    let (_, event_id, data) = parse(&raw);
    assert_urn_uuid(&event_id);
    let d: Value = serde_json::from_str(&data).expect("JSON");
    let subscriber = d["subscriber"].as_str().expect("subscriber").to_string();
    assert_urn_uuid(&subscriber);
    assert_ne!(subscriber, me);
    let payload = "{\n    \"foo\": \"bar\"\n  }";
    let expected_doc = doc("urlpattern", BOOKS, &subscriber, true, Some(payload));
    assert_eq!(data, expected_doc);
    // The exact SSE bytes: event type, id, one data line per JSON line.
    let data_lines: String = expected_doc
        .lines()
        .map(|l| format!("data: {l}\n"))
        .collect();
    assert_eq!(
        w.text(),
        format!("event: mercure\nid: {event_id}\n{data_lines}\n")
    );
    assert_eq!(
        d["id"],
        format!(
            "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/{}",
            subscriber.replace(':', "%3A")
        )
    );
    w.buf.clear();

    drop(client);
    let (gone_id, gone, gone_subscriber) = next_presence(&mut w).await;
    assert_ne!(gone_id, event_id);
    assert_eq!(gone_subscriber, subscriber);
    assert_eq!(
        gone,
        doc("urlpattern", BOOKS, &subscriber, false, Some(payload))
    );
}

#[tokio::test]
async fn c50_each_variable_is_percent_encoded_exactly_once() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let (mut w, _) = watcher(&hub).await;
    let m = "https://example.com/a b/%41?x=1&y=\u{e9}+";
    let _client = sub08(&hub, &q(&[("match", m)]), None).await;
    let (_, data, subscriber) = next_presence(&mut w).await;
    let d: Value = serde_json::from_str(&data).expect("JSON");
    assert_eq!(
        d["id"],
        format!(
            "/.well-known/mercure/subscriptions/exact/\
             https%3A%2F%2Fexample.com%2Fa%20b%2F%2541%3Fx%3D1%26y%3D%C3%A9%2B/{}",
            subscriber.replace(':', "%3A")
        )
    );
    assert_eq!(d["match"], m);
    assert_eq!(data, doc("exact", m, &subscriber, true, None));
}

#[tokio::test]
async fn c50_one_event_per_matcher_value_same_subscriber() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let (mut w, _) = watcher(&hub).await;
    let _client = sub08(
        &hub,
        &q(&[
            ("match", "https://example.com/a"),
            ("match_urlpattern", BOOKS),
            ("match_exact", "https://example.com/c"),
        ]),
        None,
    )
    .await;
    let mut seen = Vec::new();
    let mut subscribers = Vec::new();
    for _ in 0..3 {
        let (_, data, subscriber) = next_presence(&mut w).await;
        let d: Value = serde_json::from_str(&data).expect("JSON");
        seen.push((
            d["match_type"].as_str().unwrap_or_default().to_string(),
            d["match"].as_str().unwrap_or_default().to_string(),
        ));
        subscribers.push(subscriber);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("exact".to_string(), "https://example.com/a".to_string()),
            ("exact".to_string(), "https://example.com/c".to_string()),
            ("urlpattern".to_string(), BOOKS.to_string()),
        ]
    );
    assert!(
        subscribers.iter().all(|s| *s == subscribers[0]),
        "{subscribers:?}"
    );
}

#[tokio::test]
async fn c50_subscription_events_are_private() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let a = "https://example.com/a";
    let mut anon_all = sub08(&hub, &q(&[("match", "*")]), None).await;
    let mut anon_presence = sub08(
        &hub,
        &q(&[("match_urlpattern", PRESENCE), ("match", a)]),
        None,
    )
    .await;
    // A token granting something else does not see them either.
    let mut other = sub08(&hub, &q(&[("match", "*")]), Some(&hub.token(&[], &[ex(a)]))).await;
    // A granted subscriber does (control).
    let mut granted = sub08(&hub, &q(&[("match", "*")]), Some(&hub.subscriber())).await;
    let _client = sub08(&hub, &q(&[("match", a)]), None).await;
    pub08_ok(&hub, &[("topic", a), ("id", "after")]).await;
    for (name, s) in [
        ("anonymous *", &mut anon_all),
        ("anonymous presence pattern", &mut anon_presence),
        ("other grant", &mut other),
    ] {
        wait_id(s, "after").await;
        assert_eq!(s.ids(), ["after"], "{name}: {:?}", s.text());
    }
    wait_id(&mut granted, "after").await;
    // Its own subscription event, the client's, then the update.
    let events = granted.complete_events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[0].starts_with("event: mercure\n"), "{events:?}");
    assert!(events[1].starts_with("event: mercure\n"), "{events:?}");
}

#[tokio::test]
async fn c53_subscriber_ids_are_hub_generated_and_unique_per_connection() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let (mut w, _) = watcher(&hub).await;
    let token = hub.token(&[], &[ex("*")]);
    let forged = "urn:uuid:00000000-0000-4000-8000-000000000000";
    let query = format!(
        "{}&subscriber={}",
        q(&[("match", "https://example.com/a")]),
        enc(forged)
    );
    let _one = sub08_with(
        &hub,
        &query,
        &[("Authorization", &bearer(&token)), ("Subscriber", forged)],
    )
    .await;
    let (_, _, first) = next_presence(&mut w).await;
    let _two = sub08(&hub, &query, Some(&token)).await;
    let (_, _, second) = next_presence(&mut w).await;
    assert_urn_uuid(&first);
    assert_urn_uuid(&second);
    assert_ne!(first, second, "same token, two connections");
    assert_ne!(first, forged);
    assert_ne!(second, forged);
}

#[tokio::test]
async fn c54_subscriptions_api_collection_per_matcher_and_single() {
    let hub = Hub08::start("subscriptions");
    let (mut w, me) = watcher(&hub).await;
    let api_token = hub.subscriber();
    let a_token = hub.token(&[], &[with_payload(ex("*"), json!({"who": "a"}))]);
    let a = sub08(
        &hub,
        &q(&[("match", "https://example.com/a")]),
        Some(&a_token),
    )
    .await;
    let (_, _, a_id) = next_presence(&mut w).await;
    let b = sub08(
        &hub,
        &q(&[("match_urlpattern", BOOKS)]),
        Some(&hub.token(&[], &[])),
    )
    .await;
    let (_, _, b_id) = next_presence(&mut w).await;
    let a_payload = "{\n    \"who\": \"a\"\n  }";
    let a_doc = doc(
        "exact",
        "https://example.com/a",
        &a_id,
        true,
        Some(a_payload),
    );
    let b_doc = doc("urlpattern", BOOKS, &b_id, true, None);
    let me_doc = doc("urlpattern", PRESENCE, &me, true, None);

    // The collection: every active subscription (order not specified).
    let r = api(&hub, API, Some(&api_token), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    let body: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(body["id"], API);
    assert_eq!(body["type"], "subscriptions");
    let mut got: Vec<Value> = body["subscriptions"].as_array().expect("array").clone();
    got.sort_by_key(|d| d["subscriber"].as_str().unwrap_or_default().to_string());
    let mut expected: Vec<Value> = [&a_doc, &b_doc, &me_doc]
        .iter()
        .map(|d| serde_json::from_str(d).expect("expected doc is JSON"))
        .collect();
    expected.sort_by_key(|d| d["subscriber"].as_str().unwrap_or_default().to_string());
    assert_eq!(got, expected);
    // Two-space indentation, as the reference.
    assert!(r.body.starts_with("{\n  \"id\": "), "{:?}", r.body);

    // Per matcher: exact bytes.
    let per_a = format!("{API}/exact/{}", seg("https://example.com/a"));
    let r = api(&hub, &per_a, Some(&api_token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.body.trim_end_matches('\n'),
        collection(&per_a, std::slice::from_ref(&a_doc))
    );
    let per_b = format!("{API}/urlpattern/{}", seg(BOOKS));
    let r = api(&hub, &per_b, Some(&api_token), &[]).await;
    assert_eq!(
        r.body.trim_end_matches('\n'),
        collection(&per_b, std::slice::from_ref(&b_doc))
    );
    // The same string under the other type has no subscription.
    let per_none = format!("{API}/exact/{}", seg(BOOKS));
    let r = api(&hub, &per_none, Some(&api_token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.trim_end_matches('\n'), collection(&per_none, &[]));

    // Single: the document itself.
    let single_a = topic("exact", "https://example.com/a", &a_id);
    let r = api(&hub, &single_a, Some(&api_token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.body.trim_end_matches('\n'), a_doc);
    // Unknown subscriber, or a known one under a matcher it did not use: 404.
    for path in [
        topic(
            "exact",
            "https://example.com/a",
            "urn:uuid:00000000-0000-4000-8000-000000000000",
        ),
        topic("exact", "https://example.com/a", &b_id),
        topic("urlpattern", "https://example.com/a", &a_id),
    ] {
        let r = api(&hub, &path, Some(&api_token), &[]).await;
        assert_eq!(r.status, 404, "{path}");
    }
    // Malformed paths: 400.
    for path in [
        format!("{API}/regex/abc"),
        format!("{API}/Exact/abc"),
        format!("{API}/exact/%ZZ"),
        format!("{API}/exact/abc/%ZZ"),
    ] {
        let r = api(&hub, &path, Some(&api_token), &[]).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }

    // Terminated subscriptions are gone.
    drop(a);
    let (_, gone, _) = next_presence(&mut w).await;
    assert!(gone.contains("\"active\": false"));
    let r = api(&hub, &single_a, Some(&api_token), &[]).await;
    assert_eq!(r.status, 404);
    let r = api(&hub, &per_a, Some(&api_token), &[]).await;
    assert_eq!(r.body.trim_end_matches('\n'), collection(&per_a, &[]));
    drop(b);
}

#[tokio::test]
async fn c54_subscriptions_api_absent_without_the_directive() {
    let hub = Hub08::start("");
    let r = api(&hub, API, Some(&hub.subscriber()), &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn c55_subscriptions_api_authorization() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let _client = sub08(&hub, &q(&[("match", "https://example.com/a")]), None).await;
    let per_a = format!("{API}/exact/{}", seg("https://example.com/a"));
    // A subscriber key is configured: a token is required even on an anonymous hub.
    let r = api(&hub, API, None, &[]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, hub.challenge().as_str())
    );
    let r = api(&hub, API, Some(&"x".repeat(60)), &[]).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, hub.challenge_err("invalid_token").as_str())
    );
    let forbidden = hub.challenge_err("insufficient_scope");
    let cases: Vec<(&str, String, &str, u16)> = vec![
        (
            "other topic",
            hub.token(&[], &[ex("https://example.com/a")]),
            API,
            403,
        ),
        ("publish grant", hub.token(&[ex("*")], &[]), API, 403),
        ("exact collection", hub.token(&[], &[ex(API)]), API, 200),
        (
            "exact collection, query ignored",
            hub.token(&[], &[ex(API)]),
            "/.well-known/mercure/subscriptions?last_event_id=x",
            200,
        ),
        (
            "exact collection only",
            hub.token(&[], &[ex(API)]),
            &per_a,
            403,
        ),
        (
            "exact escaped path",
            hub.token(&[], &[ex(&per_a)]),
            &per_a,
            200,
        ),
        (
            "decoded path is not the escaped one",
            hub.token(
                &[],
                &[ex(
                    "/.well-known/mercure/subscriptions/exact/https://example.com/a",
                )],
            ),
            &per_a,
            403,
        ),
        (
            "pattern for per-matcher collections",
            hub.token(
                &[],
                &[up("/.well-known/mercure/subscriptions/:match_type/:match")],
            ),
            &per_a,
            200,
        ),
        (
            "pattern for per-matcher collections, not the root",
            hub.token(
                &[],
                &[up("/.well-known/mercure/subscriptions/:match_type/:match")],
            ),
            API,
            403,
        ),
        ("star", hub.subscriber(), API, 200),
    ];
    for (why, token, path, status) in cases {
        let r = api(&hub, path, Some(&token), &[]).await;
        assert_eq!(r.status, status, "{why}: {}", r.body);
        if status == 403 {
            assert_eq!(r.header("www-authenticate"), forbidden, "{why}");
        }
    }
    // A hub without a subscriber key: the API is open.
    let open = Hub08::from_builder(
        HubBuilder::new().unset("MERCURE_SUBSCRIBER_JWT_KEY"),
        "anonymous\nsubscriptions",
    );
    let r = api(&open, API, None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn c56_link_header_etag_and_304() {
    let hub = Hub08::start("anonymous\nsubscriptions\ncors_origins https://app.example");
    let token = hub.subscriber();
    // Nothing dispatched yet.
    let r = api(&hub, API, Some(&token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("link"), link("earliest"));
    assert_eq!(r.header("etag"), "\"earliest\"");
    // After an update, its id.
    pub08_ok(
        &hub,
        &[("topic", "https://example.com/x"), ("id", "last-one")],
    )
    .await;
    let r = api(&hub, API, Some(&token), &[]).await;
    assert_eq!(r.header("link"), link("last-one"));
    assert_eq!(r.header("etag"), "\"last-one\"");
    // Conditional request.
    let r = api(
        &hub,
        API,
        Some(&token),
        &[("If-None-Match", "\"last-one\"")],
    )
    .await;
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag"), "\"last-one\"");
    assert_eq!(r.body, "");
    let r = api(&hub, API, Some(&token), &[("If-None-Match", "last-one")]).await;
    assert_eq!(r.status, 200, "an unquoted value is another tag");
    let r = api(&hub, API, Some(&token), &[("If-None-Match", "\"older\"")]).await;
    assert_eq!(r.status, 200);
    // Same headers on a per-matcher collection.
    let r = api(&hub, &format!("{API}/exact/abc"), Some(&token), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("etag"), "\"last-one\"");
    assert_eq!(r.header("link"), link("last-one"));
    // Subscription events are dispatched events too: the cursor moves with them, so that a
    // client can list the subscriptions then follow the events from that point.
    let (mut w, _) = watcher(&hub).await;
    let _client = sub08(&hub, &q(&[("match", "https://example.com/c")]), None).await;
    let (event_id, _, _) = next_presence(&mut w).await;
    let r = api(&hub, API, Some(&token), &[]).await;
    assert_eq!(r.header("link"), link(&event_id));
    assert_eq!(r.header("etag"), format!("\"{}\"", event_id));
    // Ids needing escapes: percent-encoded in the ETag, backslash-escaped in the Link.
    let odd = "a\"b c%d\\e";
    pub08_ok(&hub, &[("topic", "https://example.com/x"), ("id", odd)]).await;
    let r = api(&hub, API, Some(&token), &[]).await;
    assert_eq!(r.header("etag"), "\"a%22b%20c%25d\\e\"");
    assert_eq!(r.header("link"), link("a\\\"b c%d\\\\e"));
    // CORS: the Link header is exposed.
    let r = api(
        &hub,
        API,
        Some(&token),
        &[("Origin", "https://app.example")],
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        "https://app.example"
    );
    let exposed = r
        .header("access-control-expose-headers")
        .to_ascii_lowercase();
    assert!(
        exposed.split(',').any(|h| h.trim() == "link"),
        "Link not exposed: {exposed:?}"
    );
}

#[tokio::test]
async fn c57_payload_is_that_of_the_first_subscribe_detail_matching_the_matcher() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let (mut w, _) = watcher(&hub).await;
    let token = hub.token(
        &[],
        &[
            with_payload(ex("https://example.com/a"), json!({"n": 1})),
            with_payload(up("https://example.com/:x"), json!({"n": 2})),
            with_payload(ex("*"), json!({"n": 3})),
        ],
    );
    let matchers = [
        ("match", "https://example.com/a", "exact", Some(1)),
        ("match", "https://example.com/b", "exact", Some(2)),
        (
            "match_urlpattern",
            "https://example.com/:x",
            "urlpattern",
            Some(2),
        ),
        ("match", "urn:other", "exact", Some(3)),
    ];
    let pairs: Vec<(&str, &str)> = matchers.iter().map(|(n, v, _, _)| (*n, *v)).collect();
    let _client = sub08(&hub, &q(&pairs), Some(&token)).await;
    let mut got = Vec::new();
    for _ in 0..matchers.len() {
        let (_, data, _) = next_presence(&mut w).await;
        let d: Value = serde_json::from_str(&data).expect("JSON");
        got.push((
            d["match"].as_str().unwrap_or_default().to_string(),
            d["match_type"].as_str().unwrap_or_default().to_string(),
            d.get("payload").cloned(),
        ));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut expected: Vec<(String, String, Option<Value>)> = matchers
        .iter()
        .map(|(_, m, t, n)| (m.to_string(), t.to_string(), n.map(|n| json!({"n": n}))))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    assert_eq!(got, expected);

    // No detail matching: no payload at all.
    let narrow = hub.token(
        &[],
        &[with_payload(ex("https://example.com/a"), json!({"n": 1}))],
    );
    let _other = sub08(
        &hub,
        &q(&[("match", "https://example.com/z")]),
        Some(&narrow),
    )
    .await;
    let (_, data, subscriber) = next_presence(&mut w).await;
    assert_eq!(
        data,
        doc("exact", "https://example.com/z", &subscriber, true, None)
    );
}

#[tokio::test]
async fn c50_subscription_events_are_kept_in_history_like_any_update() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let client = sub08(&hub, &q(&[("match", "https://example.com/a")]), None).await;
    drop(client);
    // A later watcher replaying everything sees the client's two events (active, then not).
    let mut w = sub08(
        &hub,
        &q(&[
            ("match_urlpattern", PRESENCE),
            ("last_event_id", "earliest"),
        ]),
        Some(&hub.subscriber()),
    )
    .await;
    let deadline = tokio::time::Instant::now() + T;
    let docs = loop {
        let docs: Vec<Value> = w
            .complete_events()
            .iter()
            .map(|e| serde_json::from_str(&parse(e).2).expect("JSON"))
            .filter(|d: &Value| d["match"] == "https://example.com/a")
            .collect();
        if docs.len() >= 2 || tokio::time::Instant::now() > deadline {
            break docs;
        }
        w.drain_for(std::time::Duration::from_millis(20)).await;
    };
    let active: Vec<bool> = docs.iter().map(|d| d["active"] == true).collect();
    assert_eq!(active, [true, false], "{:?}", w.text());
    // Anonymous replay: none of them.
    let mut anon = sub08(
        &hub,
        &q(&[("match", "*"), ("last_event_id", "earliest")]),
        None,
    )
    .await;
    pub08_ok(&hub, &[("topic", "https://example.com/a"), ("id", "after")]).await;
    wait_id(&mut anon, "after").await;
    assert_eq!(anon.ids(), ["after"]);
}
