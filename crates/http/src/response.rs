//! Small constructors for the plain responses the hub sends, with the reference hub's bodies
//! (Go's `http.Error`: the text, a newline, `text/plain; charset=utf-8`, `nosniff`).

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::HubBody;

pub type Resp = Response<HubBody>;

pub fn error(status: StatusCode, text: &str) -> Resp {
    let mut r = Response::new(HubBody::text(format!("{text}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub fn status_text(status: StatusCode) -> Resp {
    error(status, status.canonical_reason().unwrap_or(""))
}

pub fn with_type(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(HubBody::text(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// 503 with `Retry-After: 1`: the log or the presence store is unreachable for now (a broker
/// outage), so the client should retry rather than give up.
pub fn unavailable(reason: &dyn std::fmt::Display) -> Resp {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("Service Unavailable: {reason}"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}
