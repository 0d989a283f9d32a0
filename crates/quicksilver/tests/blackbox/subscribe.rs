//! Subscribing (`GET /.well-known/mercure?topic=...`, draft-07): response headers, selectors
//! (exact, `*`, RFC 6570 URI templates), heartbeats, connection lifetime (write timeout and
//! token expiry) and the slow-subscriber policy.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::common::*;

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn response_headers_and_initial_comment() {
    let hub = Hub::with_directives("anonymous");
    let mut s = Sse::open(&hub, "topic=https%3A%2F%2Fexample.com%2Fa", &[]).await;
    assert_eq!(s.status, 200);
    assert_sse_headers(&s.headers);
    // No cursor was sent, so none is answered.
    assert!(s.headers.get("last-event-id").is_none());
    assert!(s.read_until(":\n", T).await);
    assert_eq!(s.text(), ":\n");
}

#[tokio::test]
async fn head_returns_the_headers_without_a_body() {
    let hub = Hub::with_directives("anonymous");
    let r = request(
        &hub,
        reqwest::Method::HEAD,
        "topic=https%3A%2F%2Fexample.com%2Fa",
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "text/event-stream");
    assert_eq!(
        r.header("cache-control"),
        "private, no-cache, no-store, must-revalidate, max-age=0"
    );
    assert_eq!(r.header("x-accel-buffering"), "no");
    assert_eq!(r.body, "");
    // HEAD is authorized and validated like GET.
    let r = request(&hub, reqwest::Method::HEAD, "", &[], "").await;
    assert_eq!(r.status, 400);
    let strict = Hub::with_directives("");
    let r = request(&strict, reqwest::Method::HEAD, "topic=a", &[], "").await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn missing_topic_is_400() {
    let hub = Hub::with_directives("anonymous");
    for query in ["", "foo=bar", "topics=a", "Topic=a"] {
        let r = request(&hub, reqwest::Method::GET, query, &[], "").await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, "Missing \"topic\" parameter.\n"),
            "query {query:?}"
        );
    }
    assert!(hub.wait_log("subscribe rejected: missing topic").await);
    // With a valid token, same answer.
    let t = token(None, Some(&["*"]));
    let r = request(
        &hub,
        reqwest::Method::GET,
        "",
        &[("Authorization", &bearer(&t))],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn more_than_1000_topics_is_400() {
    let hub = Hub::with_directives("anonymous");
    // One-character selectors keep the request line short (the count is what is tested).
    let topics = vec!["a"; 1001];
    let r = request(&hub, reqwest::Method::GET, &topics_query(&topics), &[], "").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Too many \"topic\" parameters.\n")
    );
    assert!(hub.wait_log("subscribe rejected: too many topics").await);
    // 1000 is fine.
    let mut s = Sse::open(&hub, &topics_query(&topics[..1000]), &[]).await;
    assert_eq!(s.status, 200);
    assert!(s.read_until(":\n", T).await);
}

/// The reference (Go's net/http) accepts request heads up to 1 MB, so subscribing to hundreds
/// of full URLs in one request works there; it must here too.
#[tokio::test]
async fn a_long_query_string_is_accepted() {
    let hub = Hub::with_directives("anonymous");
    let topics: Vec<String> = (0..500)
        .map(|i| format!("https://example.com/books/{i}/reviews"))
        .collect();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    let query = topics_query(&refs);
    assert!(query.len() > 20_000);
    let mut s = Sse::open(&hub, &query, &[]).await;
    assert_eq!(s.status, 200, "{}", s.text());
    assert!(s.read_until(":\n", T).await);
    let (st, _) = publish(
        &hub,
        &publisher(),
        &[
            ("topic", "https://example.com/books/499/reviews"),
            ("id", "last"),
        ],
    )
    .await;
    assert_eq!(st, 200);
    assert!(s.read_until("id: last\n", T).await);
}

#[tokio::test]
async fn exact_and_wildcard_selectors() {
    let hub = Hub::with_directives("anonymous");
    let mut exact = Sse::subscribe(&hub, &["https://example.com/books/1"], None).await;
    let mut all = Sse::subscribe(&hub, &["*"], None).await;
    for (id, topic) in [
        ("e1", "https://example.com/books/1"),
        ("case", "https://example.com/Books/1"),
        ("slash", "https://example.com/books/1/"),
        ("prefix", "https://example.com/books/10"),
        ("encoded", "https://example.com/books/%31"),
        ("e2", "https://example.com/books/1"),
    ] {
        let (s, _) = publish(&hub, &publisher(), &[("topic", topic), ("id", id)]).await;
        assert_eq!(s, 200);
    }
    assert!(all.read_until("id: e2\n", T).await);
    assert_eq!(
        all.ids(),
        vec!["e1", "case", "slash", "prefix", "encoded", "e2"]
    );
    assert!(exact.read_until("id: e2\n", T).await);
    assert_eq!(exact.ids(), vec!["e1", "e2"]);
}

