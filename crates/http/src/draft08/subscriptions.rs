//! The draft-08 subscriptions API: who is subscribed to what, as plain JSON.
//!
//! `/.well-known/mercure/subscriptions` (every active subscription),
//! `/subscriptions/{match_type}/{match}` (those with that matcher) and
//! `/subscriptions/{match_type}/{match}/{subscriber}` (one subscription), the variables
//! percent-encoded once. Path segments are checked first (400 for a bad escape or an unknown
//! matcher type), then the token, which must grant `subscribe` on the escaped request path
//! (without the query) when the hub has a subscriber verifier. The last event id travels in a
//! quoted `ETag` (so `If-None-Match` polling gets a 304) and in the `Link` header, from which a
//! client follows the subscription events without a gap.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use quicksilver_auth::Role;
use quicksilver_hub::MatchType;
use quicksilver_hub::presence::{
    MatchFilter, MatchSubscriptionsDoc, match_subscription_docs, to_pretty_json,
};

use super::Edge;
use super::auth::{self, Bearer};
use crate::form::path_unescape;
use crate::response::{Resp, error, with_type};
use crate::{AppState, HUB_PATH};

const CONTENT_TYPE: &str = "application/json";

/// The path segments after `/subscriptions` of a route of the API (none, two or three, none
/// empty), or `None` when the path is not one of its routes.
pub(crate) fn segments(path: &str) -> Option<Vec<String>> {
    let rest = path
        .strip_prefix(HUB_PATH)?
        .strip_prefix("/subscriptions")?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let segments: Vec<String> = rest
        .strip_prefix('/')?
        .split('/')
        .map(str::to_string)
        .collect();
    let shape_ok = matches!(segments.len(), 2 | 3) && segments.iter().all(|s| !s.is_empty());
    shape_ok.then_some(segments)
}

/// A decoded `{match_type}/{match}` pair; the pattern is `None` when it is not UTF-8 (then no
/// subscription has it).
struct MatcherSegment {
    match_type: MatchType,
    pattern: Option<String>,
}

