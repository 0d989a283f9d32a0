//! Draft-08 tokens: where a request's access token is found, how it is verified, and the RFC
//! 6750 answers when it is missing, invalid or insufficient.
//!
//! Presentation, in the reference hub's precedence: an `Authorization` header (then it must be
//! exactly one `Bearer <token>`, the scheme compared case-insensitively, or the request is
//! malformed) wins over the cookie; there is no token in the URL (RFC 9700). A cookie on a POST
//! must come with an `Origin` (or `Referer`) listed in `publish_origins`. Every refusal is
//! logged with its reason, the challenge only says which kind of error it was.

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use quicksilver_auth::{AccessClaims, AuthError, Grant, Role};
use quicksilver_hub::validate::forbidden_char;
use quicksilver_hub::{MatchType, Selector, SelectorCompiler};

use super::params::MAX_PATTERN_LENGTH;
use super::{Edge, Identity};
use crate::authorize::{OriginPolicy, find_cookie, origin_from_referer};
use crate::response::{Resp, status_text};

/// `Bearer ` and the shortest compact JWS (`a.b.c` with a minimal header).
const BEARER: &[u8] = b"Bearer ";
const MIN_TOKEN_LEN: usize = 41;

/// Why a presented token was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(
        "invalid Authorization header: expected exactly one \"Bearer <token>\" with a token of at least {MIN_TOKEN_LEN} characters"
    )]
    BadHeader,
    #[error("cookie-authenticated POST without an Origin or Referer header")]
    NoOrigin,
    #[error("cookie-authenticated POST from origin {0:?}, which is not in publish_origins")]
    OriginNotAllowed(String),
    #[error("cookie-authenticated POST with an unparsable Referer header")]
    BadReferer,
    #[error("{source_name}: {error}")]
    Invalid {
        source_name: &'static str,
        error: AuthError,
    },
    #[error("{source_name}: invalid {action} grant {pattern:?}: {reason}")]
    BadGrant {
        source_name: &'static str,
        action: &'static str,
        pattern: String,
        reason: String,
    },
}

/// The RFC 6750 error codes, plus the bare challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bearer {
    /// 401 without `error`: a token is required and none was presented.
    Challenge,
    /// 400 `invalid_request`: the token was presented wrongly.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope`: valid, but it does not grant this.
    InsufficientScope,
}

impl Bearer {
    fn status(self) -> StatusCode {
        match self {
            Bearer::Challenge | Bearer::InvalidToken => StatusCode::UNAUTHORIZED,
            Bearer::InvalidRequest => StatusCode::BAD_REQUEST,
            Bearer::InsufficientScope => StatusCode::FORBIDDEN,
        }
    }

    fn code(self) -> Option<&'static str> {
        match self {
            Bearer::Challenge => None,
            Bearer::InvalidRequest => Some("invalid_request"),
            Bearer::InvalidToken => Some("invalid_token"),
            Bearer::InsufficientScope => Some("insufficient_scope"),
        }
    }
}

/// The `WWW-Authenticate` value: `Bearer`, then `error="..."`, then `resource_metadata="..."`
/// when the hub knows where its metadata is.
pub(crate) fn challenge_value(kind: Bearer, identity: &Identity) -> String {
    let mut v = String::from("Bearer");
    let mut sep = " ";
    if let Some(code) = kind.code() {
        v.push_str(sep);
        v.push_str(&format!("error=\"{code}\""));
        sep = ", ";
    }
    if let Some(url) = &identity.metadata_url {
        v.push_str(sep);
        v.push_str("resource_metadata=\"");
        for c in url.chars() {
            if c == '"' || c == '\\' {
                v.push('\\');
            }
            v.push(c);
        }
        v.push('"');
    }
    v
}