#[tokio::test]
async fn uri_template_selectors() {
    let hub = Hub::with_directives("anonymous");
    // (selector, topics that match, topics that don't). Every subscriber also listens to the
    // marker topic, so one marker tells when everything before it was routed.
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "https://example.com/l1/books/{id}",
            &[
                "https://example.com/l1/books/1",
                "https://example.com/l1/books/abc-1",
            ],
            &[
                "https://example.com/l1/books/1/reviews",
                "https://example.com/l1/books",
                "https://example.com/l1/authors/1",
            ],
        ),
        (
            "https://example.com/l2/{+path}",
            &[
                "https://example.com/l2/a/b/c",
                "https://example.com/l2/a?x=1",
                "https://example.com/l2/",
            ],
            &["https://example.org/l2/a", "https://example.com/l2"],
        ),
        (
            "https://example.com/l3/books{/a,b}",
            &[
                "https://example.com/l3/books/1/2",
                "https://example.com/l3/books/1",
                "https://example.com/l3/books",
            ],
            &[
                "https://example.com/l3/books/1/2/3",
                "https://example.com/l3/booksx",
            ],
        ),
        (
            "https://example.com/l3/search{?q}",
            &[
                "https://example.com/l3/search?q=rust",
                "https://example.com/l3/search",
            ],
            &[
                "https://example.com/l3/search/x",
                "https://example.com/l3/searching",
            ],
        ),
        (
            "https://example.com/l3/file{.ext}",
            &[
                "https://example.com/l3/file.json",
                "https://example.com/l3/file",
            ],
            &["https://example.com/l3/file/json"],
        ),
        (
            "https://example.com/l4/files{/path*}",
            &[
                "https://example.com/l4/files/a/b/c",
                "https://example.com/l4/files",
            ],
            &["https://example.com/l4/filesa"],
        ),
        // Not a valid template: compared as an exact string.
        (
            "https://example.com/l0/bad{id",
            &["https://example.com/l0/bad{id"],
            &[
                "https://example.com/l0/bad1",
                "https://example.com/l0/badid",
            ],
        ),
        (
            "https://example.com/multi/users/{id}/books/{book}",
            &["https://example.com/multi/users/42/books/7"],
            &[
                "https://example.com/multi/users/42/books",
                "https://example.com/multi/users/4/2/books/7",
            ],
        ),
    ];
    let mut subs = Vec::new();
    for (selector, _, _) in cases {
        subs.push(Sse::subscribe(&hub, &[selector, "urn:marker"], None).await);
    }
    let mut all_topics: Vec<&str> = cases
        .iter()
        .flat_map(|(_, yes, no)| yes.iter().chain(no.iter()).copied())
        .collect();
    let mut seen = std::collections::HashSet::new();
    all_topics.retain(|t| seen.insert(*t));
    for t in &all_topics {
        let (s, _) = publish(&hub, &publisher(), &[("topic", t), ("id", t)]).await;
        assert_eq!(s, 200);
    }
    let (s, _) = publish(
        &hub,
        &publisher(),
        &[("topic", "urn:marker"), ("id", "marker")],
    )
    .await;
    assert_eq!(s, 200);
    for ((selector, yes, _), sub) in cases.iter().zip(subs.iter_mut()) {
        assert!(sub.read_until("id: marker\n", T).await, "{selector}");
        let mut expected: Vec<String> = all_topics
            .iter()
            .filter(|t| yes.contains(t))
            .map(|t| t.to_string())
            .collect();
        expected.push("marker".into());
        assert_eq!(sub.ids(), expected, "selector {selector}");
    }
}

