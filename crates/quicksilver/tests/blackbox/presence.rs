//! Presence, draft-07 style (`subscriptions` directive): the subscription events sent when a
//! subscriber connects and disconnects, and the subscriptions API, compared byte for byte with
//! what the reference hub v0.24.2 sends (`json.MarshalIndent(.., "", "  ")` of JSON-LD documents).

use std::time::Duration;

use crate::common::*;

/// The selector that grants (and subscribes to) every subscription event and API URL.
const PRESENCE: &str = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
/// `https://example.com/{id}`, escaped as in subscription ids and API paths.
const TOPIC: &str = "https://example.com/{id}";
const TOPIC_ESCAPED: &str = "https%3A%2F%2Fexample.com%2F%7Bid%7D";
const T: Duration = Duration::from_secs(5);

fn presence_token() -> String {
    token(None, Some(&[PRESENCE]))
}

/// A subscriber of presence events (template topic, with the grant).
async fn watcher(hub: &Hub) -> Sse {
    Sse::subscribe(hub, &[PRESENCE], Some(&presence_token())).await
}

/// The `id:` and the reassembled `data:` of an SSE event; panics on any other field.
fn parse_event(event: &str) -> (String, String) {
    let mut id = String::new();
    let mut data = Vec::new();
    for line in event.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v);
        } else {
            panic!("unexpected line {line:?} in {event:?}");
        }
    }
    (id, data.join("\n"))
}

/// `urn:uuid:` followed by a lowercase version-4 UUID.
fn assert_uuid_v4_urn(s: &str) {
    let u = s
        .strip_prefix("urn:uuid:")
        .unwrap_or_else(|| panic!("{s:?} is not a urn:uuid"));
    let parts: Vec<&str> = u.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, [8, 4, 4, 4, 12], "{s:?}");
    assert!(
        u.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{s:?}"
    );
    assert!(parts[2].starts_with('4'), "not a v4 UUID: {s:?}");
    assert!(
        parts[3].starts_with(['8', '9', 'a', 'b']),
        "not an RFC 4122 variant: {s:?}"
    );
}

fn escape_subscriber(id: &str) -> String {
    id.replace(':', "%3A")
}