/// The error response: the status text as body, and the challenge.
pub(crate) fn bearer_error(kind: Bearer, identity: &Identity) -> Resp {
    let mut r = status_text(kind.status());
    if let Ok(v) = HeaderValue::from_str(&challenge_value(kind, identity)) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The answer to a refused token, logged with its reason (`what`: "subscribe", "publish"...).
pub(crate) fn refuse(refusal: &Refusal, identity: &Identity, what: &str) -> Resp {
    let kind = match refusal {
        Refusal::BadHeader
        | Refusal::NoOrigin
        | Refusal::OriginNotAllowed(_)
        | Refusal::BadReferer => Bearer::InvalidRequest,
        Refusal::Invalid { .. } | Refusal::BadGrant { .. } => Bearer::InvalidToken,
    };
    let status = kind.status();
    match refusal {
        // A key server that cannot be reached is the operator's problem, not the client's.
        Refusal::Invalid { error, .. } if !error.is_token_error() => tracing::warn!(
            reason = %refusal,
            "{what} rejected: {status} ({})",
            kind.code().unwrap_or_default()
        ),
        _ => tracing::info!(
            reason = %refusal,
            "{what} rejected: {status} ({})",
            kind.code().unwrap_or_default()
        ),
    }
    bearer_error(kind, identity)
}

/// The 401 bare challenge when a token is required and none was presented.
pub(crate) fn missing(identity: &Identity, what: &str, reason: &str) -> Resp {
    tracing::info!(reason, "{what} rejected: 401 Unauthorized (no token)");
    bearer_error(Bearer::Challenge, identity)
}

/// A verified token: its claims and its grants compiled by the hub's compiler.
pub(crate) struct Authorized {
    pub claims: AccessClaims,
    pub publish: Vec<CompiledGrant>,
    pub subscribe: Vec<CompiledGrant>,
}

/// Finds the request's token and verifies it for `role`. `Ok(None)`: no token presented.
/// Every grant of the token is compiled, whatever the role: a pattern the hub cannot compile
/// makes the whole token invalid, wherever it is presented.
pub(crate) async fn authorize(
    edge: &Edge,
    compiler: &SelectorCompiler,
    origins: &OriginPolicy,
    cookie_name: &str,
    req: &Parts,
    role: Role,
    identity: &Identity,
) -> Result<Option<Authorized>, Refusal> {
    let Some((token, source_name)) = find_token(&req.method, &req.headers, cookie_name, origins)?
    else {
        return Ok(None);
    };
    let Some(issuers) = &edge.issuers else {
        return Err(Refusal::Invalid {
            source_name,
            error: AuthError::Malformed("no trusted issuer is configured".to_string()),
        });
    };
    let claims = issuers
        .verify(&token, role, &identity.audience)
        .await
        .map_err(|error| Refusal::Invalid { source_name, error })?;
    let publish = compile_grants(compiler, &claims.publish, "publish", source_name)?;
    let subscribe = compile_grants(compiler, &claims.subscribe, "subscribe", source_name)?;
    Ok(Some(Authorized {
        claims,
        publish,
        subscribe,
    }))
}

/// The token and where it was found, or `None`.
fn find_token(
    method: &Method,
    headers: &HeaderMap,
    cookie_name: &str,
    origins: &OriginPolicy,
) -> Result<Option<(String, &'static str)>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(first) = values.next() {
        let bytes = first.as_bytes();
        if values.next().is_some()
            || bytes.len() < BEARER.len() + MIN_TOKEN_LEN
            || !bytes[..BEARER.len()].eq_ignore_ascii_case(BEARER)
        {
            return Err(Refusal::BadHeader);
        }
        let token = std::str::from_utf8(&bytes[BEARER.len()..]).map_err(|_| Refusal::Invalid {
            source_name: "Authorization header",
            error: AuthError::Malformed("the token is not UTF-8".to_string()),
        })?;
        return Ok(Some((token.to_string(), "Authorization header")));
    }
    let Some(cookie) = find_cookie(headers, cookie_name) else {
        return Ok(None);
    };
    if method == Method::POST {
        let origin = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(o) if !o.is_empty() => o.to_string(),
            _ => {
                let referer = headers
                    .get(header::REFERER)
                    .and_then(|v| v.to_str().ok())
                    .filter(|r| !r.is_empty())
                    .ok_or(Refusal::NoOrigin)?;
                origin_from_referer(referer).ok_or(Refusal::BadReferer)?
            }
        };
        if !origins.allows(&origin) {
            return Err(Refusal::OriginNotAllowed(origin));
        }
    }
    Ok(Some((cookie, "cookie")))
}

