//! CORS (`cors_origins`), compared with what the reference v0.24.2 answers through rs/cors
//! v1.11.1 (`AllowCredentials: true`, default methods GET/POST/HEAD, headers `authorization`,
//! `cache-control`, `last-event-id`, preflights answered 204 without reaching the hub).
//!
//! Deviations, on purpose:
//! - rs/cors wants the requested headers lowercase and sorted (what browsers send) and methods
//!   upper-case; we accept any case and order.
//! - The reference only applies its security headers to `/.well-known/mercure*`; we send them on
//!   every response, preflights included (see server.rs).

use reqwest::Method;

use crate::common::*;

const ORIGINS: &str = "cors_origins https://a.example https://b.example";

async fn request(
    hub: &Hub,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = client().request(method, hub.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap())
}

async fn preflight(
    hub: &Hub,
    origin: &str,
    method: &str,
    headers: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut h = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if !headers.is_empty() {
        h.push(("Access-Control-Request-Headers", headers));
    }
    request(hub, Method::OPTIONS, "/.well-known/mercure", &h).await
}

fn assert_no_cors(h: &reqwest::header::HeaderMap) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
    ] {
        assert!(h.get(name).is_none(), "unexpected {name}: {h:?}");
    }
}

const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

#[tokio::test]
async fn preflight_from_an_allowed_origin() {
    let hub = Hub::with_directives(&format!("anonymous\n{ORIGINS}"));
    for origin in ["https://a.example", "https://b.example"] {
        let (status, h, body) = preflight(&hub, origin, "GET", "authorization,last-event-id").await;
        assert_eq!((status, body.as_str()), (204, ""));
        assert_eq!(header(&h, "access-control-allow-origin"), origin);
        assert_eq!(header(&h, "access-control-allow-credentials"), "true");
        assert_eq!(header(&h, "access-control-allow-methods"), "GET");
        assert_eq!(
            header(&h, "access-control-allow-headers"),
            "authorization,last-event-id"
        );
        assert_eq!(header(&h, "vary"), PREFLIGHT_VARY);
        assert!(h.get("content-type").is_none(), "{h:?}");
        assert_eq!(header(&h, "x-frame-options"), "DENY");
    }
    // POST with cache-control; no requested headers: no allow-headers.
    let (status, h, _) = preflight(&hub, "https://a.example", "POST", "cache-control").await;
    assert_eq!(status, 204);
    assert_eq!(header(&h, "access-control-allow-methods"), "POST");
    assert_eq!(header(&h, "access-control-allow-headers"), "cache-control");
    let (status, h, _) = preflight(&hub, "https://a.example", "GET", "").await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        "https://a.example"
    );
    assert!(h.get("access-control-allow-headers").is_none());
    // Origins compare case-insensitively; the origin is echoed as sent.
    let (_, h, _) = preflight(&hub, "https://A.example", "GET", "").await;
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        "https://A.example"
    );
    // Preflights never reach the hub: same answer on any path.
    let (status, h, _) = request(
        &hub,
        Method::OPTIONS,
        "/.well-known/mercure/subscriptions",
        &[
            ("Origin", "https://a.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        "https://a.example"
    );
}

#[tokio::test]
async fn refused_preflights_have_no_allow_headers() {
    let hub = Hub::with_directives(&format!("anonymous\n{ORIGINS}"));
    for (origin, method, headers) in [
        ("https://evil.example", "GET", "authorization"),
        ("https://a.example.evil", "GET", ""),
        ("http://a.example", "GET", ""),
        // Not an allowed method / header.
        ("https://a.example", "PUT", ""),
        ("https://a.example", "DELETE", ""),
        ("https://a.example", "GET", "authorization,x-custom"),
        ("https://a.example", "POST", "content-type"),
    ] {
        let (status, h, body) = preflight(&hub, origin, method, headers).await;
        assert_eq!(
            (status, body.as_str()),
            (204, ""),
            "{origin} {method} {headers}"
        );
        assert_eq!(header(&h, "vary"), PREFLIGHT_VARY);
        assert_no_cors(&h);
    }
    // Without an Origin at all.
    let (status, h, _) = request(
        &hub,
        Method::OPTIONS,
        "/.well-known/mercure",
        &[("Access-Control-Request-Method", "GET")],
    )
    .await;
    assert_eq!(status, 204);
    assert_no_cors(&h);
}

#[tokio::test]
async fn actual_requests_from_allowed_and_other_origins() {
    let hub = Hub::with_directives(&format!("anonymous\n{ORIGINS}"));

    // Subscribe (GET) from an allowed origin.
    let sse = Sse::open(
        &hub,
        "topic=https%3A%2F%2Fexample.com%2F1",
        &[("Origin", "https://b.example")],
    )
    .await;
    assert_eq!(sse.status, 200);
    assert_eq!(
        header(&sse.headers, "access-control-allow-origin"),
        "https://b.example"
    );
    assert_eq!(
        header(&sse.headers, "access-control-allow-credentials"),
        "true"
    );
    assert_eq!(header(&sse.headers, "vary"), "Origin");
    assert!(sse.headers.get("access-control-allow-methods").is_none());
    assert!(sse.headers.get("access-control-expose-headers").is_none());
    drop(sse);

    // Publish (POST) from an allowed origin.
    let auth = format!("Bearer {}", publisher());
    let form = "topic=https%3A%2F%2Fexample.com%2F1&data=x";
    let url = hub.hub_url();
    let publish_from = |origin: &'static str| {
        let auth = auth.clone();
        let url = url.clone();
        async move {
            let r = client()
                .post(url)
                .header("Authorization", auth)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Origin", origin)
                .body(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().clone())
        }
    };
    let (status, h) = publish_from("https://a.example").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        "https://a.example"
    );
    assert_eq!(header(&h, "access-control-allow-credentials"), "true");
    assert_eq!(header(&h, "vary"), "Origin");

    // From an origin not on the list: handled normally, no CORS headers but `Vary: Origin`.
    let (status, h) = publish_from("https://evil.example").await;
    assert_eq!(status, 200);
    assert_no_cors(&h);
    assert_eq!(header(&h, "vary"), "Origin");
    let sse = Sse::open(&hub, "topic=x", &[("Origin", "https://evil.example")]).await;
    assert_eq!(sse.status, 200);
    assert_no_cors(&sse.headers);

    // Errors are answered with CORS headers too, so the browser lets the page see them.
    let (status, h, _) = request(
        &hub,
        Method::POST,
        "/.well-known/mercure",
        &[("Origin", "https://a.example")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        "https://a.example"
    );

    // Without an Origin: only `Vary`.
    let (status, h, _) = request(&hub, Method::GET, "/robots.txt", &[]).await;
    assert_eq!(status, 200);
    assert_no_cors(&h);
    assert_eq!(header(&h, "vary"), "Origin");
}

