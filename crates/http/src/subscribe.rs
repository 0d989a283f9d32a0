//! `GET /.well-known/mercure`: subscribing (draft-07), and the SSE stream itself.
//!
//! The stream is a body polled only when the connection can take more bytes (by `crate::h1`
//! over HTTP/1.1, by hyper over h2c and HTTP/1.0), so a slow client applies back-pressure to its
//! own history replay instead of being buffered. Heartbeats and the connection deadline share
//! one timer per stream, re-armed only when it fires.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode, Version, header};
use quicksilver_hub::{SubscribeRequest, Subscription};
use rand::Rng;
use tokio::time::{Instant, Sleep};

use crate::AppState;
use crate::authorize::authorize;
use crate::body::HubBody;
use crate::form::Form;
use crate::metrics::Metrics;
use crate::response::{Resp, error, status_text};

/// The most `topic` selectors one subscription may carry.
pub const MAX_TOPICS: usize = 1000;
const COMMENT: Bytes = Bytes::from_static(b":\n");

pub(crate) async fn handle(state: &Arc<AppState>, req: &Parts) -> Resp {
    let opts = &state.opts;
    let query = match Form::parse(req.uri.query().unwrap_or("").as_bytes()) {
        Ok(q) => q,
        Err(e) => {
            tracing::info!(reason = %e, "subscribe rejected: malformed query string");
            return error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}"));
        }
    };
    let last_event_id = last_event_id(req, &query, opts.compat_v7);

    let mut claims = None;
    if let Some(verifier) = &opts.subscriber {
        match authorize(
            verifier,
            &req.method,
            &req.headers,
            &query,
            &opts.cookie_name,
            &state.origins,
        )
        .await
        {
            Ok(Some(c)) => claims = Some(c),
            Ok(None) if opts.anonymous => {}
            Ok(None) => return unauthorized("no token and anonymous subscribers are not allowed"),
            Err(e) => return unauthorized(&e.to_string()),
        }
    }

    let topics: Vec<String> = query.all("topic").map(str::to_string).collect();
    if topics.is_empty() {
        tracing::info!("subscribe rejected: missing topic");
        return error(StatusCode::BAD_REQUEST, r#"Missing "topic" parameter."#);
    }
    if topics.len() > MAX_TOPICS {
        tracing::info!(count = topics.len(), "subscribe rejected: too many topics");
        return error(StatusCode::BAD_REQUEST, r#"Too many "topic" parameters."#);
    }

    let mut resp = Response::new(HubBody::empty());
    set_headers(&mut resp, req.version);
    if req.method == Method::HEAD {
        // Headers only: nothing to stream, so nothing to register.
        if let Some(id) = &last_event_id {
            insert(&mut resp, "last-event-id", id);
        }
        return resp;
    }

    let exp = claims.as_ref().and_then(|c| c.exp);
    let request = SubscribeRequest {
        topics,
        private_topics: claims.as_ref().and_then(|c| c.subscribe.clone()),
        payload: claims.as_ref().and_then(|c| c.payload.clone()),
        last_event_id,
        ..Default::default()
    };
    let subscription = match state.hub.subscribe(request).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "unable to add subscriber");
            return status_text(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    if let Some(cursor) = subscription.cursor() {
        insert(&mut resp, "last-event-id", cursor);
    }
    stream(state, resp, subscription, exp)
}

/// Turns `resp` into the subscriber's event stream (both protocols), ending at the write timeout
/// or the token's expiry (`exp`, seconds since the epoch), whichever comes first.
pub(crate) fn stream(
    state: &AppState,
    mut resp: Resp,
    subscription: Subscription,
    exp: Option<u64>,
) -> Resp {
    let opts = &state.opts;
    tracing::info!(subscriber = subscription.subscriber().id(), topics = ?subscription.subscriber().topics(), "new subscriber");
    state.metrics.subscriber_connected();
    let close_at = deadline(opts.write_timeout, exp, opts.dispatch_timeout);
    *resp.body_mut() = HubBody::Sse(Box::new(SseStream::new(
        subscription,
        opts.heartbeat,
        close_at,
        state.metrics.clone(),
    )));
    resp
}

fn unauthorized(reason: &str) -> Resp {
    tracing::info!(reason, "subscribe rejected: 401 Unauthorized");
    status_text(StatusCode::UNAUTHORIZED)
}

/// `Last-Event-ID` header > `lastEventID` query parameter > (compatibility 7) `Last-Event-ID`
/// query parameter. Empty values count as absent.
fn last_event_id(req: &Parts, query: &Form, compat_v7: bool) -> Option<String> {
    if let Some(h) = req
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        && !h.is_empty()
    {
        return Some(h.to_string());
    }
    if let Some(q) = query.first("lastEventID").filter(|q| !q.is_empty()) {
        return Some(q.to_string());
    }
    if query.has("Last-Event-ID") {
        if compat_v7 {
            tracing::info!("deprecated: the Last-Event-ID query parameter, use lastEventID");
            return query
                .first("Last-Event-ID")
                .filter(|q| !q.is_empty())
                .map(str::to_string);
        }
        tracing::info!(
            "unsupported: the Last-Event-ID query parameter needs protocol_version_compatibility 7; use lastEventID"
        );
    }
    None
}

pub(crate) fn set_headers(resp: &mut Resp, version: Version) {
    let h = resp.headers_mut();
    if version < Version::HTTP_2 {
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, must-revalidate, max-age=0"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // Sic: the reference hub sends "Expire", and some clients were written against it.
    h.insert("expire", HeaderValue::from_static("0"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

pub(crate) fn insert(resp: &mut Resp, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// 80-100% of `d`, so connections opened together don't all reconnect together.
fn randomize(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..=1.0))
}

/// When to end the stream: the (randomized) write timeout or the token's expiry (also
/// randomized over the remaining lifetime), whichever is first, minus the dispatch timeout so
/// the response ends cleanly before the hard deadline.
pub(crate) fn deadline(
    write_timeout: Option<Duration>,
    exp: Option<u64>,
    dispatch: Option<Duration>,
) -> Option<Instant> {
    let now = Instant::now();
    let mut end = write_timeout.map(|w| now + randomize(w));
    if let Some(exp) = exp {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let remaining = Duration::from_secs(exp).saturating_sub(unix_now);
        let at = now + randomize(remaining);
        end = Some(end.map_or(at, |e| e.min(at)));
    }
    let end = end?;
    match dispatch {
        Some(d) if end.checked_sub(d).is_some_and(|early| early > now) => end.checked_sub(d),
        _ => Some(end),
    }
}

/// The body of a subscription response.
pub struct SseStream {
    subscription: Subscription,
    heartbeat: Option<Duration>,
    close_at: Option<Instant>,
    last_write: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    started: bool,
    ended: bool,
    metrics: Metrics,
}

impl SseStream {
    pub(crate) fn new(
        subscription: Subscription,
        heartbeat: Option<Duration>,
        close_at: Option<Instant>,
        metrics: Metrics,
    ) -> SseStream {
        let now = Instant::now();
        let first = match (heartbeat.map(|h| now + h), close_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        SseStream {
            subscription,
            heartbeat,
            close_at,
            last_write: now,
            timer: first.map(|t| Box::pin(tokio::time::sleep_until(t))),
            started: false,
            ended: false,
            metrics,
        }
    }

    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if !self.started {
            // An SSE comment first, so headers and the first bytes reach the client at once.
            self.started = true;
            return Poll::Ready(Some(COMMENT));
        }
        match self.subscription.poll_next_update(cx) {
            Poll::Ready(Some(u)) => {
                self.last_write = Instant::now();
                return Poll::Ready(Some(u.frame().clone()));
            }
            Poll::Ready(None) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        loop {
            let Some(timer) = self.timer.as_mut() else {
                return Poll::Pending;
            };
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if self.close_at.is_some_and(|c| now >= c) {
                self.ended = true;
                return Poll::Ready(None);
            }
            let next_beat = self.heartbeat.map(|h| self.last_write + h);
            if next_beat.is_some_and(|b| now >= b) {
                self.last_write = now;
                self.rearm(now);
                return Poll::Ready(Some(COMMENT));
            }
            // Fired early because something was written since it was armed: re-arm and poll.
            self.rearm(now);
        }
    }

    fn rearm(&mut self, _now: Instant) {
        let next = match (self.heartbeat.map(|h| self.last_write + h), self.close_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (next, self.timer.as_mut()) {
            (Some(t), Some(timer)) => timer.as_mut().reset(t),
            (Some(t), None) => self.timer = Some(Box::pin(tokio::time::sleep_until(t))),
            (None, _) => self.timer = None,
        }
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        self.metrics.subscriber_disconnected();
        tracing::info!(
            subscriber = self.subscription.subscriber().id(),
            "subscriber disconnected"
        );
    }
}