/// A token grant compiled by the hub's compiler, with the payload of its detail.
pub(crate) struct CompiledGrant {
    pub selector: Selector,
    pub payload: Option<serde_json::Value>,
}

/// Compiles the grants of one action.
fn compile_grants(
    compiler: &SelectorCompiler,
    grants: &[Grant],
    action: &'static str,
    source_name: &'static str,
) -> Result<Vec<CompiledGrant>, Refusal> {
    grants
        .iter()
        .map(|g| {
            let match_type = if g.urlpattern {
                MatchType::UrlPattern
            } else {
                MatchType::Exact
            };
            let refuse = |reason: String| Refusal::BadGrant {
                source_name,
                action,
                pattern: g.pattern.clone(),
                reason,
            };
            // A token's matchers obey the same limits as the query's: a token is input too,
            // and its patterns end up in caches and logs.
            if g.pattern.len() > MAX_PATTERN_LENGTH {
                return Err(refuse(format!("longer than {MAX_PATTERN_LENGTH} bytes")));
            }
            if let Some(c) = forbidden_char(&g.pattern) {
                return Err(refuse(format!(
                    "forbidden character U+{:04X}",
                    u32::from(c)
                )));
            }
            compiler
                .compile_matcher(match_type, &g.pattern)
                .map(|selector| CompiledGrant {
                    selector,
                    payload: g.payload.clone(),
                })
                .map_err(|error| refuse(error.to_string()))
        })
        .collect()
}

/// Whether some grant matches `topic`.
pub(crate) fn grants(grants: &[CompiledGrant], topic: &str) -> bool {
    grants.iter().any(|g| g.selector.matches(topic))
}

