//! Serving: the pages of the reference's default Caddyfile, security headers, routing statuses,
//! HTTP/2 cleartext, metrics, graceful shutdown and start-up logs.
//!
//! Deviations from the reference, on purpose: the security headers (the reference's
//! `unrolled/secure` middleware) are sent on every response, not only under
//! `/.well-known/mercure`; 405 answers carry an `Allow` header and a `Method Not Allowed` body
//! (gorilla/mux sends neither; RFC 9110 requires `Allow`); metrics are served on the hub's port
//! (the reference serves them on Caddy's admin port, 2019) and include `process_*` series.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::{Method, Version};

use crate::common::*;

const T: Duration = Duration::from_secs(5);

async fn send(hub: &Hub, method: Method, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client()
        .request(method, hub.url(path))
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap())
}

fn assert_security_headers(h: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(header(h, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(h, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(h, "x-xss-protection"), "1; mode=block", "{what}");
    assert_eq!(
        header(h, "content-security-policy"),
        "default-src 'self'",
        "{what}"
    );
}

#[tokio::test]
async fn pages_statuses_and_security_headers() {
    let hub = Hub::with_directives("anonymous\nsubscriptions");

    let (status, h, body) = send(&hub, Method::GET, "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(body.contains("/.well-known/mercure"), "{body}");
    assert_security_headers(&h, "/");

    let (status, h, body) = send(&hub, Method::GET, "/robots.txt").await;
    assert_eq!((status, body.as_str()), (200, "User-agent: *\nDisallow: /"));
    assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
    assert_security_headers(&h, "/robots.txt");

    let (status, h, body) = send(&hub, Method::GET, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_security_headers(&h, "/healthz");

    // Caddy's `respond "Not Found" 404`: no trailing newline.
    let (status, h, body) = send(&hub, Method::GET, "/nope").await;
    assert_eq!((status, body.as_str()), (404, "Not Found"));
    assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
    assert_security_headers(&h, "404");
    // Under the hub path, the reference's router answers (Go's http.NotFound).
    let (status, _, body) = send(&hub, Method::GET, "/.well-known/mercure/nope").await;
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));

    for m in [Method::PUT, Method::DELETE, Method::PATCH] {
        let (status, h, body) = send(&hub, m.clone(), "/.well-known/mercure").await;
        assert_eq!(
            (status, body.as_str()),
            (405, "Method Not Allowed\n"),
            "{m}"
        );
        assert_eq!(header(&h, "allow"), "GET, HEAD, POST");
        assert_security_headers(&h, "405");
    }
    let (status, _, _) = send(&hub, Method::POST, "/.well-known/mercure/subscriptions").await;
    assert_eq!(status, 405);

    // Hub answers carry them too: a subscription stream and a publish error.
    let sse = Sse::subscribe(&hub, &["https://example.com/1"], None).await;
    assert_security_headers(&sse.headers, "subscribe");
    drop(sse);
    let (status, h, body) = send(&hub, Method::POST, "/.well-known/mercure").await;
    assert_eq!((status, body.as_str()), (401, "Unauthorized\n"));
    assert_security_headers(&h, "401");
}

fn h2c() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .expect("h2c client")
}

#[tokio::test]
async fn http2_cleartext_with_prior_knowledge() {
    let hub = Hub::with_directives("anonymous");
    let client = h2c();
    let r = client
        .get(format!(
            "{}?topic=https%3A%2F%2Fexample.com%2Fh2",
            hub.hub_url()
        ))
        .send()
        .await
        .expect("h2 subscribe");
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(r.headers(), "content-type"), "text/event-stream");
    assert!(r.headers().get("connection").is_none(), "{:?}", r.headers());
    let mut sse = Sse::from_response(r);
    assert!(sse.read_until(":\n", T).await, "{:?}", sse.text());

    let r = client
        .post(hub.hub_url())
        .header("Authorization", format!("Bearer {}", publisher()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("topic=https%3A%2F%2Fexample.com%2Fh2&data=over%20h2&id=h2-1")
        .send()
        .await
        .expect("h2 publish");
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("connection").is_none());
    assert_eq!(r.text().await.unwrap(), "h2-1");

    assert!(sse.read_until("\n\n", T).await, "{:?}", sse.text());
    assert_eq!(sse.text(), ":\nid: h2-1\ndata: over h2\n\n");

    // The pages too.
    let r = client.get(hub.url("/robots.txt")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "User-agent: *\nDisallow: /");
}

/// Polls `/metrics` until `name` has `value` (metrics follow disconnections asynchronously).
async fn wait_metric(hub: &Hub, name: &str, value: f64) {
    let deadline = Instant::now() + T;
    loop {
        let v = hub.metric(name).await;
        if v == Some(value) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {v:?}, expected {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics() {
    let hub = Hub::with_directives("anonymous");
    let r = hub.http_get("/metrics", &[]).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        header(r.headers(), "content-type").starts_with("text/plain"),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.unwrap();
    for needle in [
        "# TYPE mercure_subscribers_connected gauge",
        "# TYPE mercure_subscribers_total counter",
        "# TYPE mercure_updates_total counter",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    assert_eq!(hub.metric("mercure_subscribers_connected").await, Some(0.0));

    let sse = Sse::subscribe(&hub, &["https://example.com/m"], None).await;
    wait_metric(&hub, "mercure_subscribers_connected", 1.0).await;
    assert_eq!(hub.metric("mercure_subscribers_total").await, Some(1.0));
    drop(sse);
    wait_metric(&hub, "mercure_subscribers_connected", 0.0).await;
    let sse = Sse::subscribe(&hub, &["https://example.com/m"], None).await;
    wait_metric(&hub, "mercure_subscribers_connected", 1.0).await;
    assert_eq!(hub.metric("mercure_subscribers_total").await, Some(2.0));
    drop(sse);

    for i in 0..3 {
        let (status, _) = publish(
            &hub,
            &publisher(),
            &[("topic", "https://example.com/m"), ("data", &i.to_string())],
        )
        .await;
        assert_eq!(status, 200);
    }
    // A refused publication is not counted.
    let (status, _) = publish(
        &hub,
        "bad-token-bad-token-bad-token-bad-token-bad-token",
        &[("topic", "x")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(hub.metric("mercure_updates_total").await, Some(3.0));
}

#[tokio::test]
async fn subscription_events_are_not_counted_as_updates() {
    let hub = Hub::with_directives("anonymous\nsubscriptions");
    let _sse = Sse::subscribe(&hub, &["https://example.com/m"], None).await;
    wait_metric(&hub, "mercure_subscribers_connected", 1.0).await;
    let (status, _) = publish(&hub, &publisher(), &[("topic", "https://example.com/m")]).await;
    assert_eq!(status, 200);
    assert_eq!(hub.metric("mercure_updates_total").await, Some(1.0));
}

/// Starts a publication over raw HTTP/1.1 with `Expect: 100-continue` and returns once the hub
/// asked for the body: the request is then in flight, inside the publish handler.
fn start_publish_in_flight(hub: &Hub, body: &str) -> std::net::TcpStream {
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", hub.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(
        tcp,
        "POST /.well-known/mercure HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        publisher(),
        body.len(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "connection closed");
        head.push(byte[0]);
    }
    assert_eq!(head, b"HTTP/1.1 100 Continue\r\n\r\n");
    tcp
}

async fn graceful_shutdown(sig: &str) {
    let mut hub = Hub::with_directives("anonymous");
    let mut sse = Sse::subscribe(&hub, &["https://example.com/s"], None).await;
    let (status, id) = publish(
        &hub,
        &publisher(),
        &[("topic", "https://example.com/s"), ("data", "before")],
    )
    .await;
    assert_eq!(status, 200);
    let body = "topic=https%3A%2F%2Fexample.com%2Fs&data=in-flight&id=in-flight";
    let mut in_flight = start_publish_in_flight(&hub, body);

    hub.signal(sig);
    assert!(
        hub.wait_log(&format!("SIG{sig} received")).await,
        "{}",
        hub.logs()
    );
    assert!(hub.wait_log("shutting down").await, "{}", hub.logs());

    // The stream ends cleanly: everything queued, then the chunked terminator (no reset).
    assert!(sse.wait_end(T).await, "stream still open: {:?}", sse.text());
    assert_eq!(sse.error, None, "stream ended with an error");
    assert_eq!(sse.text(), format!("id: {id}\ndata: before\n\n"));

    // New connections are refused while the request in flight finishes.
    let deadline = Instant::now() + T;
    while std::net::TcpStream::connect(("127.0.0.1", hub.port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The request in flight completes, and the connection closes after it.
    in_flight.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    in_flight.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nin-flight"), "{response}");

    let status = hub.wait_exit(Duration::from_secs(12)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        hub.logs()
    );
}

#[tokio::test]
async fn graceful_shutdown_on_sigterm() {
    graceful_shutdown("TERM").await;
}

#[tokio::test]
async fn graceful_shutdown_on_sigint() {
    graceful_shutdown("INT").await;
}

#[tokio::test]
async fn terminate_with_idle_streams_is_quick() {
    let mut hub = Hub::with_directives("anonymous");
    let _a = Sse::subscribe(&hub, &["https://example.com/a"], None).await;
    let _b = Sse::subscribe(&hub, &["https://example.com/b"], None).await;
    let started = Instant::now();
    let status = hub.terminate(Duration::from_secs(12));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn startup_log_names_address_transport_and_protocol() {
    let hub = Hub::with_directives("anonymous");
    assert!(
        hub.wait_log("serving the Mercure hub").await,
        "{}",
        hub.logs()
    );
    let logs = hub.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("serving the Mercure hub"))
        .unwrap();
    assert!(
        line.contains(&format!(
            "http://127.0.0.1:{}/.well-known/mercure",
            hub.port
        )),
        "{line}"
    );
    assert!(line.contains("transport=bolt (path "), "{line}");
    assert!(line.contains("protocol=draft-07"), "{line}");
    // Not a terminal: no colour escapes.
    assert!(!logs.contains('\u{1b}'), "{logs}");
}

fn assert_json_lines(logs: &str) -> Vec<serde_json::Value> {
    assert!(!logs.is_empty());
    logs.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            assert!(v.is_object(), "{l}");
            v
        })
        .collect()
}

#[tokio::test]
async fn json_logs() {
    for hub in [
        HubBuilder::new()
            .directives("anonymous")
            .arg("--log-format")
            .arg("json")
            .start(),
        HubBuilder::new()
            .directives("anonymous")
            .env("QUICKSILVER_LOG_FORMAT", "json")
            .start(),
    ] {
        assert!(
            hub.wait_log("serving the Mercure hub").await,
            "{}",
            hub.logs()
        );
        let lines = assert_json_lines(&hub.logs());
        let start = lines
            .iter()
            .find(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("serving the Mercure hub"))
            })
            .unwrap();
        assert_eq!(start["level"], "INFO");
        assert_eq!(start["protocol"], "draft-07");
        assert!(
            start["transport"].as_str().unwrap().starts_with("bolt"),
            "{start}"
        );
    }
    // Start-up errors too.
    let (code, _, stderr) = run_cli(
        &["--log-format", "json", "run"],
        &[("MERCURE_SUBSCRIBER_JWT_KEY", SECRET)],
    );
    assert_eq!(code, 1);
    let lines = assert_json_lines(&stderr);
    assert!(
        lines.iter().any(|l| l["level"] == "ERROR"
            && l["message"]
                .as_str()
                .unwrap()
                .contains("MERCURE_PUBLISHER_JWT_KEY")),
        "{stderr}"
    );
}
