//! The draft-08 (Mercure 1.0) edges of the HTTP layer.
//!
//! A draft-08 hub shares the draft-07 core (the SSE stream and its headers, form decoding,
//! CORS, the accept loop, pages and health) and differs only here: subscribing with `match` /
//! `match_urlpattern` (and the `QUERY` method), publishing with the 1.0 validation rules, RFC
//! 9068 access tokens with RFC 6750 errors, the RFC 9728 protected resource metadata, the JSON
//! subscriptions API, and `public_urls`. The reference hub's order of checks is kept in every
//! handler, so a client sees the same status for the same mistake.
//!
//! Routes exist only when they can be used, as in the reference: subscribing needs a
//! subscriber verifier or `anonymous`, publishing a publisher verifier, the metadata document
//! some verifier, the subscriptions API `subscriptions`.

mod auth;
mod metadata;
mod params;
mod publish;
mod subscribe;
mod subscriptions;

use std::sync::Arc;

use http::request::Parts;
use http::{Method, StatusCode, header};
use hyper::body::Incoming;
use quicksilver_auth::{Issuers, Role};

use crate::response::{Resp, status_text};
use crate::router::{method_not_allowed, shared};
use crate::{AppState, HUB_PATH, HttpOptions};

/// Where the RFC 9728 metadata of the hub is served (the well-known prefix + the hub path).
pub(crate) const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";

/// The draft-08 state derived once from the options.
pub(crate) struct Edge {
    issuers: Option<Issuers>,
    publisher_configured: bool,
    subscriber_configured: bool,
    /// The pinned resource identifier, if any.
    resource_identifier: Option<String>,
    /// The metadata URL advertised with a pinned identifier: its origin + [`METADATA_PATH`]
    /// (`None` when the identifier has no origin).
    pinned_metadata_url: Option<String>,
    /// Lowercase `scheme://host[:port]` origins, default port left out; empty: any.
    public_urls: Vec<String>,
}

/// Who the hub is for one request: the audience tokens must carry and where its metadata is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The resource identifier; empty when none can be derived (a request without a host and
    /// no pinned identifier): no token can then be valid.
    pub audience: String,
    /// The `resource_metadata` of `WWW-Authenticate` challenges.
    pub metadata_url: Option<String>,
}

impl Edge {
    pub(crate) fn new(opts: &HttpOptions) -> Edge {
        let has = |role| opts.issuers.as_ref().is_some_and(|i| i.has(role));
        Edge {
            issuers: opts.issuers.clone(),
            publisher_configured: has(Role::Publisher),
            subscriber_configured: has(Role::Subscriber),
            pinned_metadata_url: opts
                .resource_identifier
                .as_deref()
                .and_then(origin_of)
                .map(|o| format!("{o}{METADATA_PATH}")),
            resource_identifier: opts.resource_identifier.clone(),
            public_urls: opts
                .public_urls
                .iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
        }
    }

    /// The resource identifier and metadata URL for this request: the pinned ones, else
    /// derived from its host (we serve plain HTTP).
    pub(crate) fn identity(&self, req: &Parts) -> Identity {
        if let Some(id) = &self.resource_identifier {
            return Identity {
                audience: id.clone(),
                metadata_url: self.pinned_metadata_url.clone(),
            };
        }
        match request_host(req) {
            Some(host) => Identity {
                audience: format!("http://{host}{HUB_PATH}"),
                metadata_url: Some(format!("http://{host}{METADATA_PATH}")),
            },
            None => Identity {
                audience: String::new(),
                metadata_url: None,
            },
        }
    }

    /// `public_urls`: the 421 answer for a request whose origin is not listed.
    pub(crate) fn misdirected(&self, req: &Parts) -> Option<Resp> {
        if self.public_urls.is_empty() {
            return None;
        }
        let origin = request_host(req).map(|h| {
            let h = h.to_ascii_lowercase();
            // The configured origins leave the default port out.
            let h = h.strip_suffix(":80").unwrap_or(&h);
            format!("http://{h}")
        });
        if origin
            .as_ref()
            .is_some_and(|o| self.public_urls.iter().any(|u| u == o))
        {
            return None;
        }
        tracing::info!(
            origin = origin.as_deref().unwrap_or("(no host)"),
            allowed = ?self.public_urls,
            "request rejected: 421 Misdirected Request (origin not in public_urls)"
        );
        Some(status_text(StatusCode::MISDIRECTED_REQUEST))
    }

    fn subscribe_route(&self, opts: &HttpOptions) -> bool {
        self.subscriber_configured || opts.anonymous
    }

    /// Whether tokens are validated at all (then the metadata document is served).
    fn protected(&self) -> bool {
        self.publisher_configured || self.subscriber_configured
    }
}

