//! CORS for browsers on other origins, answered as the reference 0.x hub does through rs/cors
//! v1.11.1: credentials allowed, the request's origin echoed when it is on the allowlist,
//! methods GET, HEAD and POST, headers `authorization`, `cache-control` and `last-event-id`.
//!
//! With `cors_origins *` rs/cors answers a literal `Access-Control-Allow-Origin: *` (still with
//! `Access-Control-Allow-Credentials: true`). We do the same: browsers then allow requests
//! without credentials from any origin but refuse to expose credentialed ones (cookie-authorized
//! private updates) to arbitrary sites, which echoing every origin would allow.
//! Deliberate leniencies: request headers and methods are compared case-insensitively and in any
//! order (rs/cors wants the lowercase, sorted list browsers send).

use http::{HeaderMap, HeaderValue, Method, header};

const ALLOWED_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];
const ALLOWED_HEADERS: [&str; 3] = ["authorization", "cache-control", "last-event-id"];

/// The configured CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    all: bool,
    origins: Vec<String>,
    wildcards: Vec<(String, String)>,
}

/// The outcome of looking at a request.
pub enum CorsDecision {
    /// Not a CORS request, or an origin we don't allow: handle normally, add only `Vary`.
    Plain,
    /// An allowed actual request: handle it and add these headers.
    Allowed(HeaderValue),
    /// A preflight: answer 204 with these headers right away.
    Preflight(HeaderMap),
}

impl Cors {
    pub fn new(origins: &[String]) -> Cors {
        let mut c = Cors {
            all: false,
            origins: Vec::new(),
            wildcards: Vec::new(),
        };
        for o in origins {
            let o = o.to_ascii_lowercase();
            if o == "*" {
                c.all = true;
            } else if let Some((p, s)) = o.split_once('*') {
                c.wildcards.push((p.to_string(), s.to_string()));
            } else {
                c.origins.push(o);
            }
        }
        c
    }

    fn allows(&self, origin: &str) -> bool {
        let o = origin.to_ascii_lowercase();
        self.all
            || self.origins.contains(&o)
            || self
                .wildcards
                .iter()
                .any(|(p, s)| o.len() >= p.len() + s.len() && o.starts_with(p) && o.ends_with(s))
    }

    pub fn decide(&self, method: &Method, headers: &HeaderMap) -> CorsDecision {
        let origin = headers.get(header::ORIGIN).cloned();
        let preflight = method == Method::OPTIONS
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            let mut out = HeaderMap::new();
            // One header line, as rs/cors writes it.
            out.append(
                header::VARY,
                HeaderValue::from_static(
                    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
                ),
            );
            let Some(origin) = origin.filter(|o| o.to_str().is_ok_and(|o| self.allows(o))) else {
                return CorsDecision::Preflight(out);
            };
            let req_method = headers
                .get(header::ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_uppercase();
            if !ALLOWED_METHODS.contains(&req_method.as_str()) {
                return CorsDecision::Preflight(out);
            }
            let req_headers: Vec<String> = headers
                .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect();
            if req_headers
                .iter()
                .any(|h| !ALLOWED_HEADERS.contains(&h.as_str()))
            {
                return CorsDecision::Preflight(out);
            }
            out.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.allow_origin(origin),
            );
            // Like rs/cors: the requested method and headers are echoed as sent.
            if let Some(m) = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD) {
                out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m.clone());
            }
            if !req_headers.is_empty() {
                for h in headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    out.append(header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone());
                }
            }
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            return CorsDecision::Preflight(out);
        }
        match origin {
            // rs/cors only answers actual requests whose method it allows.
            Some(o)
                if o.to_str().is_ok_and(|s| self.allows(s))
                    && ALLOWED_METHODS.contains(&method.as_str()) =>
            {
                CorsDecision::Allowed(self.allow_origin(o))
            }
            _ => CorsDecision::Plain,
        }
    }

    /// The `Access-Control-Allow-Origin` value for an allowed origin.
    fn allow_origin(&self, origin: HeaderValue) -> HeaderValue {
        if self.all {
            HeaderValue::from_static("*")
        } else {
            origin
        }
    }

    /// Adds the headers of an allowed actual request.
    pub fn apply(origin: Option<HeaderValue>, headers: &mut HeaderMap) {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(o) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}