#[tokio::test]
async fn without_cors_origins_there_is_no_cors() {
    let hub = Hub::with_directives("anonymous");
    let (status, h, _) = preflight(&hub, "https://a.example", "GET", "authorization").await;
    assert_eq!(status, 405);
    assert_no_cors(&h);
    assert!(h.get("vary").is_none(), "{h:?}");
    let sse = Sse::open(&hub, "topic=x", &[("Origin", "https://a.example")]).await;
    assert_eq!(sse.status, 200);
    assert_no_cors(&sse.headers);
}

#[tokio::test]
async fn wildcard_origin() {
    // rs/cors v1.11.1 (the reference's) answers a literal `*`, credentials flag included, and
    // so do we: browsers accept it for requests without credentials and refuse to expose
    // credentialed (cookie) responses to arbitrary sites. Older rs/cors echoed the origin.
    let hub = Hub::with_directives("anonymous\ncors_origins *");
    let (status, h, _) = preflight(&hub, "https://any.example", "GET", "last-event-id").await;
    assert_eq!(status, 204);
    assert_eq!(header(&h, "access-control-allow-origin"), "*");
    assert_eq!(header(&h, "access-control-allow-credentials"), "true");
    assert_eq!(header(&h, "access-control-allow-headers"), "last-event-id");
    let sse = Sse::open(&hub, "topic=x", &[("Origin", "http://localhost:3000")]).await;
    assert_eq!(sse.status, 200);
    assert_eq!(header(&sse.headers, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&sse.headers, "access-control-allow-credentials"),
        "true"
    );
    // Methods outside GET/HEAD/POST get no CORS answer even from an allowed origin.
    let (status, h, _) = request(
        &hub,
        Method::PUT,
        "/.well-known/mercure",
        &[("Origin", "http://localhost:3000")],
    )
    .await;
    assert_eq!(status, 405);
    assert_no_cors(&h);
}
