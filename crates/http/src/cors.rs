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
//!
//! Draft-08 (the reference 1.0 hub, same rs/cors version) differs in three ways: `QUERY` is
//! an allowed method, `Link` is exposed (the subscriptions API's cursor is in it), and with
//! `*` in the list credentials are not allowed at all, as the 1.0 spec requires.

use http::{HeaderMap, HeaderValue, Method, header};

const ALLOWED_METHODS: &[&str] = &["GET", "HEAD", "POST"];
const ALLOWED_METHODS_DRAFT08: &[&str] = &["GET", "HEAD", "POST", "QUERY"];
const ALLOWED_HEADERS: [&str; 3] = ["authorization", "cache-control", "last-event-id"];

/// The configured CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    all: bool,
    origins: Vec<String>,
    wildcards: Vec<(String, String)>,
    methods: &'static [&'static str],
    /// `Access-Control-Allow-Credentials: true` is sent.
    credentials: bool,
    /// `Access-Control-Expose-Headers` of actual requests.
    expose: Option<HeaderValue>,
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
    /// The draft-07 policy.
    pub fn new(origins: &[String]) -> Cors {
        let mut c = Cors {
            all: false,
            origins: Vec::new(),
            wildcards: Vec::new(),
            methods: ALLOWED_METHODS,
            credentials: true,
            expose: None,
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

    /// The draft-08 policy (see the module documentation).
    pub fn draft08(origins: &[String]) -> Cors {
        let mut c = Cors::new(origins);
        c.methods = ALLOWED_METHODS_DRAFT08;
        c.credentials = !c.all;
        c.expose = Some(HeaderValue::from_static("Link"));
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
            if !self.methods.contains(&req_method.as_str()) {
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
            if self.credentials {
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            return CorsDecision::Preflight(out);
        }
        match origin {
            // rs/cors only answers actual requests whose method it allows.
            Some(o)
                if o.to_str().is_ok_and(|s| self.allows(s))
                    && self.methods.contains(&method.as_str()) =>
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
    pub fn apply(&self, origin: Option<HeaderValue>, headers: &mut HeaderMap) {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(o) = origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            if self.credentials {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(expose) = &self.expose {
                headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn preflight(cors: &Cors, method: &'static str) -> HeaderMap {
        let h = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", method),
        ]);
        match cors.decide(&Method::OPTIONS, &h) {
            CorsDecision::Preflight(out) => out,
            _ => panic!("not a preflight"),
        }
    }

    #[test]
    fn draft07_methods_and_credentials() {
        let cors = Cors::new(&["https://app.example".into()]);
        let out = preflight(&cors, "POST");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert!(!preflight(&cors, "QUERY").contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        let mut resp = HeaderMap::new();
        cors.apply(
            Some(HeaderValue::from_static("https://app.example")),
            &mut resp,
        );
        assert!(!resp.contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS));
        // rs/cors v1.11.1 answers `*` with credentials in draft-07.
        let all = Cors::new(&["*".into()]);
        assert_eq!(
            preflight(&all, "GET")[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
            "true"
        );
    }

    #[test]
    fn draft08_allows_query_exposes_link_and_never_credentials_with_star() {
        let cors = Cors::draft08(&["https://app.example".into()]);
        let out = preflight(&cors, "QUERY");
        assert_eq!(
            out[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let h = headers(&[("origin", "https://app.example")]);
        let method = Method::from_bytes(b"QUERY").unwrap();
        let CorsDecision::Allowed(origin) = cors.decide(&method, &h) else {
            panic!("QUERY not allowed");
        };
        let mut resp = HeaderMap::new();
        cors.apply(Some(origin), &mut resp);
        assert_eq!(resp[header::ACCESS_CONTROL_EXPOSE_HEADERS], "Link");
        assert_eq!(resp[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");

        let all = Cors::draft08(&["*".into()]);
        let out = preflight(&all, "GET");
        assert_eq!(out[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!out.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        let mut resp = HeaderMap::new();
        all.apply(Some(HeaderValue::from_static("*")), &mut resp);
        assert!(!resp.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    }
}
