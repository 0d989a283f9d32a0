//! Draft-08 publishing: `POST` on the hub path.
//!
//! Checks in the reference hub's order: authorization (401/400), the body (413 past the cap,
//! 400 when it does not parse), the topics (missing, more than 1000, forbidden characters),
//! `retry`, the publish grants (403 `insufficient_scope` unless every topic is granted:
//! nothing is dispatched), then the update's validation (400: `*` or reserved topics, ids
//! starting with `#` or equal to `earliest`, `type=mercure`, forbidden characters, data that
//! is not UTF-8), then the transport. Fields are kept as bytes until validated, so a field the
//! hub ignores cannot fail a request and each invalid field gets its own message.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use hyper::body::Incoming;
use quicksilver_auth::Role;
use quicksilver_hub::validate::{forbidden_char, is_reserved_topic};
use quicksilver_hub::{EARLIEST, UpdateData};

use super::auth::{self, Bearer};
use super::{Edge, go_quote};
use crate::AppState;
use crate::form::{is_form, parse_raw, read_body};
use crate::response::{Resp, error, status_text};

/// The most topics one update may carry.
pub(crate) const MAX_TOPICS: usize = 1000;

/// The SSE event type reserved for subscription events.
const RESERVED_TYPE: &str = "mercure";

pub(crate) async fn handle(
    state: &Arc<AppState>,
    edge: &Edge,
    req: Parts,
    body: Option<Incoming>,
) -> Resp {
    let opts = &state.opts;
    let identity = edge.identity(&req);

    // 1. Authorization: a token is always required.
    let grants = match auth::authorize(
        edge,
        state.hub.compiler(),
        &state.origins,
        &opts.cookie_name,
        &req,
        Role::Publisher,
        &identity,
    )
    .await
    {
        Ok(Some(a)) => a.publish,
        Ok(None) => {
            return auth::missing(
                &identity,
                "publish",
                "no token (Authorization header or cookie)",
            );
        }
        Err(refusal) => return auth::refuse(&refusal, &identity, "publish"),
    };

    // 2. The body: a form, like Go's ParseForm (another content type is no fields at all,
    // and is not even read).
    let query_ok = parse_raw(req.uri.query().unwrap_or("").as_bytes());
    let fields = if is_form(&req.headers) {
        let bytes = match read_body(body, opts.max_body_size).await {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(reason = %e, "publish rejected: {}", e.response().status());
                return e.response();
            }
        };
        match parse_raw(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::info!(reason = %e, "publish rejected: 400 Bad Request (malformed form)");
                return status_text(StatusCode::BAD_REQUEST);
            }
        }
    } else {
        Vec::new()
    };
    // Go's ParseForm also parses the query string (unused here) and fails on a bad one.
    if let Err(e) = query_ok {
        tracing::info!(reason = %e, "publish rejected: 400 Bad Request (malformed query string)");
        return status_text(StatusCode::BAD_REQUEST);
    }
    let all = |name: &'static [u8]| {
        fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    };
    let first = |name: &'static [u8]| all(name).next();

    // 3. Topics.
    let raw_topics: Vec<&[u8]> = all(b"topic").collect();
    if raw_topics.is_empty() {
        return bad_request("missing topic", r#"Missing "topic" parameter"#);
    }
    if raw_topics.len() > MAX_TOPICS {
        return bad_request("too many topics", "too many topics in update");
    }
    let mut topics = Vec::with_capacity(raw_topics.len());
    for raw in &raw_topics {
        match std::str::from_utf8(raw) {
            Ok(t) if forbidden_char(t).is_none() => topics.push(t.to_string()),
            _ => {
                return bad_request(
                    "invalid topic",
                    &format!(
                        "{}: topic contains a forbidden control character or invalid UTF-8",
                        go_quote(raw)
                    ),
                );
            }
        }
    }

    // 4. retry: ASCII digits only.
    let retry = match first(b"retry").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => match std::str::from_utf8(r)
            .ok()
            .filter(|r| r.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|r| r.parse::<u64>().ok())
        {
            Some(n) => Some(n),
            None => return bad_request("invalid retry", r#"Invalid "retry" parameter"#),
        },
    };
    let private = all(b"private").next().is_some();

    // 5. Every topic must be granted.
    if let Some(denied) = topics.iter().find(|t| !auth::grants(&grants, t)) {
        tracing::info!(
            topic = %denied,
            "publish rejected: 403 Forbidden (insufficient_scope): the token does not grant publish on every topic of the update"
        );
        return auth::bearer_error(Bearer::InsufficientScope, &identity);
    }

    // 6. The update's validation.
    for t in &topics {
        if is_reserved_topic(t) {
            return bad_request(
                "reserved topic",
                &format!(
                    r#"{}: topic value resolves into the reserved "/.well-known/mercure" namespace"#,
                    go_quote(t.as_bytes())
                ),
            );
        }
        if t == "*" {
            return bad_request(
                "wildcard topic",
                r#""*": topic value "*" is reserved for the wildcard matcher and cannot be published"#,
            );
        }
    }
    let id = match std::str::from_utf8(first(b"id").unwrap_or_default()) {
        Ok(id) if forbidden_char(id).is_none() && !id.starts_with('#') && id != EARLIEST => {
            id.to_string()
        }
        _ => {
            return bad_request(
                "invalid id",
                r##""id" field contains a forbidden control character or invalid UTF-8, starts with "#", or is the reserved value "earliest""##,
            );
        }
    };
    let event_type = match std::str::from_utf8(first(b"type").unwrap_or_default()) {
        Ok(t) if forbidden_char(t).is_none() => t,
        _ => {
            return bad_request(
                "invalid type",
                r#""type" field contains a forbidden control character or invalid UTF-8"#,
            );
        }
    };
    if event_type == RESERVED_TYPE {
        return bad_request(
            "reserved type",
            r#""type" field uses the reserved value "mercure""#,
        );
    }
    let Ok(data) = std::str::from_utf8(first(b"data").unwrap_or_default()) else {
        return bad_request("invalid data", r#""data" field is not valid UTF-8"#);
    };
    // Valid UTF-8 for draft-08, but not storable by every log (PostgreSQL text refuses it):
    // refused up front, the same on every transport, as draft-07 does.
    if data.contains('\0') {
        return bad_request(
            "NUL in data",
            r#""data" field must not contain a NUL character"#,
        );
    }

    // 7. Dispatch.
    let update = UpdateData {
        id,
        topics,
        data: data.to_string(),
        private,
        event_type: (!event_type.is_empty()).then(|| event_type.to_string()),
        retry,
    };
    crate::publish::dispatch(state, update).await
}

fn bad_request(what: &str, message: &str) -> Resp {
    tracing::info!(
        reason = message,
        "publish rejected: 400 Bad Request ({what})"
    );
    error(StatusCode::BAD_REQUEST, message)
}
