//! Finding and checking the token of a request, the draft-07 way.
//!
//! Precedence: the `Authorization` header, then the `authorization` query parameter, then the
//! cookie. A cookie on a POST must come with an `Origin` (or `Referer`) listed in
//! `publish_origins`, which stops other sites from publishing with a visitor's cookie. Every
//! failure carries a reason, logged by the caller: "401 Unauthorized" alone is the reference
//! hub's most reported problem.

use http::{HeaderMap, Method};
use quicksilver_auth::{Claims, Verifier};

use crate::form::Form;

/// Why a request's token was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("invalid Authorization header: expected exactly one \"Bearer <token>\"")]
    BadHeader,
    #[error("invalid authorization query parameter: expected exactly one token")]
    BadQuery,
    #[error("cookie-authenticated POST without an Origin or Referer header")]
    NoOrigin,
    #[error("cookie-authenticated POST from origin {0:?}, which is not in publish_origins")]
    OriginNotAllowed(String),
    #[error("unparsable Referer header")]
    BadReferer,
    #[error("{source_name}: {error}")]
    Invalid {
        source_name: &'static str,
        error: quicksilver_auth::AuthError,
    },
}

/// Where the origin of cookie-authenticated publishers is checked against.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    all: bool,
    exact: Vec<String>,
    wildcards: Vec<(String, String)>,
}

impl OriginPolicy {
    pub fn new(origins: &[String]) -> OriginPolicy {
        let mut p = OriginPolicy::default();
        for o in origins {
            if o == "*" {
                p.all = true;
            } else if let Some((pre, suf)) = o.split_once('*') {
                p.wildcards.push((pre.to_string(), suf.to_string()));
            } else {
                p.exact.push(o.clone());
            }
        }
        p
    }

    pub(crate) fn allows(&self, origin: &str) -> bool {
        self.all
            || self.exact.iter().any(|o| o == origin)
            || self.wildcards.iter().any(|(p, s)| {
                origin.len() >= p.len() + s.len() && origin.starts_with(p) && origin.ends_with(s)
            })
    }
}

/// Extracts and verifies the request's token. `Ok(None)`: no token at all.
pub async fn authorize(
    verifier: &Verifier,
    method: &Method,
    headers: &HeaderMap,
    query: &Form,
    cookie_name: &str,
    origins: &OriginPolicy,
) -> Result<Option<Claims>, AuthFailure> {
    let mut auth_headers = headers.get_all(http::header::AUTHORIZATION).iter();
    if let Some(first) = auth_headers.next() {
        let value = first.to_str().map_err(|_| AuthFailure::BadHeader)?;
        if auth_headers.next().is_some() || value.len() < 48 || !value.starts_with("Bearer ") {
            return Err(AuthFailure::BadHeader);
        }
        return verify(verifier, &value[7..], "Authorization header").await;
    }
    if query.has("authorization") {
        let mut values = query.all("authorization");
        let token = values.next().unwrap_or_default();
        if values.next().is_some() || token.len() < 41 {
            return Err(AuthFailure::BadQuery);
        }
        return verify(verifier, token, "authorization query parameter").await;
    }
    let Some(cookie) = find_cookie(headers, cookie_name) else {
        return Ok(None);
    };
    if method == Method::POST {
        let origin = match headers
            .get(http::header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            Some(o) if !o.is_empty() => o.to_string(),
            _ => {
                let referer = headers
                    .get(http::header::REFERER)
                    .and_then(|v| v.to_str().ok())
                    .filter(|r| !r.is_empty())
                    .ok_or(AuthFailure::NoOrigin)?;
                origin_from_referer(referer).ok_or(AuthFailure::BadReferer)?
            }
        };
        if !origins.allows(&origin) {
            return Err(AuthFailure::OriginNotAllowed(origin));
        }
    }
    verify(verifier, &cookie, "cookie").await
}

async fn verify(
    verifier: &Verifier,
    token: &str,
    source_name: &'static str,
) -> Result<Option<Claims>, AuthFailure> {
    verifier
        .verify(token)
        .await
        .map(Some)
        .map_err(|error| AuthFailure::Invalid { source_name, error })
}

/// The origin (`scheme://host[:port]`) of a `Referer`, `None` when it does not parse.
pub(crate) fn origin_from_referer(referer: &str) -> Option<String> {
    let u = url::Url::parse(referer).ok()?;
    let host = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    };
    Some(format!("{}://{}", u.scheme(), host))
}

/// The value of the first cookie named `name`.
pub(crate) fn find_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for h in headers.get_all(http::header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for pair in s.split(';') {
            let pair = pair.trim();
            if let Some((n, v)) = pair.split_once('=')
                && n.trim() == name
            {
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                return Some(v.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let p = OriginPolicy::new(&["https://a.example".into(), "https://*.example.com".into()]);
        assert!(p.allows("https://a.example"));
        assert!(p.allows("https://x.example.com"));
        assert!(!p.allows("https://example.org"));
        assert!(OriginPolicy::new(&["*".into()]).allows("http://anything"));
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=1; mercureAuthorization=tok; b=2".parse().unwrap(),
        );
        assert_eq!(
            find_cookie(&h, "mercureAuthorization").as_deref(),
            Some("tok")
        );
        assert_eq!(find_cookie(&h, "c"), None);
    }
}