/// The payload of a subscription with pattern `pattern`: that of the first grant matching the
/// pattern treated as a topic (`*` matches every subscription), even when it has none.
pub(crate) fn payload_for(grants: &[CompiledGrant], pattern: &str) -> Option<serde_json::Value> {
    grants
        .iter()
        .find(|g| g.selector.matches(pattern))
        .and_then(|g| g.payload.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";
    const COOKIE: &str = "__Secure-mercure_access_token";

    fn find(
        method: Method,
        h: &[(&str, &str)],
        origins: &[&str],
    ) -> Result<Option<(String, &'static str)>, Refusal> {
        let origins: Vec<String> = origins.iter().map(|s| s.to_string()).collect();
        find_token(&method, &headers(h), COOKIE, &OriginPolicy::new(&origins))
    }

    #[test]
    fn header_wins_and_must_be_one_bearer() {
        let bearer = format!("bearer {TOKEN}");
        let cookie = format!("{COOKIE}=other");
        let got = find(
            Method::GET,
            &[("authorization", &bearer), ("cookie", &cookie)],
            &[],
        )
        .unwrap();
        assert_eq!(got, Some((TOKEN.to_string(), "Authorization header")));

        let short = "Bearer abc".to_string();
        assert!(matches!(
            find(Method::GET, &[("authorization", &short)], &[]),
            Err(Refusal::BadHeader)
        ));
        let basic = format!("Basic {TOKEN}");
        assert!(matches!(
            find(Method::GET, &[("authorization", &basic)], &[]),
            Err(Refusal::BadHeader)
        ));
        let twice = [
            ("authorization", bearer.as_str()),
            ("authorization", bearer.as_str()),
        ];
        assert!(matches!(
            find(Method::GET, &twice, &[]),
            Err(Refusal::BadHeader)
        ));
        assert!(find(Method::GET, &[], &[]).unwrap().is_none());
    }

    #[test]
    fn cookie_posts_need_an_allowed_origin() {
        let cookie = format!("{COOKIE}={TOKEN}");
        let got = find(Method::GET, &[("cookie", &cookie)], &[]).unwrap();
        assert_eq!(got, Some((TOKEN.to_string(), "cookie")));
        assert!(matches!(
            find(Method::POST, &[("cookie", &cookie)], &[]),
            Err(Refusal::NoOrigin)
        ));
        assert!(matches!(
            find(
                Method::POST,
                &[("cookie", &cookie), ("origin", "https://evil.example")],
                &["https://app.example"]
            ),
            Err(Refusal::OriginNotAllowed(_))
        ));
        assert!(
            find(
                Method::POST,
                &[("cookie", &cookie), ("origin", "https://app.example")],
                &["https://app.example"]
            )
            .unwrap()
            .is_some()
        );
        assert!(
            find(
                Method::POST,
                &[
                    ("cookie", &cookie),
                    ("referer", "https://app.example/page?x")
                ],
                &["https://app.example"]
            )
            .unwrap()
            .is_some()
        );
    }

    #[test]
    fn challenges() {
        let id = Identity {
            audience: "http://h/.well-known/mercure".into(),
            metadata_url: Some(
                "http://h/.well-known/oauth-protected-resource/.well-known/mercure".into(),
            ),
        };
        assert_eq!(
            challenge_value(Bearer::Challenge, &id),
            r#"Bearer resource_metadata="http://h/.well-known/oauth-protected-resource/.well-known/mercure""#
        );
        assert_eq!(
            challenge_value(Bearer::InvalidToken, &id),
            r#"Bearer error="invalid_token", resource_metadata="http://h/.well-known/oauth-protected-resource/.well-known/mercure""#
        );
        let none = Identity {
            audience: String::new(),
            metadata_url: None,
        };
        assert_eq!(
            challenge_value(Bearer::InsufficientScope, &none),
            r#"Bearer error="insufficient_scope""#
        );
        assert_eq!(challenge_value(Bearer::Challenge, &none), "Bearer");
        let r = bearer_error(Bearer::InvalidRequest, &none);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn payload_of_the_first_matching_grant() {
        let compiler = SelectorCompiler::new(10);
        let g = |pattern: &str, urlpattern: bool, payload: Option<serde_json::Value>| Grant {
            pattern: pattern.into(),
            urlpattern,
            payload,
        };
        let grants = compile_grants(
            &compiler,
            &[
                g("https://example.com/books/1", false, None),
                g("https://example.com/books/:id", true, Some(json!({"a": 1}))),
                g("*", false, Some(json!({"b": 2}))),
            ],
            "subscribe",
            "cookie",
        )
        .unwrap();
        // The first matching grant wins even without a payload.
        assert_eq!(payload_for(&grants, "https://example.com/books/1"), None);
        assert_eq!(
            payload_for(&grants, "https://example.com/books/2"),
            Some(json!({"a": 1}))
        );
        assert_eq!(
            payload_for(&grants, "https://example.com/books/:id"),
            Some(json!({"a": 1}))
        );
        assert_eq!(payload_for(&grants, "other"), Some(json!({"b": 2})));
        assert!(grants_fn_ok(&grants));

        let bad = compile_grants(
            &compiler,
            &[g("https://example.com/(", true, None)],
            "publish",
            "cookie",
        );
        assert!(matches!(bad, Err(Refusal::BadGrant { .. })));

        // The query's limits apply to a token's matchers too, whatever their type.
        for (pattern, urlpattern) in [
            ("a".repeat(MAX_PATTERN_LENGTH + 1), false),
            ("https://example.com/\u{202e}x".to_string(), false),
            ("https://example.com/\u{7}".to_string(), true),
        ] {
            let bad = compile_grants(
                &compiler,
                &[g(&pattern, urlpattern, None)],
                "subscribe",
                "cookie",
            );
            assert!(matches!(bad, Err(Refusal::BadGrant { .. })), "{pattern:?}");
        }
        let longest = "a".repeat(MAX_PATTERN_LENGTH);
        assert!(
            compile_grants(
                &compiler,
                &[g(&longest, false, None)],
                "subscribe",
                "cookie"
            )
            .is_ok()
        );
    }

    fn grants_fn_ok(g: &[CompiledGrant]) -> bool {
        grants(g, "anything") && grants(g, "https://example.com/books/1")
    }
}
