//! The RFC 9728 protected resource metadata of a draft-08 hub, at
//! `/.well-known/oauth-protected-resource/.well-known/mercure`: what a client needs to get a
//! token for this hub (its resource identifier, the trusted authorization servers, the
//! authorization detail type, the cookie name) without out-of-band configuration. Served only
//! when the hub validates tokens, and linked from every `WWW-Authenticate` challenge.

use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;
use quicksilver_auth::AUTHORIZATION_DETAIL_TYPE;
use serde::Serialize;

use super::Edge;
use crate::AppState;
use crate::response::{Resp, with_type};

/// The document, fields in the reference hub's order.
#[derive(Serialize)]
struct Metadata<'a> {
    resource: &'a str,
    bearer_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<&'a str>,
    authorization_details_types_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "str::is_empty")]
    mercure_cookie: &'a str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    mercure_subscriptions: bool,
}

pub(crate) fn handle(state: &Arc<AppState>, edge: &Edge, req: &Parts) -> Resp {
    let identity = edge.identity(req);
    let doc = Metadata {
        resource: &identity.audience,
        // The cookie is for browsers of the hub's own site; clients are told about the header.
        bearer_methods_supported: ["header"],
        authorization_servers: edge
            .issuers
            .as_ref()
            .map(|i| i.authorization_servers())
            .unwrap_or_default(),
        authorization_details_types_supported: [AUTHORIZATION_DETAIL_TYPE],
        mercure_cookie: &state.opts.cookie_name,
        mercure_subscriptions: state.opts.subscriptions,
    };
    with_type(StatusCode::OK, "application/json", render(&doc))
}

/// Compact JSON and a newline, with `<`, `>` and `&` escaped the way Go's encoder does (the
/// reference's bytes; also harmless for any HTML context).
fn render<T: Serialize>(doc: &T) -> String {
    // Plain strings, arrays and a bool: serializing cannot fail.
    let json = serde_json::to_string(doc).unwrap_or_default();
    let mut out = String::with_capacity(json.len() + 1);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_shape() {
        let doc = Metadata {
            resource: "https://hub.example.com/.well-known/mercure",
            bearer_methods_supported: ["header"],
            authorization_servers: vec![],
            authorization_details_types_supported: [AUTHORIZATION_DETAIL_TYPE],
            mercure_cookie: "__Secure-mercure_access_token",
            mercure_subscriptions: false,
        };
        assert_eq!(
            render(&doc),
            concat!(
                r#"{"resource":"https://hub.example.com/.well-known/mercure","bearer_methods_supported":["header"],"#,
                r#""authorization_details_types_supported":["https://mercure.rocks/authorization-detail"],"#,
                r#""mercure_cookie":"__Secure-mercure_access_token"}"#,
                "\n"
            )
        );
        let doc = Metadata {
            authorization_servers: vec!["https://idp.example"],
            mercure_subscriptions: true,
            resource: "http://a/?x=1&y=<2>",
            ..doc
        };
        let s = render(&doc);
        assert!(
            s.contains(r#""authorization_servers":["https://idp.example"]"#),
            "{s}"
        );
        assert!(s.ends_with(",\"mercure_subscriptions\":true}\n"), "{s}");
        assert!(s.contains(r#"x=1\u0026y=\u003c2\u003e"#), "{s}");
    }
}
