//! Shared helpers of the draft-08 (Mercure 1.0) black-box tests: a hub preset speaking
//! `protocol draft-08`, RFC 9068 access tokens for it (well-formed ones through
//! `quicksilver_auth::mint_access`, deliberately broken ones built by hand so the hub's refusal
//! of each defect can be checked), the RFC 6750 challenges the hub must answer with, and a
//! probe proving that a refused publication dispatched nothing.
//!
//! The helpers are written from the protocol reference (§1.2-1.10), not from the hub's code,
//! so that they encode what the spec requires rather than what was implemented.

#![allow(dead_code)]

use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use quicksilver_auth::{AccessMintOptions, Grant};
use serde_json::{Value, json};

use crate::common::*;

/// Generous bound for anything the hub does "at once".
pub const T: Duration = Duration::from_secs(5);
/// The issuer the environment keys belong to when `MERCURE_TRUSTED_ISSUERS` is unset.
pub const ISS: &str = "https://localhost";
/// The RFC 9396 authorization detail type of Mercure grants.
pub const DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";
/// The default draft-08 cookie.
pub const COOKIE: &str = "__Secure-mercure_access_token";
/// The RFC 9728 metadata path of a hub at `/.well-known/mercure`.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";
/// `Content-Type` of publish forms.
pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// A draft-08 hub and the audience (resource identifier) its tokens must carry.
pub struct Hub08 {
    pub hub: Hub,
    /// The resource identifier: `resource_identifier` when pinned, else derived from the
    /// request (`http://127.0.0.1:PORT/.well-known/mercure` for the harness's requests).
    pub aud: String,
}

impl Deref for Hub08 {
    type Target = Hub;
    fn deref(&self) -> &Hub {
        &self.hub
    }
}

/// `protocol draft-08` followed by `directives`.
pub fn directives08(directives: &str) -> String {
    if directives.is_empty() {
        "protocol draft-08".to_string()
    } else {
        format!("protocol draft-08\n{directives}")
    }
}

impl Hub08 {
    /// A draft-08 hub with the harness's HS256 keys (issuer `https://localhost`) and the given
    /// extra directives; the audience is derived from the request.
    pub fn start(directives: &str) -> Hub08 {
        Hub08::from_builder(HubBuilder::new(), directives)
    }

    /// Same, from a prepared builder (extra environment, fixed port...).
    pub fn from_builder(builder: HubBuilder, directives: &str) -> Hub08 {
        let hub = builder.directives(&directives08(directives)).start();
        let aud = hub.hub_url();
        Hub08 { hub, aud }
    }

    /// A draft-08 hub with `resource_identifier <rid>` (which then is the audience).
    pub fn pinned(directives: &str, rid: &str) -> Hub08 {
        let hub = HubBuilder::new()
            .directives(&directives08(&format!(
                "resource_identifier {rid}\n{directives}"
            )))
            .start();
        Hub08 {
            hub,
            aud: rid.to_string(),
        }
    }

    /// Mint options for a valid token of this hub: the harness secret, `iss`
    /// `https://localhost`, this hub's `aud`, one hour of lifetime, no grant.
    pub fn opts(&self) -> AccessMintOptions {
        AccessMintOptions {
            key: SECRET.into(),
            alg: "HS256".into(),
            issuer: ISS.into(),
            audience: vec![self.aud.clone()],
            ttl: Some(Duration::from_secs(3600)),
            ..Default::default()
        }
    }

    /// A valid token granting `publish` and `subscribe` as given.
    pub fn token(&self, publish: &[Grant], subscribe: &[Grant]) -> String {
        let mut o = self.opts();
        o.publish = publish.to_vec();
        o.subscribe = subscribe.to_vec();
        mint08(&o)
    }

    /// A token publishing everywhere.
    pub fn publisher(&self) -> String {
        self.token(&[ex("*")], &[])
    }

    /// A token receiving every private update.
    pub fn subscriber(&self) -> String {
        self.token(&[], &[ex("*")])
    }

    /// The claims of a valid token of this hub, `authorization_details` given.
    pub fn claims(&self, details: Value) -> Value {
        json!({
            "iss": ISS,
            "aud": self.aud,
            "exp": now() + 3600,
            "authorization_details": details,
        })
    }

    /// The bare challenge (no token presented).
    pub fn challenge(&self) -> String {
        format!("Bearer resource_metadata=\"{}\"", self.metadata_url())
    }

    /// A challenge with an RFC 6750 error code.
    pub fn challenge_err(&self, code: &str) -> String {
        format!(
            "Bearer error=\"{code}\", resource_metadata=\"{}\"",
            self.metadata_url()
        )
    }

    /// The RFC 9728 metadata URL: origin of the resource identifier + the well-known path.
    pub fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}", origin(&self.aud))
    }
}

/// `scheme://host[:port]` of an absolute URL.
pub fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// An `exact` grant.
pub fn ex(pattern: &str) -> Grant {
    Grant {
        pattern: pattern.into(),
        urlpattern: false,
        payload: None,
    }
}

/// A `urlpattern` grant.
pub fn up(pattern: &str) -> Grant {
    Grant {
        pattern: pattern.into(),
        urlpattern: true,
        payload: None,
    }
}

/// A grant carrying a payload.
pub fn with_payload(mut g: Grant, payload: Value) -> Grant {
    g.payload = Some(payload);
    g
}

pub fn mint08(o: &AccessMintOptions) -> String {
    quicksilver_auth::mint_access(o).expect("mint draft-08 token")
}

/// One Mercure authorization detail.
pub fn detail(actions: &[&str], topics: Value) -> Value {
    json!({"type": DETAIL_TYPE, "actions": actions, "topics": topics})
}