#[tokio::test]
async fn several_selectors_deliver_each_update_once() {
    let hub = Hub::with_directives("anonymous");
    let mut sub = Sse::subscribe(
        &hub,
        &[
            "https://example.com/books/1",
            "https://example.com/books/{id}",
            "*",
            "https://example.com/books/1",
        ],
        None,
    )
    .await;
    let mut two = Sse::subscribe(
        &hub,
        &["https://example.com/a", "https://example.com/b"],
        None,
    )
    .await;
    for (id, topics) in [
        ("one", &["https://example.com/books/1"][..]),
        (
            "alt",
            &["https://example.com/a", "https://example.com/b"][..],
        ),
        ("b", &["https://example.com/b"][..]),
        ("none-for-two", &["https://example.com/c"][..]),
    ] {
        let mut f: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
        f.push(("id", id));
        let (s, _) = publish(&hub, &publisher(), &f).await;
        assert_eq!(s, 200);
    }
    assert!(sub.read_until("id: none-for-two\n", T).await);
    assert!(sub.read_until("\n\n", T).await);
    assert_eq!(sub.ids(), vec!["one", "alt", "b", "none-for-two"]);
    let (s, _) = publish(
        &hub,
        &publisher(),
        &[("topic", "https://example.com/a"), ("id", "end")],
    )
    .await;
    assert_eq!(s, 200);
    assert!(two.read_until("id: end\n", T).await);
    assert_eq!(two.ids(), vec!["alt", "b", "end"]);
}

#[tokio::test]
async fn heartbeat_comment_on_an_idle_stream() {
    let hub = Hub::with_directives("anonymous\nheartbeat 1s");
    let mut s = Sse::subscribe(&hub, &["https://example.com/a"], None).await;
    let start = Instant::now();
    assert!(
        s.read_until(":\n", Duration::from_secs(2)).await,
        "no heartbeat within 2 s"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(800),
        "heartbeat after {took:?}"
    );
    assert_eq!(s.text(), ":\n");
}

#[tokio::test]
async fn heartbeat_zero_disables_it() {
    let hub = Hub::with_directives("anonymous\nheartbeat 0s");
    let mut s = Sse::subscribe(&hub, &["https://example.com/a"], None).await;
    s.drain_for(Duration::from_millis(1500)).await;
    assert_eq!(s.text(), "");
    assert!(!s.ended);
}

#[tokio::test]
async fn write_timeout_ends_the_stream_cleanly() {
    let hub = Hub::with_directives("anonymous\nwrite_timeout 2s\ndispatch_timeout 0s");
    let start = Instant::now();
    let mut s = Sse::subscribe(&hub, &["https://example.com/a"], None).await;
    assert!(
        s.wait_end(Duration::from_secs(3)).await,
        "still open after 3 s"
    );
    let took = start.elapsed();
    assert!(s.error.is_none(), "not a clean end: {:?}", s.error);
    // 80-100% of 2 s.
    assert!(
        took >= Duration::from_millis(1500) && took <= Duration::from_millis(2300),
        "ended after {took:?}"
    );
    assert_eq!(s.text(), "");
}

#[tokio::test]
async fn write_timeout_minus_dispatch_timeout() {
    // 80-100% of 3 s, minus the 1 s dispatch timeout: 1.4-2 s.
    let hub = Hub::with_directives("anonymous\nwrite_timeout 3s\ndispatch_timeout 1s");
    let start = Instant::now();
    let mut s = Sse::subscribe(&hub, &["https://example.com/a"], None).await;
    assert!(
        s.wait_end(Duration::from_secs(3)).await,
        "still open after 3 s"
    );
    let took = start.elapsed();
    assert!(s.error.is_none(), "not a clean end: {:?}", s.error);
    assert!(
        took >= Duration::from_millis(1300) && took <= Duration::from_millis(2300),
        "ended after {took:?}"
    );
}