/// The subscription document exactly as the reference hub indents it; `indent` prefixes every
/// line but the first (documents nested in a collection).
fn subscription_doc(
    subscriber: &str,
    topic: &str,
    topic_escaped: &str,
    active: bool,
    context: bool,
    last_event_id: Option<&str>,
    payload: Option<&str>,
) -> String {
    let mut fields = Vec::new();
    if context {
        fields.push(r#"  "@context": "https://mercure.rocks/""#.to_string());
    }
    fields.push(format!(
        r#"  "id": "/.well-known/mercure/subscriptions/{topic_escaped}/{}""#,
        escape_subscriber(subscriber)
    ));
    fields.push(r#"  "type": "Subscription""#.to_string());
    fields.push(format!(r#"  "subscriber": "{subscriber}""#));
    fields.push(format!(r#"  "topic": "{topic}""#));
    fields.push(format!(r#"  "active": {active}"#));
    if let Some(l) = last_event_id {
        fields.push(format!(r#"  "lastEventID": "{l}""#));
    }
    if let Some(p) = payload {
        fields.push(format!(r#"  "payload": {p}"#));
    }
    format!("{{\n{}\n}}", fields.join(",\n"))
}

fn indent(doc: &str, by: &str) -> String {
    doc.lines().collect::<Vec<_>>().join(&format!("\n{by}"))
}

/// Reads until `sse` holds more than `seen` complete events; returns event #`seen` as (id, data).
async fn next_event(sse: &mut Sse, seen: usize) -> (String, String) {
    let deadline = tokio::time::Instant::now() + T;
    while sse.events().len() <= seen {
        assert!(
            !sse.ended && tokio::time::Instant::now() < deadline,
            "no event #{seen}; got {:?}",
            sse.text()
        );
        sse.drain_for(Duration::from_millis(50)).await;
    }
    parse_event(&sse.events()[seen])
}

#[tokio::test]
async fn subscription_events_on_connect_and_disconnect() {
    let hub = Hub::with_directives("subscriptions");
    let mut w = watcher(&hub).await;

    let client_token = token_with(
        None,
        Some(&["https://example.com/private"]),
        Some(serde_json::json!({"name": "Alice", "age": 7, "tags": ["a"]})),
        None,
    );
    let client = Sse::subscribe(&hub, &[TOPIC], Some(&client_token)).await;

    let (event_id, data) = next_event(&mut w, 0).await;
    assert!(!w.text().contains("event:"), "draft-07: no event type");
    assert!(event_id.starts_with("urn:uuid:"), "{event_id}");
    let doc: serde_json::Value = serde_json::from_str(&data).expect("JSON data");
    let subscriber = doc["subscriber"].as_str().unwrap().to_string();
    assert_uuid_v4_urn(&subscriber);
    // Payload keys sorted, as Go marshals a map.
    let payload =
        "{\n    \"age\": 7,\n    \"name\": \"Alice\",\n    \"tags\": [\n      \"a\"\n    ]\n  }";
    assert_eq!(
        data,
        subscription_doc(
            &subscriber,
            TOPIC,
            TOPIC_ESCAPED,
            true,
            true,
            None,
            Some(payload)
        )
    );
    // Indented JSON spreads over several `data:` lines.
    assert!(
        w.events()[0]
            .lines()
            .filter(|l| l.starts_with("data: "))
            .count()
            > 5
    );

    drop(client);
    let (gone_id, gone) = next_event(&mut w, 1).await;
    assert_ne!(gone_id, event_id);
    assert_eq!(
        gone,
        subscription_doc(
            &subscriber,
            TOPIC,
            TOPIC_ESCAPED,
            false,
            true,
            None,
            Some(payload)
        )
    );
}

#[tokio::test]
async fn one_event_per_selector_and_no_payload_without_claim() {
    let hub = Hub::with_directives("anonymous\nsubscriptions");
    let mut w = watcher(&hub).await;
    // Anonymous: no claims, so no payload. Two selectors: two events, same subscriber.
    let _client = Sse::subscribe(&hub, &["https://example.com/a", TOPIC], None).await;
    let (_, first) = next_event(&mut w, 0).await;
    let (_, second) = next_event(&mut w, 1).await;
    let a: serde_json::Value = serde_json::from_str(&first).unwrap();
    let subscriber = a["subscriber"].as_str().unwrap();
    assert_eq!(
        first,
        subscription_doc(
            subscriber,
            "https://example.com/a",
            "https%3A%2F%2Fexample.com%2Fa",
            true,
            true,
            None,
            None
        )
    );
    assert_eq!(
        second,
        subscription_doc(subscriber, TOPIC, TOPIC_ESCAPED, true, true, None, None)
    );
}

#[tokio::test]
async fn subscription_events_escape_like_go() {
    // Go's encoding/json escapes <, > and & in strings; url.QueryEscape turns a space into '+'.
    let hub = Hub::with_directives("anonymous\nsubscriptions");
    // `+` is outside what `{/topic}` matches (as with the reference's URI templates): watch all.
    let mut w = Sse::subscribe(&hub, &["*"], Some(&token(None, Some(&["*"])))).await;
    let topic = "https://example.com/?a=1&b=<2> c";
    let _client = Sse::subscribe(&hub, &[topic], None).await;
    let (_, data) = next_event(&mut w, 0).await;
    let doc: serde_json::Value = serde_json::from_str(&data).unwrap();
    let subscriber = doc["subscriber"].as_str().unwrap();
    assert_eq!(
        data,
        subscription_doc(
            subscriber,
            r"https://example.com/?a=1\u0026b=\u003c2\u003e c",
            "https%3A%2F%2Fexample.com%2F%3Fa%3D1%26b%3D%3C2%3E+c",
            true,
            true,
            None,
            None
        )
    );
    assert_eq!(doc["topic"], topic);
}

#[tokio::test]
async fn subscription_events_are_private() {
    let hub = Hub::with_directives("anonymous\nsubscriptions");
    let sync = "https://example.com/sync";
    let mut anonymous = Sse::subscribe(&hub, &[PRESENCE, sync], None).await;
    let other_grant = token(None, Some(&["https://example.com/{id}"]));
    let mut ungranted = Sse::subscribe(&hub, &[PRESENCE, sync], Some(&other_grant)).await;
    let mut granted = watcher(&hub).await;

    let _client = Sse::subscribe(&hub, &["https://example.com/x"], None).await;
    let (_, data) = next_event(&mut granted, 0).await;
    assert!(
        data.contains(r#""topic": "https://example.com/x""#),
        "{data}"
    );

    // Subscription events dispatched before this public update would have arrived first.
    let (status, id) = publish(&hub, &publisher(), &[("topic", sync), ("data", "sync")]).await;
    assert_eq!(status, 200);
    let expected = format!("id: {id}\ndata: sync");
    for s in [&mut anonymous, &mut ungranted] {
        assert!(s.read_until("data: sync\n\n", T).await, "{:?}", s.text());
        assert_eq!(s.events(), vec![expected.clone()]);
    }
}

#[tokio::test]
async fn subscriber_ids_are_unique_per_connection() {
    let hub = Hub::with_directives("subscriptions");
    let mut w = watcher(&hub).await;
    let t = token(None, Some(&["https://example.com/private"]));
    let _a = Sse::subscribe(&hub, &[TOPIC], Some(&t)).await;
    let _b = Sse::subscribe(&hub, &[TOPIC], Some(&t)).await;
    let (_, first) = next_event(&mut w, 0).await;
    let (_, second) = next_event(&mut w, 1).await;
    let id = |d: &str| {
        serde_json::from_str::<serde_json::Value>(d).unwrap()["subscriber"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (id(&first), id(&second));
    assert_uuid_v4_urn(&a);
    assert_uuid_v4_urn(&b);
    assert_ne!(a, b);
}

async fn api(
    hub: &Hub,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let r = hub.http_get(path, &headers).await;
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap())
}

#[tokio::test]
async fn subscriptions_api_documents() {
    let hub = Hub::with_directives("subscriptions");
    let t = presence_token();
    let base = "/.well-known/mercure/subscriptions";

    // Before any update: the cursor is `earliest`, and nobody is subscribed.
    let (status, h, body) = api(&hub, base, Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "content-type"), "application/ld+json");
    assert_eq!(header(&h, "etag"), "earliest");
    assert_eq!(
        body,
        "{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": \"/.well-known/mercure/subscriptions\",\n  \"type\": \"Subscriptions\",\n  \"lastEventID\": \"earliest\",\n  \"subscriptions\": []\n}"
    );

    // The watcher's own connection event is not sent to itself; the client's is, and its id is
    // the last event id.
    let mut w = watcher(&hub).await;
    let client_token = token_with(
        None,
        Some(&["https://example.com/private"]),
        Some(serde_json::json!({"name": "Alice"})),
        None,
    );
    let _client = Sse::subscribe(&hub, &[TOPIC], Some(&client_token)).await;
    let (last_id, data) = next_event(&mut w, 0).await;
    let doc: serde_json::Value = serde_json::from_str(&data).unwrap();
    let subscriber = doc["subscriber"].as_str().unwrap().to_string();
    let payload = "{\n    \"name\": \"Alice\"\n  }";

    // The collection: both subscribers, items without @context.
    let (status, h, body) = api(&hub, base, Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "etag"), last_id);
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(all["lastEventID"], last_id.as_str());
    let items = all["subscriptions"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{body}");
    assert!(items.iter().all(|i| i.get("@context").is_none()));
    let mut topics: Vec<&str> = items.iter().map(|i| i["topic"].as_str().unwrap()).collect();
    topics.sort();
    assert_eq!(topics, [PRESENCE, TOPIC]);

    // Filtered by topic: exact bytes.
    let (status, h, body) = api(&hub, &format!("{base}/{TOPIC_ESCAPED}"), Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "content-type"), "application/ld+json");
    assert_eq!(header(&h, "etag"), last_id);
    let item = subscription_doc(
        &subscriber,
        TOPIC,
        TOPIC_ESCAPED,
        true,
        false,
        None,
        Some(payload),
    );
    assert_eq!(
        body,
        format!(
            "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": \"{base}/{TOPIC_ESCAPED}\",\n  \"type\": \"Subscriptions\",\n  \"lastEventID\": \"{last_id}\",\n  \"subscriptions\": [\n    {}\n  ]\n}}",
            indent(&item, "    ")
        )
    );

    // A single subscription: the document with @context and lastEventID.
    let single = format!("{base}/{TOPIC_ESCAPED}/{}", escape_subscriber(&subscriber));
    let (status, h, body) = api(&hub, &single, Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "content-type"), "application/ld+json");
    assert_eq!(header(&h, "etag"), last_id);
    assert_eq!(
        body,
        subscription_doc(
            &subscriber,
            TOPIC,
            TOPIC_ESCAPED,
            true,
            true,
            Some(&last_id),
            Some(payload)
        )
    );

    // Unknown subscriber, or a known one under another topic: 404.
    let unknown =
        format!("{base}/{TOPIC_ESCAPED}/urn%3Auuid%3A00000000-0000-4000-8000-000000000000");
    let (status, _, body) = api(&hub, &unknown, Some(&t)).await;
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
    let wrong_topic = format!(
        "{base}/https%3A%2F%2Fexample.com%2Fother/{}",
        escape_subscriber(&subscriber)
    );
    let (status, _, _) = api(&hub, &wrong_topic, Some(&t)).await;
    assert_eq!(status, 404);
    // A topic nobody subscribed to: an empty collection.
    let (status, _, body) = api(&hub, &format!("{base}/nobody"), Some(&t)).await;
    assert_eq!(status, 200);
    assert!(body.ends_with("\"subscriptions\": []\n}"), "{body}");

    // If-None-Match with the current ETag: 304 without a body.
    let auth = format!("Bearer {t}");
    let r = hub
        .http_get(
            base,
            &[("Authorization", &auth), ("If-None-Match", &last_id)],
        )
        .await;
    assert_eq!(r.status().as_u16(), 304);
    assert_eq!(r.text().await.unwrap(), "");
    let r = hub
        .http_get(
            base,
            &[("Authorization", &auth), ("If-None-Match", "earliest")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);

    // A disconnection is an update too: the cursor moves, the subscription disappears.
    drop(_client);
    let (gone_id, _) = next_event(&mut w, 1).await;
    assert_eq!(api(&hub, &single, Some(&t)).await.0, 404);
    let (_, h, body) = api(&hub, base, Some(&t)).await;
    assert_eq!(header(&h, "etag"), gone_id);
    assert!(!body.contains(&subscriber), "{body}");
}

#[tokio::test]
async fn subscriptions_api_last_event_id_follows_publications() {
    let hub = Hub::with_directives("subscriptions");
    let t = presence_token();
    let (status, id) = publish(
        &hub,
        &publisher(),
        &[
            ("topic", "https://example.com/1"),
            ("data", "x"),
            ("id", "my-id"),
        ],
    )
    .await;
    assert_eq!((status, id.as_str()), (200, "my-id"));
    let (status, h, body) = api(&hub, "/.well-known/mercure/subscriptions", Some(&t)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "etag"), "my-id");
    assert!(body.contains("\"lastEventID\": \"my-id\""), "{body}");
}

#[tokio::test]
async fn subscriptions_api_authorization() {
    let hub = Hub::with_directives("subscriptions");
    let base = "/.well-known/mercure/subscriptions";

    let (status, _, body) = api(&hub, base, None).await;
    assert_eq!((status, body.as_str()), (401, "Unauthorized\n"));

    // A token without mercure.subscribe, or with one that does not cover the URL.
    let publisher_only = token(Some(&["*"]), None);
    assert_eq!(api(&hub, base, Some(&publisher_only)).await.0, 401);
    let elsewhere = token(None, Some(&["https://example.com/{id}"]));
    assert_eq!(api(&hub, base, Some(&elsewhere)).await.0, 401);
    let bad = "not-a-jwt-not-a-jwt-not-a-jwt-not-a-jwt-not-a-jwt";
    assert_eq!(api(&hub, base, Some(bad)).await.0, 401);

    // An exact selector: the request URI (path and query) must be exactly it.
    let exact = token(None, Some(&[base]));
    assert_eq!(api(&hub, base, Some(&exact)).await.0, 200);
    assert_eq!(api(&hub, &format!("{base}?x=1"), Some(&exact)).await.0, 401);
    assert_eq!(
        api(&hub, &format!("{base}/{TOPIC_ESCAPED}"), Some(&exact))
            .await
            .0,
        401
    );

    // The template covers the collection, a topic and a subscription (404: nobody there).
    let t = presence_token();
    assert_eq!(api(&hub, base, Some(&t)).await.0, 200);
    assert_eq!(
        api(&hub, &format!("{base}/{TOPIC_ESCAPED}"), Some(&t))
            .await
            .0,
        200
    );
    assert_eq!(
        api(
            &hub,
            &format!("{base}/{TOPIC_ESCAPED}/urn%3Auuid%3Ax"),
            Some(&t)
        )
        .await
        .0,
        404
    );
    // `*` covers everything, query string included.
    let all = token(None, Some(&["*"]));
    assert_eq!(api(&hub, &format!("{base}?x=1"), Some(&all)).await.0, 200);

    // The token may also come from the cookie, like for subscribing.
    let r = hub
        .http_get(base, &[("Cookie", &format!("mercureAuthorization={t}"))])
        .await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn subscriptions_api_with_anonymous_and_a_subscriber_key_needs_a_token() {
    // The reference checks tokens whenever a subscriber key is configured, `anonymous` or not.
    let hub = Hub::with_directives("anonymous\nsubscriptions");
    let (status, _, _) = api(&hub, "/.well-known/mercure/subscriptions", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn subscriptions_api_is_open_without_a_subscriber_key() {
    let hub = HubBuilder::new()
        .unset("MERCURE_SUBSCRIBER_JWT_KEY")
        .directives("anonymous\nsubscriptions")
        .start();
    let _client = Sse::subscribe(&hub, &["https://example.com/open"], None).await;
    let (status, h, body) = api(&hub, "/.well-known/mercure/subscriptions", None).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(header(&h, "etag"), "earliest");
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = all["subscriptions"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{body}");
    // Anonymous: no payload member at all.
    assert!(items[0].get("payload").is_none(), "{body}");
    assert_eq!(items[0]["topic"], "https://example.com/open");
}

#[tokio::test]
async fn subscriptions_api_absent_without_the_directive() {
    let hub = Hub::with_directives("anonymous");
    let t = presence_token();
    for path in [
        "/.well-known/mercure/subscriptions",
        &format!("/.well-known/mercure/subscriptions/{TOPIC_ESCAPED}"),
        &format!("/.well-known/mercure/subscriptions/{TOPIC_ESCAPED}/urn%3Auuid%3Ax"),
    ] {
        let (status, _, body) = api(&hub, path, Some(&t)).await;
        assert_eq!(
            (status, body.as_str()),
            (404, "404 page not found\n"),
            "{path}"
        );
    }
    // And no subscription events: a watcher only gets the public update that follows.
    let mut w = Sse::subscribe(&hub, &[PRESENCE, "https://example.com/sync"], Some(&t)).await;
    let _client = Sse::subscribe(&hub, &[TOPIC], None).await;
    let (_, id) = publish(
        &hub,
        &publisher(),
        &[("topic", "https://example.com/sync"), ("data", "sync")],
    )
    .await;
    assert!(w.read_until("data: sync\n\n", T).await);
    assert_eq!(w.events(), vec![format!("id: {id}\ndata: sync")]);
}
