//! Routing on (method, path), CORS, and the security headers every response carries.

use std::sync::Arc;

use http::request::Parts;
use http::{HeaderValue, Method, Request, StatusCode, header};
use hyper::body::Incoming;

use crate::cors::CorsDecision;
use crate::response::{Resp, error, status_text, with_type};
use crate::{AppState, HUB_PATH, draft08, pages, publish, subscribe, subscriptions};

/// Handles a request that hyper parsed (any method, any protocol).
pub(crate) async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    handle_parts(&state, parts, Some(body)).await
}

/// Handles a request head, with its body when it has one: the HTTP/1.1 fast path
/// (`crate::h1`) serves GET and HEAD itself and passes `None`.
pub(crate) async fn handle_parts(
    state: &Arc<AppState>,
    req: Parts,
    body: Option<Incoming>,
) -> Resp {
    // Draft-08 `public_urls`: a request for another origin is refused before anything is
    // derived from its Host (audience, metadata URL) or any CORS decision is made.
    if let Some(edge) = &state.draft08
        && let Some(resp) = edge.misdirected(&req)
    {
        return with_security_headers(resp);
    }
    let cors = state
        .cors
        .as_ref()
        .map(|c| (c, c.decide(&req.method, &req.headers)));
    let resp = match cors {
        Some((_, CorsDecision::Preflight(headers))) => {
            let mut r = crate::response::with_type(StatusCode::NO_CONTENT, "text/plain", "");
            r.headers_mut().remove(header::CONTENT_TYPE);
            r.headers_mut().extend(headers);
            r
        }
        Some((cors, CorsDecision::Allowed(origin))) => {
            let mut r = route(state, req, body).await;
            cors.apply(Some(origin), r.headers_mut());
            r
        }
        Some((cors, CorsDecision::Plain)) => {
            let mut r = route(state, req, body).await;
            cors.apply(None, r.headers_mut());
            r
        }
        None => route(state, req, body).await,
    };
    with_security_headers(resp)
}

/// Adds the headers every response carries.
fn with_security_headers(mut resp: Resp) -> Resp {
    let h = resp.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::X_XSS_PROTECTION,
        HeaderValue::from_static("1; mode=block"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'"),
    );
    resp
}

async fn route(state: &Arc<AppState>, req: Parts, body: Option<Incoming>) -> Resp {
    if let Some(edge) = &state.draft08 {
        return draft08::route(state, edge, req, body).await;
    }
    let path = req.uri.path().to_string();
    let method = req.method.clone();
    if path == HUB_PATH {
        return match method {
            Method::GET | Method::HEAD => subscribe::handle(state, &req).await,
            Method::POST => match body {
                Some(body) => publish::handle(state, Request::from_parts(req, body)).await,
                None => {
                    // The fast path hands every request with a body to hyper.
                    tracing::error!("publish request without a body reached the router");
                    status_text(StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
            _ => method_not_allowed("GET, HEAD, POST"),
        };
    }
    if let Some(rest) = path.strip_prefix(HUB_PATH)
        && (rest == "/subscriptions" || rest.starts_with("/subscriptions/"))
        && state.opts.subscriptions
    {
        return match method {
            Method::GET | Method::HEAD => subscriptions::handle(state, &req).await,
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    shared(state, &method, &path).await
}

/// The routes both protocols serve the same way (pages, health, metrics) and the 404s.
pub(crate) async fn shared(state: &AppState, method: &Method, path: &str) -> Resp {
    match (method.clone(), path) {
        (Method::GET | Method::HEAD, "/") => pages::welcome(),
        (Method::GET | Method::HEAD, "/robots.txt") => pages::robots(),
        (Method::GET | Method::HEAD, "/healthz") => pages::healthz(),
        (Method::GET | Method::HEAD, "/health/live") => health(state, false).await,
        (Method::GET | Method::HEAD, "/health/ready") => health(state, true).await,
        (Method::GET | Method::HEAD, "/metrics") => with_type(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
        // Under the hub path the reference answers from its router (Go's `http.NotFound`);
        // elsewhere from the Caddyfile's `respond "Not Found" 404` (no trailing newline).
        _ if path.starts_with(HUB_PATH) => error(StatusCode::NOT_FOUND, "404 page not found"),
        _ => with_type(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "Not Found",
        ),
    }
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Resp {
    let mut r = status_text(StatusCode::METHOD_NOT_ALLOWED);
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

async fn health(state: &AppState, ready: bool) -> Resp {
    let t = state.hub.transport();
    let res = if ready {
        t.ready().await
    } else {
        t.live().await
    };
    match res {
        Ok(()) => with_type(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            let body = serde_json::json!({"status": "error", "error": e.to_string()}).to_string();
            with_type(StatusCode::SERVICE_UNAVAILABLE, "application/json", body)
        }
    }
}