/// A JWS over arbitrary header and claims, signed with `key` under `alg` (whatever the header
/// says, so headers can lie).
pub fn jws(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{sig}")
}

/// An HS256 JWS with the harness secret over arbitrary header and claims.
pub fn hs256(header: &Value, claims: &Value) -> String {
    jws(header, claims, &secret_key(SECRET), Algorithm::HS256)
}

/// The usual access-token header, HS256.
pub fn at_header() -> Value {
    json!({"alg": "HS256", "typ": "at+jwt"})
}

pub fn secret_key(secret: &str) -> EncodingKey {
    EncodingKey::from_secret(secret.as_bytes()).expect("HMAC key")
}

/// A PEM fixture of the auth crate's tests.
pub fn fixture(name: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../auth/tests/fixtures/{name}"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A unique scratch file path.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "qs-blackbox-d08-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ))
}

/// `name=value&...`, both percent-encoded.
pub fn q(pairs: &[(&str, &str)]) -> String {
    form_body(pairs)
}

/// The QUERY method.
pub fn query_method() -> reqwest::Method {
    reqwest::Method::from_bytes(b"QUERY").expect("QUERY is a valid method token")
}

/// Opens a stream with any method, query, headers and body (not asserting the status).
pub async fn open_stream(
    hub: &Hub,
    method: reqwest::Method,
    query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Sse {
    let url = if query.is_empty() {
        hub.hub_url()
    } else {
        format!("{}?{query}", hub.hub_url())
    };
    let mut req = client().request(method, url).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Sse::from_response(req.send().await.expect("subscribe request"))
}

/// `GET hub?query` with an optional bearer token; asserts 200 and consumes the initial `:\n`.
pub async fn sub08(hub: &Hub, query: &str, token: Option<&str>) -> Sse {
    let auth = token.map(bearer);
    let mut headers = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    sub08_with(hub, query, &headers).await
}

/// `GET hub?query` with headers; asserts 200 and consumes the initial `:\n`.
pub async fn sub08_with(hub: &Hub, query: &str, headers: &[(&str, &str)]) -> Sse {
    let mut s = open_stream(hub, reqwest::Method::GET, query, headers, "").await;
    assert_eq!(s.status, 200, "subscription refused: {:?}", s.text());
    assert!(s.read_until(":\n", T).await, "no initial comment");
    assert!(s.text().starts_with(":\n"), "{:?}", s.text());
    s.buf.drain(..2);
    s
}

/// A full (non-streaming) `GET hub?query` (for refusals).
pub async fn get08(hub: &Hub, query: &str, headers: &[(&str, &str)]) -> Reply {
    request(hub, reqwest::Method::GET, query, headers, "").await
}

/// Publishes `fields` with a bearer token.
pub async fn pub08(hub: &Hub, token: &str, fields: &[(&str, &str)]) -> Reply {
    publish_with(hub, &[("Authorization", &bearer(token))], fields).await
}

/// Publishes and asserts 200; returns the id.
pub async fn pub08_ok(hub: &Hub08, fields: &[(&str, &str)]) -> String {
    let r = pub08(hub, &hub.publisher(), fields).await;
    assert_eq!(r.status, 200, "publish refused: {:?} {fields:?}", r.body);
    r.body
}

/// A subscriber of every topic (`match=*`) allowed every private update: what a refused
/// publication must not reach.
pub async fn watch_all(hub: &Hub08) -> Sse {
    sub08(hub, "match=*", Some(&hub.subscriber())).await
}

/// Publishes a public marker and waits for it on `watcher`; asserts that nothing but the
/// marker arrived since the last call (so whatever was refused before it was not dispatched),
/// then clears the buffer.
pub async fn assert_nothing_dispatched(hub: &Hub08, watcher: &mut Sse) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let id = format!("marker-{}", N.fetch_add(1, Ordering::SeqCst));
    let got = pub08_ok(hub, &[("topic", "https://example.com/marker"), ("id", &id)]).await;
    assert_eq!(got, id);
    assert!(
        watcher.read_until(&format!("id: {id}\n"), T).await,
        "marker not received: {:?}",
        watcher.text()
    );
    assert!(watcher.read_until("\n\n", T).await, "{:?}", watcher.text());
    assert_eq!(
        watcher.ids(),
        vec![id],
        "something was dispatched: {:?}",
        watcher.text()
    );
    watcher.buf.clear();
}

/// Waits until `sse` received the event with `id` and returns the events seen so far.
pub async fn wait_id(sse: &mut Sse, id: &str) -> Vec<String> {
    let needle = format!("id: {id}\n");
    assert!(
        sse.read_until(&needle, T).await,
        "no event {id}: {:?}",
        sse.text()
    );
    // The event is complete once its terminating blank line arrived.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let text = sse.text();
        let start = text.find(&needle).expect("present");
        if text[start..].contains("\n\n") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text:?}");
        sse.drain_for(Duration::from_millis(20)).await;
    }
    sse.complete_events()
}

/// Reads events until `sse` holds more than `seen` complete events; returns event `seen`.
pub async fn nth_event(sse: &mut Sse, seen: usize) -> String {
    let deadline = tokio::time::Instant::now() + T;
    while sse.complete_events().len() <= seen {
        assert!(
            !sse.ended && tokio::time::Instant::now() < deadline,
            "no event #{seen}; got {:?}",
            sse.text()
        );
        sse.drain_for(Duration::from_millis(20)).await;
    }
    sse.complete_events()[seen].clone()
}

/// Percent-encoding of a subscription-event path segment: everything but RFC 3986 unreserved
/// characters, once (what `url.QueryEscape` + `+`→`%20` gives).
pub fn seg(s: &str) -> String {
    enc(s)
}
