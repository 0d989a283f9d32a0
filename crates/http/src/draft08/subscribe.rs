//! Draft-08 subscribing: `GET`, `HEAD` and `QUERY` on the hub path.
//!
//! Checks in the reference hub's order: parameters (400, 413 for a `QUERY` body over the cap),
//! the cursor, authorization (401/400), the matchers (400), registration (503), then the
//! headers and the stream, which is the draft-07 [`SseStream`]. The response carries
//! `Mercure-Last-Event-ID` whenever the request carried a cursor, even an empty one: the
//! requested id when it was found in the history, else `earliest`.

use std::sync::Arc;

use http::request::Parts;
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use quicksilver_auth::Role;
use quicksilver_hub::{EARLIEST, Matcher, SubscribeRequest};

use super::Edge;
use super::auth::{self, CompiledGrant};
use super::params::{self, MatcherError};
use crate::AppState;
use crate::body::HubBody;
use crate::form::{parse_raw, read_body};
use crate::response::{Resp, error, status_text};
use crate::subscribe::{insert, set_headers};

/// The response header carrying the cursor.
const CURSOR_HEADER: &str = "mercure-last-event-id";

pub(crate) async fn handle(
    state: &Arc<AppState>,
    edge: &Edge,
    req: Parts,
    body: Option<Incoming>,
) -> Resp {
    let opts = &state.opts;

    // 1. Parameters: the query, and for QUERY the form body appended to it.
    let mut pairs = match parse_raw(req.uri.query().unwrap_or("").as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(reason = %e, "subscribe rejected: 400 Bad Request (malformed query string)");
            return error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}"));
        }
    };
    if req.method.as_str() == "QUERY" {
        let bytes = match read_body(body, opts.max_body_size).await {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(reason = %e, "subscribe rejected: {}", e.response().status());
                return e.response();
            }
        };
        match parse_raw(&bytes) {
            Ok(p) => pairs.extend(p),
            Err(e) => {
                tracing::info!(reason = %e, "subscribe rejected: 400 Bad Request (malformed QUERY body)");
                return status_text(StatusCode::BAD_REQUEST);
            }
        }
    }

    // 2. The cursor.
    let cursor = params::cursor(&req.headers, &pairs);

    // 3. Authorization. Without any subscriber verifier tokens are not even read.
    let identity = edge.identity(&req);
    let mut grants: Option<Vec<CompiledGrant>> = None;
    let mut exp = None;
    if edge.subscriber_configured {
        match auth::authorize(
            edge,
            state.hub.compiler(),
            &state.origins,
            &opts.cookie_name,
            &req,
            Role::Subscriber,
            &identity,
        )
        .await
        {
            Ok(Some(a)) => {
                exp = Some(a.claims.exp);
                grants = Some(a.subscribe);
            }
            Ok(None) if opts.anonymous => {}
            Ok(None) => {
                return auth::missing(
                    &identity,
                    "subscribe",
                    "no token and anonymous subscribers are not allowed",
                );
            }
            Err(refusal) => return auth::refuse(&refusal, &identity, "subscribe"),
        }
    }

    // 4. The matchers.
    let requested = match params::parse_matchers(&pairs, state.hub.compiler()) {
        Ok(r) => r,
        Err(e) => {
            match &e {
                MatcherError::InvalidPattern(detail) => {
                    tracing::info!(reason = %e, %detail, "subscribe rejected: 400 Bad Request")
                }
                _ => tracing::info!(reason = %e, "subscribe rejected: 400 Bad Request"),
            }
            return error(StatusCode::BAD_REQUEST, &e.to_string());
        }
    };
    let matchers: Vec<Matcher> = requested
        .into_iter()
        .map(|r| {
            let payload = grants
                .as_deref()
                .and_then(|g| auth::payload_for(g, &r.pattern));
            Matcher::new(r.match_type, r.selector, payload)
        })
        .collect();

    // 5. Registration. An empty cursor replays nothing and is answered `earliest`.
    let request = SubscribeRequest {
        matchers,
        private_grants: grants.map(|g| g.into_iter().map(|g| g.selector).collect()),
        last_event_id: cursor.clone().filter(|c| !c.is_empty()),
        ..Default::default()
    };
    let subscription = match state.hub.subscribe(request).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "unable to add subscriber: 503 Service Unavailable");
            return status_text(StatusCode::SERVICE_UNAVAILABLE);
        }
    };

    // 6. Headers.
    let mut resp = Response::new(HubBody::empty());
    set_headers(&mut resp, req.version);
    if cursor.is_some() {
        insert(
            &mut resp,
            CURSOR_HEADER,
            subscription.cursor().unwrap_or(EARLIEST),
        );
    }
    if req.method == Method::HEAD {
        // Registered and unregistered like the reference's HEAD (its presence events
        // included), but the headers are the whole answer: there is no body to stream.
        drop(subscription);
        return resp;
    }
    // 7. The stream, closed at the token's expiry at the latest.
    crate::subscribe::stream(state, resp, subscription, exp)
}
