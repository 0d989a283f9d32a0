//! `POST /.well-known/mercure`: publishing an update (draft-07).
//!
//! The checks run in the reference hub's order, so clients see the same status for the same
//! mistake: authorization (401), form parsing (400, 413 past the size cap), topics (400),
//! `retry` (400), publish grants (401), then validation (403 for the reserved namespace, 400
//! for control characters in `id` or `type`), then the transport (503 when the log is
//! unreachable).

use std::sync::Arc;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use quicksilver_hub::{PublishError, TransportError, UpdateData};

use crate::AppState;
use crate::authorize::authorize;
use crate::form::{BodyError, Form, is_form, read_body};
use crate::response::{Resp, error, status_text, with_type};

/// The most topics one update may carry.
pub const MAX_TOPICS: usize = 1000;
const RESERVED: &str = "/.well-known/mercure";

pub(crate) async fn handle(state: &Arc<AppState>, req: Request<Incoming>) -> Resp {
    let opts = &state.opts;
    let query = Form::parse(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
    let Some(publisher) = &opts.publisher else {
        // The binary refuses to start a draft-07 hub without a publisher key.
        return unauthorized("no publisher key is configured");
    };
    let claims = match authorize(
        publisher,
        req.method(),
        req.headers(),
        &query,
        &opts.cookie_name,
        &state.origins,
    )
    .await
    {
        Ok(Some(c)) if c.publish.is_some() => c,
        Ok(Some(_)) => return unauthorized("the token has no mercure.publish claim"),
        Ok(None) => {
            return unauthorized(
                "no token (Authorization header, authorization query parameter or cookie)",
            );
        }
        Err(e) => return unauthorized(&e.to_string()),
    };

    let form_body = is_form(req.headers());
    let body = match read_body(Some(req.into_body()), opts.max_body_size).await {
        Ok(b) => b,
        Err(e @ BodyError::TooLarge(_)) => {
            tracing::info!(reason = %e, "publish rejected: request body too large");
            return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
        }
        Err(e) => {
            tracing::info!(reason = %e, "publish rejected: unreadable request body");
            return status_text(StatusCode::BAD_REQUEST);
        }
    };
    // Like Go's ParseForm: a body that is not a form is simply no fields.
    let form = if form_body {
        match Form::parse(&body) {
            Ok(f) => f,
            Err(e) => {
                tracing::info!(reason = %e, "publish rejected: malformed form");
                return error(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}"));
            }
        }
    } else {
        Form::default()
    };

    let topics: Vec<String> = form.all("topic").map(str::to_string).collect();
    if topics.is_empty() {
        tracing::info!("publish rejected: missing topic");
        return error(StatusCode::BAD_REQUEST, r#"Missing "topic" parameter"#);
    }
    if topics.len() > MAX_TOPICS {
        tracing::info!(count = topics.len(), "publish rejected: too many topics");
        return error(StatusCode::BAD_REQUEST, "too many topics in update");
    }
    let retry = match form.first("retry").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => match r.parse::<u64>() {
            Ok(n) if r.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                tracing::info!(retry = r, "publish rejected: invalid retry");
                return error(StatusCode::BAD_REQUEST, r#"Invalid "retry" parameter"#);
            }
        },
    };
    let private = form.has("private");

    let granted = claims.publish.as_deref().unwrap_or_default();
    let selectors = state.hub.compiler().compile_all(granted);
    if !quicksilver_hub::topic::all_matched(&selectors, &topics) {
        if private || !opts.compat_v7 {
            return unauthorized(
                "the token's mercure.publish claim does not cover every topic of the update",
            );
        }
        tracing::info!(
            "deprecated: public update to topics not in mercure.publish, allowed by protocol_version_compatibility 7"
        );
    }

    // A NUL character cannot be stored by every log (PostgreSQL text refuses it) and has no
    // place in an SSE stream: refused up front with a 400, the same on every transport, rather
    // than failing later in one backend.
    if topics.iter().any(|t| t.contains('\0'))
        || form.first("data").is_some_and(|d| d.contains('\0'))
    {
        tracing::info!("publish rejected: NUL character in a topic or in data");
        return error(
            StatusCode::BAD_REQUEST,
            r#""topic" and "data" must not contain a NUL character"#,
        );
    }
    for t in &topics {
        if t.contains(RESERVED) {
            tracing::info!(topic = %t, "publish rejected: reserved topic");
            return error(
                StatusCode::FORBIDDEN,
                &format!(
                    "{t:?}: topic value references the reserved \"/.well-known/mercure\" namespace"
                ),
            );
        }
    }
    let id = form.first("id").unwrap_or("").to_string();
    if id.contains(['\0', '\r', '\n']) {
        tracing::info!("publish rejected: control character in id");
        return error(
            StatusCode::BAD_REQUEST,
            r#""id" field contains a forbidden control character"#,
        );
    }
    let event_type = form
        .first("type")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if event_type
        .as_deref()
        .is_some_and(|t| t.contains(['\0', '\r', '\n']))
    {
        tracing::info!("publish rejected: control character in type");
        return error(
            StatusCode::BAD_REQUEST,
            r#""type" field contains a forbidden control character"#,
        );
    }

    let data = UpdateData {
        id,
        topics,
        data: form.first("data").unwrap_or("").to_string(),
        private,
        event_type,
        retry,
    };
    dispatch(state, data).await
}

/// Publishes validated update data and answers the publisher (both protocols): 200 with the id,
/// 503 with `Retry-After` while the log is unreachable, 500 otherwise.
pub(crate) async fn dispatch(state: &AppState, data: UpdateData) -> Resp {
    match state.hub.publish(data).await {
        Ok(u) => {
            state.metrics.update_published();
            tracing::debug!(id = u.id(), topics = ?u.topics(), private = u.is_private(), "update published");
            with_type(
                StatusCode::OK,
                "text/plain; charset=utf-8",
                u.id().to_string(),
            )
        }
        Err(PublishError::Transport(
            e @ (TransportError::Unavailable(_) | TransportError::Closed),
        )) => {
            tracing::warn!(error = %e, "publish failed: transport unavailable");
            crate::response::unavailable(&e)
        }
        Err(e) => {
            tracing::error!(error = %e, "publish failed");
            status_text(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn unauthorized(reason: &str) -> Resp {
    tracing::info!(reason, "publish rejected: 401 Unauthorized");
    status_text(StatusCode::UNAUTHORIZED)
}
