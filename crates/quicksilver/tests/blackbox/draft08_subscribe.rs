//! Draft-08 subscribing, checklist items 1-14 of the protocol reference (§1.2, §1.3, §1.10):
//! the response and its headers, the `match` / `match_exact` / `match_urlpattern` matchers and
//! `*`, the reserved `match*` namespace, value validation and limits, the `QUERY` method, the
//! keep-alive comment, HTTP/2, and (item 14) what the hub does about connection limits.
//!
//! Matcher validation is tested on anonymous hubs: the reference authorizes before it parses
//! matchers, so on a hub requiring tokens a token-less bad request is a 401, not a 400.

use std::time::Duration;

use reqwest::Method;

use crate::common::*;
use crate::draft08_common::*;

/// Publishes `(id, topic)` pairs then a final `id` on a topic every subscriber of the test
/// listens to, so waiting for it means everything before it was routed.
async fn publish_all(hub: &Hub08, updates: &[(&str, &str)]) {
    for (id, topic) in updates {
        let got = pub08_ok(hub, &[("topic", topic), ("id", id)]).await;
        assert_eq!(got, *id);
    }
}

/// The ids `s` received up to and including `last`.
async fn ids_until(s: &mut Sse, last: &str) -> Vec<String> {
    wait_id(s, last).await;
    s.ids()
}

#[tokio::test]
async fn c01_get_returns_200_event_stream_with_the_exact_headers() {
    let hub = Hub08::start("anonymous");
    let mut s = open_stream(
        &hub,
        Method::GET,
        "match=https%3A%2F%2Fexample.com%2Fa",
        &[],
        "",
    )
    .await;
    assert_eq!(s.status, 200);
    assert_sse_headers(&s.headers);
    // No cursor was sent: no cursor header of either draft.
    assert!(s.headers.get("mercure-last-event-id").is_none());
    assert!(s.headers.get("last-event-id").is_none());
    assert!(s.read_until(":\n", T).await);
    assert_eq!(s.text(), ":\n", "the stream starts with a bare comment");
    pub08_ok(
        &hub,
        &[
            ("topic", "https://example.com/a"),
            ("id", "e1"),
            ("data", "hello"),
        ],
    )
    .await;
    assert!(s.read_until("\n\n", T).await);
    assert_eq!(s.text(), ":\nid: e1\ndata: hello\n\n");
}

#[tokio::test]
async fn c01_head_answers_the_headers_without_a_body_and_validates_like_get() {
    let hub = Hub08::start("anonymous");
    let r = request(
        &hub,
        Method::HEAD,
        "match=https%3A%2F%2Fexample.com%2Fa",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "text/event-stream");
    assert_eq!(r.body, "");
    let r = request(&hub, Method::HEAD, "", &[], "").await;
    assert_eq!(r.status, 400, "no matcher");
    let r = request(&hub, Method::HEAD, "topic=a", &[], "").await;
    assert_eq!(r.status, 400, "topic= is a draft-07 parameter");
}

#[tokio::test]
async fn c02_match_is_exact_byte_for_byte_and_match_exact_is_a_synonym() {
    let hub = Hub08::start("anonymous");
    let topic = "https://example.com/books/1";
    let mut plain = sub08(&hub, &q(&[("match", topic)]), None).await;
    let mut synonym = sub08(&hub, &q(&[("match_exact", topic)]), None).await;
    // Relative values are not resolved against anything with the exact type.
    let mut relative = sub08(&hub, &q(&[("match", "/books/1")]), None).await;
    // No Unicode normalization: NFC subscribed, NFD published.
    let mut nfc = sub08(
        &hub,
        &q(&[("match", "https://example.com/caf\u{e9}")]),
        None,
    )
    .await;
    let abs_on_hub = hub.url("/books/1");
    publish_all(
        &hub,
        &[
            ("e1", topic),
            ("case", "https://example.com/Books/1"),
            ("host-case", "https://EXAMPLE.com/books/1"),
            ("slash", "https://example.com/books/1/"),
            ("prefix", "https://example.com/books/10"),
            ("encoded", "https://example.com/books/%31"),
            ("rel", "/books/1"),
            ("abs-on-hub", &abs_on_hub),
            ("nfd", "https://example.com/cafe\u{301}"),
            ("nfc", "https://example.com/caf\u{e9}"),
            ("e2", topic),
        ],
    )
    .await;
    assert_eq!(ids_until(&mut plain, "e2").await, ["e1", "e2"]);
    assert_eq!(ids_until(&mut synonym, "e2").await, ["e1", "e2"]);
    // The relative matcher got its exact topic only (the marker below proves routing is done).
    publish_all(&hub, &[("r-end", "/books/1")]).await;
    assert_eq!(ids_until(&mut relative, "r-end").await, ["rel", "r-end"]);
    publish_all(&hub, &[("n-end", "https://example.com/caf\u{e9}")]).await;
    assert_eq!(ids_until(&mut nfc, "n-end").await, ["nfc", "n-end"]);
}