/// Routes a draft-08 request.
pub(crate) async fn route(
    state: &Arc<AppState>,
    edge: &Edge,
    req: Parts,
    body: Option<Incoming>,
) -> Resp {
    let path = req.uri.path().to_string();
    let method = req.method.clone();
    if path == HUB_PATH {
        let sub = edge.subscribe_route(&state.opts);
        let publ = edge.publisher_configured;
        match method.as_str() {
            "GET" | "HEAD" | "QUERY" if sub => {
                return subscribe::handle(state, edge, req, body).await;
            }
            "POST" if publ => return publish::handle(state, edge, req, body).await,
            _ => match (sub, publ) {
                (true, true) => return method_not_allowed("GET, HEAD, POST, QUERY"),
                (true, false) => return method_not_allowed("GET, HEAD, QUERY"),
                (false, true) => return method_not_allowed("POST"),
                (false, false) => {}
            },
        }
    }
    if path == METADATA_PATH && edge.protected() {
        return match method {
            Method::GET | Method::HEAD => metadata::handle(state, edge, &req),
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    if state.opts.subscriptions
        && let Some(segments) = subscriptions::segments(&path)
    {
        return match method {
            Method::GET | Method::HEAD => {
                subscriptions::handle(state, edge, &req, &path, &segments).await
            }
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    shared(state, &method, &path).await
}

/// The host the request was sent to: the `Host` header (HTTP/1.1), else the URI's authority
/// (HTTP/2's `:authority`).
fn request_host(req: &Parts) -> Option<String> {
    if let Some(h) = req.headers.get(header::HOST) {
        return h
            .to_str()
            .ok()
            .filter(|h| !h.is_empty())
            .map(str::to_string);
    }
    req.uri.authority().map(|a| a.as_str().to_string())
}

/// `scheme://host[:port]` of an absolute URL with a host.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

/// Quotes like Go's `%q`, which the reference hub's messages use: printable characters as
/// they are, `"` and `\` escaped, controls and format characters as `\u`/`\x` escapes, and
/// bytes that are not UTF-8 as `\xNN`.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x80 && (c.is_ascii_control()) => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if quicksilver_hub::validate::is_forbidden(c) => {
                    if (c as u32) <= 0xffff {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(host: Option<&str>, uri: &str) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn edge(resource_identifier: Option<&str>, public_urls: &[&str]) -> Edge {
        Edge {
            issuers: None,
            publisher_configured: true,
            subscriber_configured: true,
            resource_identifier: resource_identifier.map(str::to_string),
            pinned_metadata_url: resource_identifier
                .and_then(origin_of)
                .map(|o| format!("{o}{METADATA_PATH}")),
            public_urls: public_urls.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn identity_is_pinned_or_derived_from_the_host() {
        let pinned = edge(Some("https://hub.example.com/.well-known/mercure"), &[]);
        let id = pinned.identity(&parts(Some("other:3000"), "/.well-known/mercure"));
        assert_eq!(id.audience, "https://hub.example.com/.well-known/mercure");
        assert_eq!(
            id.metadata_url.as_deref(),
            Some(
                "https://hub.example.com/.well-known/oauth-protected-resource/.well-known/mercure"
            )
        );

        let derived = edge(None, &[]);
        let id = derived.identity(&parts(Some("localhost:3000"), "/.well-known/mercure"));
        assert_eq!(id.audience, "http://localhost:3000/.well-known/mercure");
        assert_eq!(
            id.metadata_url.as_deref(),
            Some("http://localhost:3000/.well-known/oauth-protected-resource/.well-known/mercure")
        );
        // HTTP/2: the authority of the URI.
        let id = derived.identity(&parts(None, "http://h2.example:8080/.well-known/mercure"));
        assert_eq!(id.audience, "http://h2.example:8080/.well-known/mercure");
        // No host at all: nothing to derive, no token can be valid.
        let id = derived.identity(&parts(None, "/.well-known/mercure"));
        assert_eq!(id.audience, "");
        assert_eq!(id.metadata_url, None);
    }

    #[test]
    fn public_urls_refuse_other_origins() {
        let e = edge(None, &["http://hub.example.com", "http://localhost:3000"]);
        assert!(
            e.misdirected(&parts(Some("hub.example.com"), "/"))
                .is_none()
        );
        assert!(
            e.misdirected(&parts(Some("HUB.example.com:80"), "/"))
                .is_none()
        );
        assert!(e.misdirected(&parts(Some("localhost:3000"), "/")).is_none());
        let r = e.misdirected(&parts(Some("localhost:3001"), "/")).unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
        assert!(e.misdirected(&parts(None, "/")).is_some());
        assert!(edge(None, &[]).misdirected(&parts(None, "/")).is_none());
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"Match"), r#""Match""#);
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote(b"a\nb\x01"), r#""a\nb\x01""#);
        assert_eq!(go_quote("é\u{200b}".as_bytes()), "\"é\\u200b\"");
        assert_eq!(go_quote(b"m\xffx"), r#""m\xffx""#);
    }
}
