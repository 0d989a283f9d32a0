//! The subscriptions API (draft-07): who is subscribed to what, as JSON-LD.
//!
//! `/.well-known/mercure/subscriptions`, `/subscriptions/{topic}` and
//! `/subscriptions/{topic}/{subscriber}`, with `{topic}` and `{subscriber}` percent-encoded path
//! segments. The token must grant `subscribe` on the request URI (path and query), and the
//! `ETag` is the last event id so clients can poll cheaply and then follow the subscription
//! events from that id.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use quicksilver_hub::presence::{
    JSONLD_CONTEXT, SubscriptionDoc, subscription_docs, to_pretty_json,
};
use serde::Serialize;

use crate::authorize::authorize;
use crate::form::{Form, query_unescape};
use crate::response::{Resp, error, status_text, with_type};
use crate::{AppState, HUB_PATH};

#[derive(Serialize)]
struct Collection {
    #[serde(rename = "@context")]
    context: &'static str,
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "lastEventID")]
    last_event_id: String,
    subscriptions: Vec<SubscriptionDoc>,
}

pub(crate) async fn handle(state: &Arc<AppState>, req: &Parts) -> Resp {
    let opts = &state.opts;
    let request_uri = req
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let path = req.uri.path();
    let rest = path
        .strip_prefix(HUB_PATH)
        .and_then(|p| p.strip_prefix("/subscriptions"))
        .unwrap_or("");
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    if segments.len() > 2 || segments.iter().any(|s| s.is_empty()) {
        return not_found();
    }

    if let Some(verifier) = &opts.subscriber {
        let query = Form::parse(req.uri.query().unwrap_or("").as_bytes()).unwrap_or_default();
        let claims = match authorize(
            verifier,
            &req.method,
            &req.headers,
            &query,
            &opts.cookie_name,
            &state.origins,
        )
        .await
        {
            Ok(Some(c)) => c,
            Ok(None) => return unauthorized("no token"),
            Err(e) => return unauthorized(&e.to_string()),
        };
        let Some(granted) = claims.subscribe.as_deref() else {
            return unauthorized("the token has no mercure.subscribe claim");
        };
        let selectors = state.hub.compiler().compile_all(granted);
        if !quicksilver_hub::topic::any_matches(&selectors, std::slice::from_ref(&request_uri)) {
            return unauthorized(&format!("mercure.subscribe does not match {request_uri:?}"));
        }
    }

    // The subscribers of every node when the transport is shared by a cluster.
    let (last_event_id, subscribers) = match state.hub.cluster_subscribers().await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "subscriptions API: cannot read the cluster's subscribers");
            return crate::response::unavailable(&e);
        }
    };
    if req
        .headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == last_event_id.as_bytes())
    {
        let mut r = with_type(StatusCode::NOT_MODIFIED, "application/ld+json", "");
        r.headers_mut().remove(header::CONTENT_TYPE);
        return r;
    }

    let decoded: Vec<String> = match segments.iter().map(|s| query_unescape(s)).collect() {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(reason = %e, "subscriptions API: bad path segment");
            return error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}"));
        }
    };
    let body = match decoded.as_slice() {
        [topic, subscriber] => {
            let found = subscribers
                .iter()
                .find(|s| s.id == *subscriber)
                .and_then(|s| {
                    subscription_docs(s, Some(topic), true, true)
                        .into_iter()
                        .next()
                });
            match found {
                Some(mut doc) => {
                    doc.last_event_id = Some(last_event_id.clone());
                    to_pretty_json(&doc)
                }
                None => return not_found(),
            }
        }
        _ => {
            let topic = decoded.first().map(String::as_str);
            let subscriptions = subscribers
                .iter()
                .flat_map(|s| subscription_docs(s, topic, false, true))
                .collect();
            to_pretty_json(&Collection {
                context: JSONLD_CONTEXT,
                id: request_uri,
                kind: "Subscriptions",
                last_event_id: last_event_id.clone(),
                subscriptions,
            })
        }
    };
    let mut r = with_type(StatusCode::OK, "application/ld+json", body);
    if let Ok(etag) = HeaderValue::from_str(&last_event_id) {
        r.headers_mut().insert(header::ETAG, etag);
    }
    r
}

fn not_found() -> Resp {
    error(StatusCode::NOT_FOUND, "404 page not found")
}

fn unauthorized(reason: &str) -> Resp {
    tracing::info!(reason, "subscriptions API rejected: 401 Unauthorized");
    status_text(StatusCode::UNAUTHORIZED)
}