#[tokio::test]
async fn c03_match_urlpattern_is_a_case_sensitive_whatwg_url_pattern() {
    let hub = Hub08::start("anonymous");
    let mut books = sub08(
        &hub,
        &q(&[("match_urlpattern", "https://example.com/books/:id")]),
        None,
    )
    .await;
    let mut digits = sub08(
        &hub,
        &q(&[("match_urlpattern", "https://example.com/n/:id(\\d+)")]),
        None,
    )
    .await;
    let mut wildcard = sub08(
        &hub,
        &q(&[("match_urlpattern", "https://example.com/w/*")]),
        None,
    )
    .await;
    publish_all(
        &hub,
        &[
            ("b1", "https://example.com/books/1"),
            ("b-abc", "https://example.com/books/abc"),
            // Hosts are canonicalized (lowercased) by URL parsing; paths are not.
            ("b-host", "https://EXAMPLE.com/books/2"),
            ("b-nested", "https://example.com/books/1/reviews"),
            ("b-case", "https://example.com/Books/1"),
            ("b-other-host", "https://example.org/books/1"),
            ("b-scheme", "http://example.com/books/1"),
            ("b-collection", "https://example.com/books"),
            ("n42", "https://example.com/n/42"),
            ("n-abc", "https://example.com/n/abc"),
            ("w1", "https://example.com/w/a"),
            ("w2", "https://example.com/w/a/b/c"),
            ("w-no", "https://example.com/x/a"),
            ("b-end", "https://example.com/books/end"),
            ("n-end", "https://example.com/n/0"),
            ("w-end", "https://example.com/w/end"),
        ],
    )
    .await;
    assert_eq!(
        ids_until(&mut books, "b-end").await,
        ["b1", "b-abc", "b-host", "b-end"]
    );
    assert_eq!(ids_until(&mut digits, "n-end").await, ["n42", "n-end"]);
    assert_eq!(
        ids_until(&mut wildcard, "w-end").await,
        ["w1", "w2", "w-end"]
    );
}

#[tokio::test]
async fn c03_relative_patterns_and_topics_resolve_against_the_resource_identifier() {
    let hub = Hub08::pinned("anonymous", "https://example.com/.well-known/mercure");
    let mut rel = sub08(&hub, &q(&[("match_urlpattern", "/books/:id")]), None).await;
    let mut abs = sub08(
        &hub,
        &q(&[("match_urlpattern", "https://example.com/authors/:id")]),
        None,
    )
    .await;
    publish_all(
        &hub,
        &[
            ("abs-topic", "https://example.com/books/1"),
            ("rel-topic", "/books/2"),
            ("other-host", "https://other.example/books/3"),
            ("nested", "/books/4/x"),
            ("rel-end", "/books/end"),
            ("author-rel", "/authors/5"),
            ("author-abs", "https://example.com/authors/6"),
            ("author-other", "https://other.example/authors/7"),
            ("abs-end", "https://example.com/authors/end"),
        ],
    )
    .await;
    assert_eq!(
        ids_until(&mut rel, "rel-end").await,
        ["abs-topic", "rel-topic", "rel-end"]
    );
    assert_eq!(
        ids_until(&mut abs, "abs-end").await,
        ["author-rel", "author-abs", "abs-end"]
    );
}

