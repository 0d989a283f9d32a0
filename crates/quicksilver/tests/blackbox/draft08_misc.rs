//! Draft-08 discovery and deployment edges, checklist items 58-59 (§1.8) and the rest of the
//! draft-08 configuration (§2.1): the RFC 9728 protected resource metadata document, credentialed
//! CORS (with `QUERY`), `public_urls` and 421, the configuration refusals specific to each
//! protocol, `quicksilver token --protocol draft-08`, and one sanity check that a default
//! (draft-07) hub is unaffected.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;
use crate::draft08_common::*;

const BOOK: &str = "https://example.com/books/1";

async fn send(hub: &Hub, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = client().request(method, hub.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply {
        status,
        headers,
        body: r.text().await.unwrap_or_default(),
    }
}

#[tokio::test]
async fn c58_protected_resource_metadata_with_derived_identifier() {
    let hub = Hub08::start("anonymous\nsubscriptions");
    let r = send(&hub, Method::GET, METADATA_PATH, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    let doc: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(
        doc,
        json!({
            "resource": hub.hub_url(),
            "bearer_methods_supported": ["header"],
            "authorization_details_types_supported": [DETAIL_TYPE],
            "mercure_cookie": COOKIE,
            "mercure_subscriptions": true,
        })
    );
    // Derived from each request's host.
    let host = format!("localhost:{}", hub.port);
    let r = send(&hub, Method::GET, METADATA_PATH, &[("Host", &host)]).await;
    let doc: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(
        doc["resource"],
        format!("http://{host}/.well-known/mercure")
    );
    // The challenge points at this very document.
    let r = publish_with(&hub, &[], &[("topic", BOOK)]).await;
    assert_eq!(
        r.header("www-authenticate"),
        format!("Bearer resource_metadata=\"{}\"", hub.url(METADATA_PATH))
    );
}

#[tokio::test]
async fn c58_protected_resource_metadata_with_pinned_identifier_and_authorization_servers() {
    let rid = "https://hub.example.com/.well-known/mercure";
    let hub = Hub08::from_builder(
        HubBuilder::new().env("IDP_KEY", "an-idp-secret-an-idp-secret-0123456"),
        &format!(
            "resource_identifier {rid}\ncookie_name hub_token\n\
             issuer https://idp.example {{\n\tauthorization_server\n\tsubscriber {{\n\t\tjwt {{env.IDP_KEY}}\n\t}}\n}}\n\
             issuer https://self.example {{\n\tpublisher {{\n\t\tjwt {{env.IDP_KEY}}\n\t}}\n}}"
        ),
    );
    let r = send(&hub, Method::GET, METADATA_PATH, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    let doc: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(
        doc,
        json!({
            "resource": rid,
            "bearer_methods_supported": ["header"],
            "authorization_servers": ["https://idp.example"],
            "authorization_details_types_supported": [DETAIL_TYPE],
            "mercure_cookie": "hub_token",
        })
    );
}

#[tokio::test]
async fn c58_no_metadata_document_in_draft07() {
    let hub = Hub::with_directives("anonymous");
    let r = send(&hub, Method::GET, METADATA_PATH, &[]).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn c59_credentialed_cors_uses_an_explicit_allowlist() {
    let hub = Hub08::start("anonymous\ncors_origins https://app.example https://other.example");
    for method in ["GET", "POST", "QUERY"] {
        let r = send(
            &hub,
            Method::OPTIONS,
            "/.well-known/mercure",
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", method),
                (
                    "Access-Control-Request-Headers",
                    "authorization,cache-control,last-event-id",
                ),
            ],
        )
        .await;
        assert_eq!(r.status, 204, "{method}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            "https://app.example"
        );
        assert_eq!(r.header("access-control-allow-credentials"), "true");
        let methods = r
            .header("access-control-allow-methods")
            .to_ascii_uppercase();
        assert!(
            methods.split(',').any(|m| m.trim() == method),
            "{method} not allowed: {methods:?}"
        );
        let headers = r
            .header("access-control-allow-headers")
            .to_ascii_lowercase();
        for h in ["authorization", "cache-control", "last-event-id"] {
            assert!(headers.contains(h), "{h} not allowed: {headers:?}");
        }
    }
    // The actual stream: the origin is echoed, never `*`.
    let s = sub08_with(
        &hub,
        &q(&[("match", BOOK)]),
        &[("Origin", "https://other.example")],
    )
    .await;
    assert_eq!(
        s.header("access-control-allow-origin"),
        "https://other.example"
    );
    assert_eq!(s.header("access-control-allow-credentials"), "true");
    // Another origin is not reflected.
    let s = sub08_with(
        &hub,
        &q(&[("match", BOOK)]),
        &[("Origin", "https://evil.example")],
    )
    .await;
    assert_eq!(s.header("access-control-allow-origin"), "");
    assert_eq!(s.header("access-control-allow-credentials"), "");
    let r = send(
        &hub,
        Method::OPTIONS,
        "/.well-known/mercure",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), "");
}

#[tokio::test]
async fn c59_wildcard_cors_disables_credentials() {
    let hub = Hub08::start("anonymous\ncors_origins *");
    let s = sub08_with(
        &hub,
        &q(&[("match", BOOK)]),
        &[("Origin", "https://any.example")],
    )
    .await;
    assert_eq!(s.header("access-control-allow-origin"), "*");
    assert_ne!(s.header("access-control-allow-credentials"), "true");
}

#[tokio::test]
async fn public_urls_other_hosts_get_421() {
    let port = free_port();
    let hub = Hub08::from_builder(
        HubBuilder::new().port(port),
        &format!("anonymous\npublic_urls http://127.0.0.1:{port} https://hub.example.com"),
    );
    // Listed origin (the harness's requests).
    let _s = sub08(&hub, &q(&[("match", BOOK)]), None).await;
    let r = pub08(&hub, &hub.publisher(), &[("topic", BOOK)]).await;
    assert_eq!(r.status, 200);
    // Another host, on every endpoint.
    for host in ["evil.example", "localhost", &format!("localhost:{port}")] {
        let r = get08(&hub, &q(&[("match", BOOK)]), &[("Host", host)]).await;
        assert_eq!(r.status, 421, "GET with Host {host}");
        let r = publish_with(
            &hub,
            &[("Host", host), ("Authorization", &bearer(&hub.publisher()))],
            &[("topic", BOOK)],
        )
        .await;
        assert_eq!(r.status, 421, "POST with Host {host}");
        let r = send(&hub, Method::GET, METADATA_PATH, &[("Host", host)]).await;
        assert_eq!(r.status, 421, "metadata with Host {host}");
    }
}

#[tokio::test]
async fn public_urls_with_only_another_origin_refuses_the_listening_one() {
    let port = free_port();
    let hub = Hub08::from_builder(
        HubBuilder::new().port(port),
        &format!("anonymous\npublic_urls http://localhost:{port}"),
    );
    let r = get08(&hub, &q(&[("match", BOOK)]), &[]).await;
    assert_eq!(r.status, 421);
    let host = format!("localhost:{port}");
    let s = open_stream(
        &hub,
        Method::GET,
        &q(&[("match", BOOK)]),
        &[("Host", &host)],
        "",
    )
    .await;
    assert_eq!(s.status, 200);
}

/// A hub with these directives (draft-08 unless they say otherwise) must refuse to start, its
/// error mentioning `needle`.
fn refuses(builder: HubBuilder, directives: &str, needle: &str) {
    match builder.directives(directives).try_start() {
        Ok(_) => panic!("started with {directives:?}"),
        Err(e) => assert!(
            e.to_lowercase().contains(&needle.to_lowercase()),
            "{directives:?}: {e}"
        ),
    }
}

#[tokio::test]
async fn config_refusals_specific_to_each_protocol() {
    refuses(
        HubBuilder::new(),
        &format!("protocol draft-08\npublisher_jwt {SECRET}"),
        "publisher_jwt",
    );
    refuses(
        HubBuilder::new(),
        "protocol draft-08\nsubscriber_jwks_url file:///nonexistent.json",
        "subscriber_jwks_url",
    );
    refuses(
        HubBuilder::new(),
        "protocol draft-08\nprotocol_version_compatibility 7",
        "protocol_version_compatibility",
    );
    refuses(
        HubBuilder::new(),
        "issuer https://idp.example {\n\tpublisher {\n\t\tjwt abc\n\t}\n}",
        "issuer",
    );
    refuses(
        HubBuilder::new(),
        "resource_identifier https://hub.example.com/.well-known/mercure",
        "resource_identifier",
    );
    refuses(
        HubBuilder::new(),
        "public_urls https://hub.example.com",
        "public_urls",
    );
    // Keys: a publisher key somewhere, a subscriber key unless anonymous.
    refuses(
        HubBuilder::new().unset("MERCURE_PUBLISHER_JWT_KEY"),
        "protocol draft-08\nanonymous",
        "publish",
    );
    refuses(
        HubBuilder::new().unset("MERCURE_SUBSCRIBER_JWT_KEY"),
        "protocol draft-08",
        "subscri",
    );
    // A PEM key needs an asymmetric algorithm.
    let pem = fixture("rsa_public.pem");
    refuses(
        HubBuilder::new().env("PEM", &pem),
        "protocol draft-08\nissuer https://idp.example {\n\tpublisher {\n\t\tjwt {env.PEM}\n\t}\n}",
        "PEM",
    );
    // resource_identifier must be absolute, without fragment.
    refuses(
        HubBuilder::new(),
        "protocol draft-08\nresource_identifier /.well-known/mercure",
        "resource_identifier",
    );
    refuses(
        HubBuilder::new(),
        "protocol draft-08\nresource_identifier https://hub.example.com/.well-known/mercure#x",
        "resource_identifier",
    );
}

#[tokio::test]
async fn token_cli_mints_draft08_tokens_the_hub_accepts() {
    let hub = Hub08::start("");
    let (code, out, err) = run_cli(
        &[
            "token",
            "--protocol",
            "draft-08",
            "--aud",
            &hub.aud,
            "--publish",
            BOOK,
            "--subscribe-urlpattern",
            "https://example.com/books/:id",
            "--sub",
            "user-1",
            "--client-id",
            "cli",
        ],
        &[("MERCURE_PUBLISHER_JWT_KEY", SECRET)],
    );
    assert_eq!(code, 0, "{err}");
    let t = out.trim();
    let claims = jwt_claims(t);
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["aud"], hub.aud);
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["client_id"], "cli");
    assert!(claims["exp"].as_u64().is_some());
    let header: Value =
        serde_json::from_slice(&base64url_decode(t.split('.').next().expect("header part")))
            .expect("header JSON");
    assert_eq!(header["typ"], "at+jwt");
    let r = pub08(&hub, t, &[("topic", BOOK)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = pub08(&hub, t, &[("topic", "https://example.com/books/2")]).await;
    assert_eq!(r.status, 403);
    let mut s = sub08(&hub, &q(&[("match", BOOK)]), Some(t)).await;
    let r = pub08(
        &hub,
        &hub.publisher(),
        &[("topic", BOOK), ("private", "on"), ("id", "for-cli")],
    )
    .await;
    assert_eq!(r.status, 200);
    wait_id(&mut s, "for-cli").await;
}

#[tokio::test]
async fn draft07_hub_is_unaffected() {
    let hub = Hub::with_directives("anonymous");
    let mut s = Sse::subscribe(&hub, &[BOOK], None).await;
    let (status, body) = publish(&hub, &publisher(), &[("topic", BOOK), ("id", "d7")]).await;
    assert_eq!((status, body.as_str()), (200, "d7"));
    assert!(s.read_until("\n\n", T).await);
    assert_eq!(s.text(), "id: d7\ndata: \n\n");
    // Draft-08 parameters mean nothing there: `match` is not a topic selector.
    let r = request(&hub, Method::GET, &q(&[("match", BOOK)]), &[], "").await;
    assert_eq!(r.status, 400);
    // Draft-07 refusals stay bare 401s.
    let r = publish_with(&hub, &[], &[("topic", BOOK)]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), "");
    // A draft-08 token is not a draft-07 one.
    let d8 = mint08(&quicksilver_auth::AccessMintOptions {
        key: SECRET.into(),
        issuer: ISS.into(),
        audience: vec![hub.hub_url()],
        ttl: Some(std::time::Duration::from_secs(60)),
        publish: vec![ex("*")],
        ..Default::default()
    });
    let r = pub08(&hub, &d8, &[("topic", BOOK)]).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn config_draft08_directives_accepted() {
    // The draft-08 name of the matcher cache, and `topic_selector_cache` too.
    let hub = Hub08::start("anonymous\ntopic_matcher_cache 10\nsubscriber_list_cache_size 10");
    let mut s = sub08(
        &hub,
        &q(&[("match_urlpattern", "https://example.com/:x")]),
        None,
    )
    .await;
    pub08_ok(
        &hub,
        &[("topic", "https://example.com/y"), ("id", "cached")],
    )
    .await;
    wait_id(&mut s, "cached").await;
    let hub = Hub08::start("topic_selector_cache 0");
    pub08_ok(&hub, &[("topic", BOOK)]).await;
}