#[tokio::test]
async fn token_expiry_ends_the_stream_no_later_than_exp() {
    let hub = Hub::with_directives("");
    let t = token_with(None, Some(&["*"]), None, Some(Duration::from_secs(3)));
    let exp = jwt_claims(&t)["exp"].as_u64().expect("exp");
    let start = Instant::now();
    let mut s = Sse::subscribe(&hub, &["https://example.com/a"], Some(&t)).await;
    assert!(
        s.wait_end(Duration::from_secs(6)).await,
        "still open after 6 s"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(s.error.is_none(), "not a clean end: {:?}", s.error);
    assert!(now <= exp as f64 + 0.1, "ended at {now}, after exp {exp}");
    // Randomized to 80-100% of the remaining lifetime (at least 3 s).
    assert!(
        start.elapsed() >= Duration::from_millis(2300),
        "ended too early: {:?}",
        start.elapsed()
    );
}

/// A client that sends its request and then never reads is disconnected once its queue is
/// full; another subscriber of the same topic receives every update meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_is_disconnected_without_hurting_others() {
    const COUNT: usize = 3000;
    const PUBLISHERS: usize = 4;
    let hub = Hub::with_directives("anonymous");
    let topic = "https://example.com/firehose";
    let query = topics_query(&[topic]);

    // The slow one: a small receive window, and it never reads.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut slow = socket
        .connect(([127, 0, 0, 1], hub.port).into())
        .await
        .expect("connect");
    slow.write_all(
        format!(
            "GET /.well-known/mercure?{query} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            hub.port
        )
        .as_bytes(),
    )
    .await
    .expect("send request");
    assert!(hub.wait_log("new subscriber").await);

    // The healthy one counts complete events without keeping the bytes.
    let r = client()
        .get(format!("{}?{query}", hub.hub_url()))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let reader = tokio::spawn(async move {
        let (mut events, mut last) = (0usize, 0u8);
        while events < COUNT {
            match stream.next().await {
                Some(Ok(b)) => {
                    for &c in b.iter() {
                        if c == b'\n' && last == b'\n' {
                            events += 1;
                        }
                        last = c;
                    }
                }
                _ => break,
            }
        }
        events
    });

    let data = "x".repeat(10 * 1024);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..PUBLISHERS {
        let (base, data, tok) = (hub.hub_url(), data.clone(), publisher());
        tasks.push(tokio::spawn(async move {
            let c = client();
            for i in 0..COUNT / PUBLISHERS {
                let body = form_body(&[
                    ("topic", "https://example.com/firehose"),
                    ("id", &format!("{p}-{i}")),
                    ("data", &data),
                ]);
                let r = c
                    .post(&base)
                    .header("Authorization", format!("Bearer {tok}"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .expect("publish");
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.expect("publisher task");
    }
    let received = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("healthy subscriber stalled")
        .expect("reader task");
    assert_eq!(received, COUNT);
    assert!(
        hub.wait_log("subscriber unable to receive updates fast enough")
            .await,
        "the slow subscriber was not disconnected"
    );
    assert!(start.elapsed() < Duration::from_secs(30));
    drop(slow);
}

/// The reference arms its disconnection timer only when `write_timeout` is set; the spec says
/// the connection MUST close no later than `exp`, so it does here even with `write_timeout 0s`.
#[tokio::test]
async fn token_expiry_ends_the_stream_even_without_write_timeout() {
    let hub = Hub::with_directives("write_timeout 0s");
    let t = token_with(None, None, None, Some(Duration::from_secs(2)));
    let exp = jwt_claims(&t)["exp"].as_u64().expect("exp");
    let mut s = Sse::subscribe(&hub, &["https://example.com/a"], Some(&t)).await;
    assert!(
        s.wait_end(Duration::from_secs(5)).await,
        "still open after 5 s"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(s.error.is_none(), "not a clean end: {:?}", s.error);
    assert!(now <= exp as f64 + 0.1, "ended at {now}, after exp {exp}");
}

/// Deliberate deviation: Go's `URL.Query()` silently drops a pair it cannot decode; we refuse
/// the request with the reason rather than subscribe to something else than was asked.
#[tokio::test]
async fn a_malformed_query_string_is_400_with_a_reason() {
    let hub = Hub::with_directives("anonymous");
    let r = request(&hub, reqwest::Method::GET, "topic=a&x=%zz", &[], "").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.starts_with("Bad Request: ") && r.body.contains("%zz"),
        "{:?}",
        r.body
    );
    assert!(
        hub.wait_log("subscribe rejected: malformed query string")
            .await
    );
}

/// `dispatch_timeout`: a client that stops reading is dropped once a write has made no progress
/// for that long, even though it never closes its socket (its queue overflowing alone cannot end
/// the response: the stream's end could not be written either).
#[tokio::test]
async fn stalled_connection_is_dropped_after_dispatch_timeout() {
    let hub = Hub::with_directives("anonymous\ndispatch_timeout 1s");
    let topic = "https://example.com/stalled";
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stalled = socket
        .connect(([127, 0, 0, 1], hub.port).into())
        .await
        .expect("connect");
    stalled
        .write_all(
            format!(
                "GET /.well-known/mercure?{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
                topics_query(&[topic]),
                hub.port
            )
            .as_bytes(),
        )
        .await
        .expect("send request");
    assert!(hub.wait_log("new subscriber").await);
    assert_eq!(hub.metric("mercure_subscribers_connected").await, Some(1.0));
    // Fill the socket buffers: 200 updates of 64 KB are far more than the kernel buffers hold.
    let data = "y".repeat(64 * 1024);
    let tok = publisher();
    for i in 0..200 {
        let (status, _) = publish(
            &hub,
            &tok,
            &[("topic", topic), ("id", &format!("s{i}")), ("data", &data)],
        )
        .await;
        assert_eq!(status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if hub.metric("mercure_subscribers_connected").await == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled connection is still open 10 s after its writes stopped progressing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(stalled);
}