#[tokio::test]
async fn c03_relative_pattern_matches_relative_topics_without_a_resource_identifier() {
    let hub = Hub08::start("anonymous");
    let mut rel = sub08(&hub, &q(&[("match_urlpattern", "/books/:id")]), None).await;
    publish_all(
        &hub,
        &[
            ("r1", "/books/7"),
            ("r-nested", "/books/7/x"),
            ("r-other", "/authors/7"),
            ("r-abs-elsewhere", "https://other.example/books/7"),
            ("r-end", "/books/end"),
        ],
    )
    .await;
    assert_eq!(ids_until(&mut rel, "r-end").await, ["r1", "r-end"]);
}

#[tokio::test]
async fn c04_star_matches_every_topic_whatever_the_matcher_type() {
    let hub = Hub08::start("anonymous");
    let mut subs = Vec::new();
    for name in ["match", "match_exact", "match_urlpattern"] {
        subs.push(sub08(&hub, &q(&[(name, "*")]), None).await);
    }
    let updates = [
        ("s1", "https://example.com/x"),
        ("s2", "urn:isbn:0451450523"),
        ("s3", "/relative/topic"),
        ("s4", "plain string with spaces"),
        ("s5", "\u{e9}t\u{e9}"),
    ];
    publish_all(&hub, &updates).await;
    for s in &mut subs {
        assert_eq!(
            ids_until(s, "s5").await,
            ["s1", "s2", "s3", "s4", "s5"],
            "{:?}",
            s.text()
        );
    }
}