pub(crate) async fn handle(
    state: &Arc<AppState>,
    edge: &Edge,
    req: &Parts,
    path: &str,
    segments: &[String],
) -> Resp {
    // 1. Path segments.
    let decode = |name: &str, s: &str| {
        path_unescape(s).map_err(|e| {
            let message = format!("invalid {name} segment: {e}");
            tracing::info!(reason = %message, "subscriptions API rejected: 400 Bad Request");
            message
        })
    };
    let bad = |message: String| error(StatusCode::BAD_REQUEST, &message);
    let subscriber = match segments.get(2) {
        Some(s) => match decode("subscriber", s) {
            Ok(b) => Some(String::from_utf8(b).ok()),
            Err(m) => return bad(m),
        },
        None => None,
    };
    let matcher = match (segments.first(), segments.get(1)) {
        (Some(t), Some(m)) => {
            let pattern = match decode("match", m) {
                Ok(b) => String::from_utf8(b).ok(),
                Err(m) => return bad(m),
            };
            let match_type = match decode("match_type", t) {
                Ok(b) => std::str::from_utf8(&b).ok().and_then(MatchType::parse),
                Err(m) => return bad(m),
            };
            let Some(match_type) = match_type else {
                tracing::info!(
                    match_type = %t,
                    "subscriptions API rejected: 400 Bad Request (unsupported topic matcher type)"
                );
                return error(StatusCode::BAD_REQUEST, "unsupported topic matcher type");
            };
            Some(MatcherSegment {
                match_type,
                pattern,
            })
        }
        _ => None,
    };

    // 2. Authorization: subscribe granted on the escaped path.
    if edge.subscriber_configured {
        let identity = edge.identity(req);
        let what = "subscriptions API";
        let grants = match auth::authorize(
            edge,
            state.hub.compiler(),
            &state.origins,
            &state.opts.cookie_name,
            req,
            Role::Subscriber,
            &identity,
        )
        .await
        {
            Ok(Some(a)) => a.subscribe,
            Ok(None) => return auth::missing(&identity, what, "no token"),
            Err(refusal) => return auth::refuse(&refusal, &identity, what),
        };
        if !auth::grants(&grants, path) {
            tracing::info!(
                path,
                "subscriptions API rejected: 403 Forbidden (insufficient_scope): the token does not grant subscribe on the request path"
            );
            return auth::bearer_error(Bearer::InsufficientScope, &identity);
        }
    }

    // 3. The subscribers of every node when the transport is shared by a cluster.
    let (last_event_id, records) = match state.hub.cluster_subscribers().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "subscriptions API: cannot read the cluster's subscribers");
            return crate::response::unavailable(&e);
        }
    };
    let etag = format!("\"{}\"", etag_value(&last_event_id));
    if req
        .headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        let mut r = with_type(StatusCode::NOT_MODIFIED, CONTENT_TYPE, "");
        r.headers_mut().remove(header::CONTENT_TYPE);
        insert_etag(&mut r, &etag);
        return r;
    }

    // 4. The document.
    let filter_matcher = match &matcher {
        // A pattern that is not UTF-8 matches no subscription.
        Some(MatcherSegment { pattern: None, .. }) => None,
        Some(MatcherSegment {
            match_type,
            pattern: Some(p),
        }) => Some(Some((*match_type, p.as_str()))),
        None => Some(None),
    };
    let body = match subscriber {
        Some(subscriber) => {
            let found = match (filter_matcher, subscriber.as_deref()) {
                (Some(m), Some(id)) => {
                    let filter = MatchFilter {
                        matcher: m,
                        subscriber: Some(id),
                    };
                    records
                        .iter()
                        .find_map(|r| match_subscription_docs(r, &filter, true).into_iter().next())
                }
                _ => None,
            };
            match found {
                Some(doc) => to_pretty_json(&doc),
                None => {
                    tracing::debug!(path, "subscriptions API: no such subscription");
                    return error(StatusCode::NOT_FOUND, "404 page not found");
                }
            }
        }
        None => {
            let subscriptions = match filter_matcher {
                Some(m) => {
                    let filter = MatchFilter {
                        matcher: m,
                        subscriber: None,
                    };
                    records
                        .iter()
                        .flat_map(|r| match_subscription_docs(r, &filter, true))
                        .collect()
                }
                None => Vec::new(),
            };
            to_pretty_json(&MatchSubscriptionsDoc::new(path.to_string(), subscriptions))
        }
    };
    let mut r = with_type(StatusCode::OK, CONTENT_TYPE, body);
    insert_etag(&mut r, &etag);
    let link = format!(
        "<{HUB_PATH}>; rel=\"mercure\"; last-event-id=\"{}\"; type=\"mercure\"; content-type=\"{CONTENT_TYPE}\"",
        link_quote(&last_event_id)
    );
    if let Ok(v) = HeaderValue::from_bytes(link.as_bytes()) {
        r.headers_mut().insert(header::LINK, v);
    }
    r
}

fn insert_etag(r: &mut Resp, etag: &str) {
    // `from_bytes`: an id may hold non-ASCII characters, sent as their UTF-8 bytes.
    if let Ok(v) = HeaderValue::from_bytes(etag.as_bytes()) {
        r.headers_mut().insert(header::ETAG, v);
    }
}

/// The last event id as an entity tag's content: bytes below `!`, `"`, `%` and DEL
/// percent-encoded (an id is any string, an entity tag is not).
fn etag_value(id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match u8::try_from(c) {
            Ok(b) if b < 0x21 || b == b'"' || b == b'%' || b == 0x7f => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A Link parameter's quoted-string content: `"` and `\` escaped.
fn link_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_shapes() {
        assert_eq!(segments("/.well-known/mercure/subscriptions"), Some(vec![]));
        assert_eq!(
            segments("/.well-known/mercure/subscriptions/exact/a%2Fb"),
            Some(vec!["exact".to_string(), "a%2Fb".to_string()])
        );
        assert_eq!(
            segments("/.well-known/mercure/subscriptions/exact/a/urn%3Auuid%3Ax").map(|s| s.len()),
            Some(3)
        );
        for bad in [
            "/.well-known/mercure/subscriptions/",
            "/.well-known/mercure/subscriptions/exact",
            "/.well-known/mercure/subscriptions/exact/",
            "/.well-known/mercure/subscriptions//a",
            "/.well-known/mercure/subscriptions/a/b/c/d",
            "/.well-known/mercure/subscriptionsx",
            "/.well-known/mercure",
        ] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn etag_and_link_escaping() {
        assert_eq!(etag_value("urn:uuid:0190-ab"), "urn:uuid:0190-ab");
        assert_eq!(etag_value("a b\"c%d\u{7f}"), "a%20b%22c%25d%7F");
        assert_eq!(etag_value("é"), "é");
        assert_eq!(etag_value("earliest"), "earliest");
        assert_eq!(link_quote(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