#[tokio::test]
async fn c05_several_matchers_receive_the_union_each_update_once() {
    let hub = Hub08::start("anonymous");
    let query = q(&[
        ("match", "https://example.com/a"),
        ("match_urlpattern", "https://example.com/b/:id"),
        ("match_exact", "https://example.com/c"),
        ("match", "https://example.com/e"),
    ]);
    let mut s = sub08(&hub, &query, None).await;
    publish_all(
        &hub,
        &[
            ("a", "https://example.com/a"),
            ("b", "https://example.com/b/1"),
            ("c", "https://example.com/c"),
            ("d", "https://example.com/d"),
            ("e", "https://example.com/e"),
        ],
    )
    .await;
    // One update matched by three matchers (canonical + alternates) is delivered once.
    let r = pub08(
        &hub,
        &hub.publisher(),
        &[
            ("topic", "https://example.com/a"),
            ("topic", "https://example.com/b/2"),
            ("topic", "https://example.com/c"),
            ("id", "abc"),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    publish_all(&hub, &[("end", "https://example.com/e")]).await;
    assert_eq!(
        ids_until(&mut s, "end").await,
        ["a", "b", "c", "e", "abc", "end"]
    );
}

#[tokio::test]
async fn c06_unknown_name_in_the_match_namespace_is_400() {
    let hub = Hub08::start("anonymous");
    for name in [
        "Match",
        "MATCH",
        "mAtch",
        "match_Exact",
        "match_URLPattern",
        "match_urlPattern",
        "matchfoo",
        "match_regexp",
        "match_uri_template",
        "match_",
        "matches",
        "Matching",
    ] {
        let r = get08(&hub, &q(&[(name, "https://example.com/a")]), &[]).await;
        assert_eq!(r.status, 400, "{name}: {}", r.body);
        assert_eq!(r.header("www-authenticate"), "", "{name}");
        // Also when a valid matcher is present.
        let r = get08(
            &hub,
            &q(&[("match", "https://example.com/a"), (name, "x")]),
            &[],
        )
        .await;
        assert_eq!(r.status, 400, "{name} next to match: {}", r.body);
    }
    // Parameters outside the namespace are ignored.
    let mut s = sub08(
        &hub,
        &q(&[
            ("match", "https://example.com/a"),
            ("foo", "bar"),
            ("amatch", "x"),
            ("_match", "x"),
            ("mat", "x"),
        ]),
        None,
    )
    .await;
    pub08_ok(&hub, &[("topic", "https://example.com/a"), ("id", "ok")]).await;
    wait_id(&mut s, "ok").await;
}

#[tokio::test]
async fn c06_topic_parameter_is_refused_with_a_hint() {
    let hub = Hub08::start("anonymous");
    for query in ["topic=https%3A%2F%2Fexample.com%2Fa", "topic=a&match=a"] {
        let r = get08(&hub, query, &[]).await;
        assert_eq!(r.status, 400, "{query}");
        assert!(
            r.body.contains("match"),
            "the refusal should point to `match`: {:?}",
            r.body
        );
    }
}

#[tokio::test]
async fn c07_missing_matcher_is_400() {
    let hub = Hub08::start("anonymous");
    for query in [
        "",
        "foo=bar",
        "last_event_id=earliest",
        "Topic=a",
        "topics=a",
    ] {
        let r = get08(&hub, query, &[]).await;
        assert_eq!(r.status, 400, "{query:?}: {}", r.body);
        assert_eq!(r.header("www-authenticate"), "");
    }
    // With a valid token, the same.
    let hub = Hub08::start("");
    let r = get08(&hub, "", &[("Authorization", &bearer(&hub.subscriber()))]).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn c08_control_and_format_characters_and_invalid_utf8_are_400() {
    let hub = Hub08::start("anonymous");
    let bad_values = [
        "%00",
        "a%09b",
        "a%0Ab",
        "a%0Db",
        "%1F",
        "a%7Fb",
        // C1: U+0080, U+0085, U+009F
        "a%C2%80",
        "a%C2%85",
        "a%C2%9F",
        // Cf: soft hyphen, zero-width space, left-to-right mark, BOM, Arabic letter mark,
        // language tag (outside the BMP)
        "a%C2%ADb",
        "a%E2%80%8Bb",
        "a%E2%80%8Eb",
        "%EF%BB%BFa",
        "a%D8%9Cb",
        "a%F3%A0%80%81",
        // invalid UTF-8: stray byte, bad continuation, surrogate, overlong
        "a%FF",
        "%C3%28",
        "%ED%A0%80",
        "%C0%AF",
    ];
    for name in ["match", "match_exact", "match_urlpattern"] {
        for v in bad_values {
            let prefix = if name == "match_urlpattern" {
                "https%3A%2F%2Fexample.com%2F"
            } else {
                ""
            };
            let query = format!("{name}={prefix}{v}");
            let r = get08(&hub, &query, &[]).await;
            assert_eq!(r.status, 400, "{query}: {}", r.body);
        }
    }
    // Non-ASCII letters and spaces are fine.
    let mut s = sub08(
        &hub,
        &q(&[
            ("match", "https://example.com/caf\u{e9}"),
            ("match", "a b"),
            ("match", "\u{65e5}\u{672c}"),
        ]),
        None,
    )
    .await;
    pub08_ok(&hub, &[("topic", "a b"), ("id", "space")]).await;
    wait_id(&mut s, "space").await;
}

#[tokio::test]
async fn c09_invalid_url_pattern_is_400() {
    let hub = Hub08::start("anonymous");
    for pattern in [
        "https://example.com/books/:id(",
        "https://example.com/books/(",
        "https://example.com/{books",
        "https://example.com/books/:",
        "https://example.com/(?x)",
    ] {
        let r = get08(&hub, &q(&[("match_urlpattern", pattern)]), &[]).await;
        assert_eq!(r.status, 400, "{pattern}: {}", r.body);
        // The same string is a valid exact matcher.
        let _s = sub08(&hub, &q(&[("match", pattern)]), None).await;
    }
}

#[tokio::test]
async fn c10_matcher_length_and_count_limits_are_400() {
    let hub = Hub08::start("anonymous");
    let max = "a".repeat(4096);
    let _ok = sub08(&hub, &q(&[("match", &max)]), None).await;
    let too_long = "a".repeat(4097);
    let r = get08(&hub, &q(&[("match", &too_long)]), &[]).await;
    assert_eq!(r.status, 400, "4097 bytes");
    // Bytes, not characters: 4095 + a 2-byte character.
    let multibyte = format!("{}\u{e9}", "a".repeat(4095));
    let r = get08(&hub, &q(&[("match_urlpattern", &multibyte)]), &[]).await;
    assert_eq!(r.status, 400, "4097 bytes in 4096 characters");
    let names: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| ("match", n.as_str())).collect();
    let _hundred = sub08(&hub, &q(&pairs[..100]), None).await;
    let r = get08(&hub, &q(&pairs), &[]).await;
    assert_eq!(r.status, 400, "101 matchers");
    // Mixed types count together.
    let mut mixed = pairs[..100].to_vec();
    mixed.push(("match_urlpattern", "https://example.com/:x"));
    let r = get08(&hub, &q(&mixed), &[]).await;
    assert_eq!(r.status, 400, "100 exact + 1 urlpattern");
}

#[tokio::test]
async fn c11_query_method_body_is_merged_with_the_query_string() {
    let hub = Hub08::start("anonymous");
    let body = q(&[
        ("match", "https://example.com/from-body"),
        ("match_urlpattern", "https://example.com/p/:id"),
    ]);
    let mut s = open_stream(
        &hub,
        query_method(),
        &q(&[("match", "https://example.com/from-query")]),
        &[FORM],
        &body,
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.text());
    assert_eq!(s.header("content-type"), "text/event-stream");
    assert!(s.read_until(":\n", T).await);
    s.buf.drain(..2);
    publish_all(
        &hub,
        &[
            ("q", "https://example.com/from-query"),
            ("b", "https://example.com/from-body"),
            ("p", "https://example.com/p/1"),
            ("none", "https://example.com/neither"),
            ("end", "https://example.com/from-query"),
        ],
    )
    .await;
    assert_eq!(ids_until(&mut s, "end").await, ["q", "b", "p", "end"]);

    // The body alone is enough.
    let mut s = open_stream(
        &hub,
        query_method(),
        "",
        &[FORM],
        &q(&[("match", "https://example.com/only-body")]),
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(s.read_until(":\n", T).await);
    publish_all(&hub, &[("ob", "https://example.com/only-body")]).await;
    wait_id(&mut s, "ob").await;
}

#[tokio::test]
async fn c11_query_method_body_is_validated_like_the_query_string() {
    let hub = Hub08::start("anonymous\nmax_request_body_size 1KB");
    for (body, status) in [
        ("", 400),
        ("foo=bar", 400),
        ("matchfoo=a&match=b", 400),
        ("topic=a", 400),
        ("match=a%00", 400),
        ("match_urlpattern=https%3A%2F%2Fexample.com%2F%28", 400),
    ] {
        let r = request(&hub, query_method(), "", &[FORM], body).await;
        assert_eq!(r.status, status, "{body:?}: {}", r.body);
    }
    // An unknown name in the body is refused even if the query string is fine.
    let r = request(&hub, query_method(), "match=a", &[FORM], "Match=b").await;
    assert_eq!(r.status, 400);
    // A body over max_request_body_size: 413.
    let big = format!("match={}", "a".repeat(2000));
    let r = request(&hub, query_method(), "", &[FORM], big).await;
    assert_eq!(r.status, 413, "{}", r.body);
}

#[tokio::test]
async fn c11_last_event_id_query_wins_over_body_and_header_over_both() {
    let hub = Hub08::start("anonymous");
    let topic = "https://example.com/h";
    publish_all(&hub, &[("h1", topic), ("h2", topic), ("h3", topic)]).await;
    let body = q(&[("match", topic), ("last_event_id", "h1")]);
    // Body only.
    let mut s = open_stream(&hub, query_method(), "", &[FORM], &body).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("mercure-last-event-id"), "h1");
    assert_eq!(ids_until(&mut s, "h3").await, ["h2", "h3"]);
    // Query wins over body.
    let mut s = open_stream(&hub, query_method(), "last_event_id=h2", &[FORM], &body).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("mercure-last-event-id"), "h2");
    assert_eq!(ids_until(&mut s, "h3").await, ["h3"]);
    // The header wins over both.
    let mut s = open_stream(
        &hub,
        query_method(),
        "last_event_id=h1",
        &[FORM, ("Last-Event-ID", "h2")],
        &body,
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("mercure-last-event-id"), "h2");
    assert_eq!(ids_until(&mut s, "h3").await, ["h3"]);
}

#[tokio::test]
async fn c12_keep_alive_comment_when_idle() {
    let hub = Hub08::start("anonymous\nheartbeat 300ms");
    let mut s = sub08(&hub, "match=https%3A%2F%2Fexample.com%2Fa", None).await;
    assert!(
        s.read_until(":\n", Duration::from_secs(3)).await,
        "no keep-alive comment: {:?}",
        s.text()
    );
    assert_eq!(s.text(), ":\n");
    assert!(s.complete_events().is_empty());
}

#[tokio::test]
async fn c13_http2_with_prior_knowledge() {
    let hub = Hub08::start("anonymous");
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .expect("h2c client");
    let r = h2
        .get(format!(
            "{}?match=https%3A%2F%2Fexample.com%2Fh2",
            hub.hub_url()
        ))
        .send()
        .await
        .expect("h2 subscribe");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "content-type"), "text/event-stream");
    let mut s = Sse::from_response(r);
    assert!(s.read_until(":\n", T).await);
    let r = h2
        .post(hub.hub_url())
        .header("Authorization", bearer(&hub.publisher()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("topic=https%3A%2F%2Fexample.com%2Fh2&id=over-h2&data=x")
        .send()
        .await
        .expect("h2 publish");
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 200);
    assert!(s.read_until("\n\n", T).await);
    assert_eq!(s.text(), ":\nid: over-h2\ndata: x\n\n");
}

/// Item 14 ([S]): the spec lets hubs cap connections per client and in total (429); the
/// reference sets no cap and neither does Quicksilver, so what is checked is that many
/// concurrent streams from one client are all served.
#[tokio::test]
async fn c14_no_connection_cap_many_streams_from_one_client_are_served() {
    let hub = Hub08::start("anonymous");
    let mut streams = Vec::new();
    for _ in 0..40 {
        streams.push(sub08(&hub, "match=https%3A%2F%2Fexample.com%2Fmany", None).await);
    }
    pub08_ok(
        &hub,
        &[("topic", "https://example.com/many"), ("id", "fanout")],
    )
    .await;
    for s in &mut streams {
        wait_id(s, "fanout").await;
    }
}

#[tokio::test]
async fn c02_the_query_is_form_decoded() {
    // URLSearchParams semantics: `+` is a space, `%2B` a plus.
    let hub = Hub08::start("anonymous");
    let mut s = sub08(&hub, "match=a+b%2Bc", None).await;
    publish_all(&hub, &[("plus", "a+b+c"), ("space", "a b+c")]).await;
    assert_eq!(ids_until(&mut s, "space").await, ["space"]);
}

#[tokio::test]
async fn c03_topics_that_are_not_urls_never_match_a_url_pattern() {
    let hub = Hub08::start("anonymous");
    let mut s = sub08(
        &hub,
        &q(&[("match_urlpattern", "https://*/books/:id")]),
        None,
    )
    .await;
    publish_all(
        &hub,
        &[
            ("bad-ipv6", "https://[::1/books/1"),
            ("bad-host", "https://exa mple.com/books/2"),
            ("bad-port", "https://example.com:99999/books/3"),
            ("end", "https://example.com/books/4"),
        ],
    )
    .await;
    assert_eq!(ids_until(&mut s, "end").await, ["end"]);
}

/// The reference authorizes before it parses matchers: without a token, a hub requiring one
/// answers 401 even to a malformed request; with an invalid token, 401 too.
#[tokio::test]
async fn authorization_is_checked_before_the_matchers() {
    let hub = Hub08::start("");
    for query in ["", "matchfoo=a", "topic=a", "match=a%00"] {
        let r = get08(&hub, query, &[]).await;
        assert_eq!(
            (r.status, r.header("www-authenticate")),
            (401, hub.challenge().as_str()),
            "{query:?}"
        );
        let r = get08(&hub, query, &[("Authorization", &bearer(&"x".repeat(60)))]).await;
        assert_eq!(r.status, 401, "{query:?} with an invalid token");
        let r = get08(
            &hub,
            query,
            &[("Authorization", &bearer(&hub.subscriber()))],
        )
        .await;
        assert_eq!(r.status, 400, "{query:?} with a valid token");
    }
    // Publishing: authorization before the form.
    let r = post_raw(&hub, &[FORM], "").await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, hub.challenge().as_str())
    );
}
