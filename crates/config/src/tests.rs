//! End-to-end tests of [`crate::load`]: layering, every directive and every error path.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::*;

const KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";

const PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

struct Env(HashMap<String, String>);

impl Env {
    /// Publisher and subscriber keys set, as in most deployments.
    fn keys() -> Self {
        Env::new(&[
            ("MERCURE_PUBLISHER_JWT_KEY", KEY),
            ("MERCURE_SUBSCRIBER_JWT_KEY", KEY),
        ])
    }

    fn new(vars: &[(&str, &str)]) -> Self {
        Env(vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect())
    }

    fn with(mut self, key: &str, value: &str) -> Self {
        self.0.insert(key.to_owned(), value.to_owned());
        self
    }

    fn load(&self, file: Option<&str>) -> Result<Config, ConfigError> {
        let lookup = |k: &str| self.0.get(k).cloned();
        load(&lookup, file.map(|contents| ("config.caddy", contents)))
    }

    fn ok(&self, file: &str) -> Config {
        match self.load(Some(file)) {
            Ok(c) => c,
            Err(e) => panic!("{file:?} should load: {e}"),
        }
    }

    fn err(&self, file: &str) -> String {
        match self.load(Some(file)) {
            Ok(c) => panic!("{file:?} should fail, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }
}

fn hs256(key: &str) -> Option<KeySource> {
    Some(KeySource::Static {
        key: key.to_owned(),
        alg: "HS256".to_owned(),
    })
}

fn options(t: &TransportConfig) -> Vec<(String, Vec<String>, usize, String)> {
    t.options
        .iter()
        .map(|o| (o.name.clone(), o.args.clone(), o.line, o.source.clone()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn defaults() {
    let c = Env::keys().load(None).unwrap();
    assert_eq!(c.listen, ListenAddr::default());
    assert_eq!(c.listen.display(), "http://127.0.0.1:3000");
    assert_eq!(c.listen.bind, Bind::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(c.protocol, Protocol::Draft07);
    assert_eq!(c.name, "default");
    assert_eq!(c.publisher, hs256(KEY));
    assert_eq!(c.subscriber, hs256(KEY));
    assert!(!c.anonymous && !c.subscriptions && !c.ui && !c.demo);
    assert_eq!(c.heartbeat, Some(Duration::from_secs(40)));
    assert_eq!(c.write_timeout, Some(Duration::from_secs(600)));
    assert_eq!(c.dispatch_timeout, Some(Duration::from_secs(5)));
    assert!(c.cors_origins.is_empty() && c.publish_origins.is_empty());
    assert_eq!(c.cookie_name, "mercureAuthorization");
    assert_eq!(c.protocol_version_compatibility, None);
    assert_eq!(c.transport.kind, "bolt");
    assert_eq!(c.transport.kind, DEFAULT_TRANSPORT);
    assert!(c.transport.options.is_empty());
    assert_eq!(c.transport.origin, "default");
    assert_eq!(c.topic_selector_cache, 100_000);
    assert_eq!(c.subscriber_list_cache_size, 100_000);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Draft-08 settings stay empty; the body cap is the draft-07 one.
    assert!(c.issuers.is_empty() && c.public_urls.is_empty());
    assert_eq!(c.resource_identifier, None);
    assert_eq!(c.max_request_body_size, Some(10 * 1024 * 1024));
    assert!(!c.debugger && !c.playground);
    // Same as Config::default() apart from the keys.
    let d = Config {
        publisher: c.publisher.clone(),
        subscriber: c.subscriber.clone(),
        ..Config::default()
    };
    assert_eq!(c, d);
    // An empty file and a file of comments change nothing.
    assert_eq!(Env::keys().ok(""), c);
    assert_eq!(Env::keys().ok("# nothing\n\n"), c);
}

#[test]
fn every_directive() {
    let c = Env::new(&[]).ok("server_name :8080
protocol draft-07
name hub1
publisher_jwt pubkey HS512
subscriber_jwt subkey
anonymous
subscriptions
ui
demo
heartbeat 15s
write_timeout 1m30s
dispatch_timeout 500ms
cors_origins https://a.example http://localhost:3000
publish_origins *
cookie_name token
protocol_version_compatibility 7
transport bolt {
    path /var/lib/mercure.db
    size 1000
}
topic_selector_cache 10
subscriber_list_cache_size 0
");
    assert_eq!(c.listen.port, 8080);
    assert_eq!(c.listen.bind, Bind::AllInterfaces);
    assert_eq!(c.protocol, Protocol::Draft07);
    assert_eq!(c.name, "hub1");
    assert_eq!(
        c.publisher,
        Some(KeySource::Static {
            key: "pubkey".into(),
            alg: "HS512".into()
        })
    );
    assert_eq!(c.subscriber, hs256("subkey"));
    assert!(c.anonymous && c.subscriptions && c.ui && c.demo);
    assert_eq!(c.heartbeat, Some(Duration::from_secs(15)));
    assert_eq!(c.write_timeout, Some(Duration::from_secs(90)));
    assert_eq!(c.dispatch_timeout, Some(Duration::from_millis(500)));
    assert_eq!(
        c.cors_origins,
        strings(&["https://a.example", "http://localhost:3000"])
    );
    assert_eq!(c.publish_origins, strings(&["*"]));
    assert_eq!(c.cookie_name, "token");
    assert_eq!(c.protocol_version_compatibility, Some(7));
    assert_eq!(c.transport.kind, "bolt");
    assert_eq!(c.transport.origin, "config.caddy line 17");
    assert_eq!(
        options(&c.transport),
        vec![
            (
                "path".into(),
                strings(&["/var/lib/mercure.db"]),
                18,
                "config.caddy".into()
            ),
            ("size".into(), strings(&["1000"]), 19, "config.caddy".into()),
        ]
    );
    assert_eq!(c.topic_selector_cache, 10);
    assert_eq!(c.subscriber_list_cache_size, 0);
    // ui and demo are accepted but reported as not implemented.
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c.warnings[0].contains(
        "config.caddy line 8: the ui directive is accepted for compatibility but not implemented"
    ));
    assert!(c.warnings[1].contains("demo"));
}

#[test]
fn zero_durations_disable() {
    let c = Env::keys().ok("heartbeat 0s\nwrite_timeout 0\ndispatch_timeout 0ms");
    assert_eq!(
        (c.heartbeat, c.write_timeout, c.dispatch_timeout),
        (None, None, None)
    );
    let c = Env::keys().ok("write_timeout 1d");
    assert_eq!(c.write_timeout, Some(Duration::from_secs(86_400)));
}

#[test]
fn mercure_block_wrapper() {
    let file = "# Quicksilver
mercure {
\t# keys come from the environment
\tpublisher_jwt {env.MERCURE_PUBLISHER_JWT_KEY} {env.MERCURE_PUBLISHER_JWT_ALG}
\tsubscriber_jwt {env.MERCURE_SUBSCRIBER_JWT_KEY} {env.MERCURE_SUBSCRIBER_JWT_ALG}
\tanonymous
\ttransport local
}
";
    let c = Env::keys().ok(file);
    assert!(c.anonymous);
    assert_eq!(c.publisher, hs256(KEY));
    assert_eq!(c.transport.origin, "config.caddy line 7");
    // Directives may also appear next to the block.
    let c = Env::keys().ok("subscriptions\nmercure {\n  anonymous\n}\nname x");
    assert!(c.subscriptions && c.anonymous);
    assert_eq!(c.name, "x");
    assert_eq!(
        Env::keys().err("mercure {\n  mercure {\n  }\n}"),
        "config.caddy:2: mercure: mercure blocks cannot be nested"
    );
    assert_eq!(
        Env::keys().err("mercure"),
        "config.caddy:1: mercure: expected a block: mercure { <directives> }"
    );
    assert_eq!(
        Env::keys().err("mercure foo {\n}"),
        "config.caddy:1: mercure: unexpected argument \"foo\"; usage: mercure { <directives> }"
    );
    assert_eq!(
        Env::keys().err("mercure {\n  anonymous\n"),
        "config.caddy:1: unterminated block: this '{' has no matching '}'"
    );
}

#[test]
fn site_block_is_refused_with_a_hint() {
    for site in [":3000", "localhost", "example.com", "http://example.com"] {
        let e = Env::keys().err(&format!("{site} {{\n  mercure {{\n  }}\n}}"));
        assert!(
            e.starts_with(&format!(
                "config.caddy:1: {site}: site blocks are not supported"
            )),
            "{e}"
        );
    }
}

#[test]
fn layering_env_then_extra_directives_then_file() {
    let env = Env::keys()
        .with("SERVER_NAME", ":4000")
        .with("MERCURE_TRANSPORT_URL", "bolt:///env.db")
        .with(
            "MERCURE_EXTRA_DIRECTIVES",
            "server_name :5000\nname extra\nheartbeat 10s\ncors_origins *",
        );
    let c = env.load(None).unwrap();
    assert_eq!(c.listen.port, 5000);
    assert_eq!(c.name, "extra");
    assert_eq!(c.transport.kind, "bolt");
    assert_eq!(c.transport.origin, "MERCURE_TRANSPORT_URL");
    assert_eq!(c.cors_origins, strings(&["*"]));
    let c = env.ok("name file\ntransport local\ncors_origins https://x.example");
    assert_eq!(c.listen.port, 5000);
    assert_eq!(c.name, "file");
    assert_eq!(c.heartbeat, Some(Duration::from_secs(10)));
    assert_eq!(c.transport.kind, "local");
    // A later list replaces an earlier one (no merging), as in the reference.
    assert_eq!(c.cors_origins, strings(&["https://x.example"]));
    // Keys too: directives override the environment.
    let c = env.ok("publisher_jwt other");
    assert_eq!(c.publisher, hs256("other"));
    assert_eq!(c.subscriber, hs256(KEY));
    // Within one source, the last occurrence wins.
    assert_eq!(Env::keys().ok("name a\nname b").name, "b");
}

#[test]
fn env_keys_and_algorithms() {
    let c = Env::keys()
        .with("MERCURE_PUBLISHER_JWT_ALG", "HS384")
        .load(None)
        .unwrap();
    assert_eq!(
        c.publisher,
        Some(KeySource::Static {
            key: KEY.into(),
            alg: "HS384".into()
        })
    );
    // Empty variables count as unset.
    let c = Env::keys()
        .with("MERCURE_PUBLISHER_JWT_ALG", "")
        .with("SERVER_NAME", "")
        .with("MERCURE_TRANSPORT_URL", "")
        .with("MERCURE_EXTRA_DIRECTIVES", "")
        .load(None)
        .unwrap();
    assert_eq!(c.publisher, hs256(KEY));
    assert_eq!(c.listen, ListenAddr::default());
    assert_eq!(c.transport.kind, "bolt");
    let e = Env::new(&[
        ("MERCURE_PUBLISHER_JWT_KEY", ""),
        ("MERCURE_SUBSCRIBER_JWT_KEY", KEY),
    ])
    .load(None)
    .unwrap_err();
    assert!(matches!(e, ConfigError::Incomplete(_)));
    // An ALG without a KEY is ignored.
    let c = Env::keys()
        .with("MERCURE_SUBSCRIBER_JWT_KEY", "")
        .with("MERCURE_SUBSCRIBER_JWT_ALG", "RS256")
        .ok("anonymous");
    assert_eq!(c.subscriber, None);
}

#[test]
fn pem_key_with_newlines_from_env() {
    let c = Env::new(&[
        ("MERCURE_PUBLISHER_JWT_KEY", PEM),
        ("MERCURE_PUBLISHER_JWT_ALG", "EdDSA"),
        ("MERCURE_SUBSCRIBER_JWT_KEY", PEM),
        ("MERCURE_SUBSCRIBER_JWT_ALG", "RS256"),
    ])
    .load(None)
    .unwrap();
    assert_eq!(
        c.publisher,
        Some(KeySource::Static {
            key: PEM.into(),
            alg: "EdDSA".into()
        })
    );
    // Through an `{env.X}` placeholder the PEM stays one argument despite its newlines.
    let c = Env::keys()
        .with("PEM_KEY", PEM)
        .ok("publisher_jwt {env.PEM_KEY} ES256");
    assert_eq!(
        c.publisher,
        Some(KeySource::Static {
            key: PEM.into(),
            alg: "ES256".into()
        })
    );
    // And written inline in a quoted string.
    let c = Env::keys().ok(&format!("publisher_jwt \"{PEM}\" PS256"));
    assert!(matches!(c.publisher, Some(KeySource::Static { ref key, .. }) if key == PEM));
}

#[test]
fn key_validation_errors() {
    let e = Env::keys()
        .with("MERCURE_PUBLISHER_JWT_KEY", PEM)
        .load(None)
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("MERCURE_PUBLISHER_JWT_KEY: the key is PEM-encoded"),
        "{msg}"
    );
    assert!(msg.contains("MERCURE_PUBLISHER_JWT_ALG"), "{msg}");
    let e = Env::keys()
        .with("MERCURE_SUBSCRIBER_JWT_ALG", "RS256")
        .load(None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "MERCURE_SUBSCRIBER_JWT_KEY: the algorithm RS256 needs a PEM-encoded public key"
        ),
        "{e}"
    );
    let e = Env::keys()
        .with("MERCURE_PUBLISHER_JWT_ALG", "hs256")
        .load(None)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("MERCURE_PUBLISHER_JWT_ALG: unsupported JWT algorithm \"hs256\" (did you mean \"HS256\"?"), "{e}");
    let e = Env::keys().err("\npublisher_jwt secret none");
    assert!(e.starts_with("config.caddy:2: publisher_jwt: unsupported JWT algorithm \"none\"; expected one of HS256"), "{e}");
    let e = Env::keys().err(&format!("subscriber_jwt `{PEM}`"));
    assert!(
        e.starts_with("config.caddy:1: subscriber_jwt: the key is PEM-encoded"),
        "{e}"
    );
    assert!(e.contains("the second argument of subscriber_jwt"), "{e}");
    let e = Env::keys().err("publisher_jwt secret ES256");
    assert!(
        e.starts_with("config.caddy:1: publisher_jwt: the algorithm ES256 needs a PEM-encoded"),
        "{e}"
    );
    // All supported algorithms are accepted with a matching key.
    for alg in SUPPORTED_ALGORITHMS {
        let key = if alg.starts_with("HS") { "secret" } else { PEM };
        let c = Env::keys()
            .with("K", key)
            .ok(&format!("publisher_jwt {{env.K}} {alg}"));
        assert!(matches!(c.publisher, Some(KeySource::Static { alg: ref a, .. }) if a == alg));
    }
    // An invalid key that is later replaced is not an error.
    let c = Env::keys().ok("publisher_jwt secret RS256\npublisher_jwt secret");
    assert_eq!(c.publisher, hs256("secret"));
}

#[test]
fn jwks_urls_take_precedence() {
    let c = Env::keys().ok("publisher_jwks_url https://idp.example/jwks.json\nsubscriber_jwks_url file:///etc/jwks.json");
    assert_eq!(
        c.publisher,
        Some(KeySource::Jwks {
            url: "https://idp.example/jwks.json".into(),
            // Draft-07 JWKS URLs have no algorithm list.
            algs: Vec::new(),
        })
    );
    assert_eq!(
        c.subscriber,
        Some(KeySource::Jwks {
            url: "file:///etc/jwks.json".into(),
            // Draft-07 JWKS URLs have no algorithm list.
            algs: Vec::new(),
        })
    );
    assert_eq!(c.warnings.len(), 2);
    assert!(c.warnings[0].contains("the publisher key from MERCURE_PUBLISHER_JWT_KEY is ignored: publisher_jwks_url (config.caddy line 1) takes precedence"), "{:?}", c.warnings);
    // Even when the static key comes after, and even when it would be invalid.
    let c = Env::new(&[])
        .ok("publisher_jwks_url http://kc/certs\npublisher_jwt secret RS256\nanonymous");
    assert!(matches!(c.publisher, Some(KeySource::Jwks { .. })));
    let e = Env::keys().err("publisher_jwks_url ftp://x/jwks");
    assert!(
        e.starts_with("config.caddy:1: publisher_jwks_url: unsupported scheme \"ftp\""),
        "{e}"
    );
    // JWKS alone is enough for both roles.
    let c = Env::new(&[]).ok("publisher_jwks_url https://a/j\nsubscriber_jwks_url https://a/j");
    assert!(c.warnings.is_empty());
}

#[test]
fn empty_keys_from_unset_placeholders_are_ignored() {
    let c = Env::keys()
        .ok("publisher_jwt {env.UNSET} {env.UNSET_ALG}\nsubscriber_jwks_url {env.UNSET}");
    assert_eq!(c.publisher, hs256(KEY));
    assert_eq!(c.subscriber, hs256(KEY));
    assert_eq!(c.warnings.len(), 2);
    assert!(c.warnings[0].starts_with("config.caddy line 1: publisher_jwt has an empty key"));
    // ...so with no other key, the final check reports the missing key.
    let e = Env::new(&[]).err("publisher_jwt {env.UNSET}");
    assert_eq!(
        e,
        "no publisher key: set MERCURE_PUBLISHER_JWT_KEY or the publisher_jwt directive (or publisher_jwks_url)"
    );
    // An empty algorithm means HS256 (reference: `{env.MERCURE_PUBLISHER_JWT_ALG}` unset).
    assert_eq!(Env::keys().ok("publisher_jwt k \"\"").publisher, hs256("k"));
}

#[test]
fn required_keys() {
    let e = Env::new(&[]).load(None).unwrap_err();
    assert!(matches!(e, ConfigError::Incomplete(_)));
    assert!(
        e.to_string()
            .starts_with("no publisher key: set MERCURE_PUBLISHER_JWT_KEY")
    );
    // A subscriber key alone does not help: the hub always needs a publisher key.
    let e = Env::new(&[("MERCURE_SUBSCRIBER_JWT_KEY", KEY)]).err("anonymous");
    assert!(e.starts_with("no publisher key"), "{e}");
    let e = Env::new(&[("MERCURE_PUBLISHER_JWT_KEY", KEY)])
        .load(None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "no subscriber key: set MERCURE_SUBSCRIBER_JWT_KEY or the subscriber_jwt directive"
        ),
        "{e}"
    );
    assert!(e.contains("anonymous"), "{e}");
    let c = Env::new(&[("MERCURE_PUBLISHER_JWT_KEY", KEY)]).ok("anonymous");
    assert_eq!(c.subscriber, None);
}

#[test]
fn debug_output_redacts_keys() {
    let c = Env::keys().load(None).unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("<redacted, 34 bytes>"), "{debug}");
}

#[test]
fn server_name_forms() {
    let port = |v: &str| {
        Env::keys()
            .with("SERVER_NAME", v)
            .load(None)
            .map(|c| c.listen)
    };
    assert_eq!(port(":80").unwrap().port, 80);
    assert_eq!(
        port("http://example.com").unwrap().display(),
        "http://example.com:80"
    );
    assert_eq!(port("[::1]:3000").unwrap().display(), "http://[::1]:3000");
    let c = Env::keys()
        .with("SERVER_NAME", "localhost")
        .load(None)
        .unwrap();
    assert_eq!(c.listen, ListenAddr::default());
    assert_eq!(c.warnings.len(), 1);
    assert!(c.warnings[0].contains("plain HTTP"));
    let e = port("https://example.com").unwrap_err().to_string();
    assert!(
        e.starts_with("SERVER_NAME: \"https://example.com\" needs HTTPS; TLS is not supported yet"),
        "{e}"
    );
    let e = Env::keys().err("\n\nserver_name example.com");
    assert!(
        e.starts_with("config.caddy:3: server_name: \"example.com\" has no port"),
        "{e}"
    );
    assert_eq!(
        Env::keys()
            .ok("server_name http://0.0.0.0:9000")
            .listen
            .bind,
        Bind::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    );
}

#[test]
fn protocol_directive() {
    assert_eq!(
        Env::keys().ok("protocol draft-08").protocol,
        Protocol::Draft08
    );
    assert_eq!(
        Env::keys().ok("protocol draft-07").protocol,
        Protocol::Draft07
    );
    // The last one wins, across layers too.
    assert_eq!(
        Env::keys()
            .ok("protocol draft-08\nprotocol draft-07")
            .protocol,
        Protocol::Draft07
    );
    let env = Env::keys().with("MERCURE_EXTRA_DIRECTIVES", "protocol draft-08");
    assert_eq!(env.load(None).unwrap().protocol, Protocol::Draft08);
    assert_eq!(env.ok("protocol draft-07").protocol, Protocol::Draft07);
    assert_eq!(
        Env::keys().err("protocol 1.0"),
        "config.caddy:1: protocol: expected draft-07 (the default) or draft-08, got \"1.0\""
    );
    assert_eq!(
        Env::keys().err("protocol"),
        "config.caddy:1: protocol: missing argument; usage: protocol draft-07|draft-08"
    );
    assert_eq!(Protocol::Draft07.to_string(), "draft-07");
    assert_eq!(Protocol::Draft08.to_string(), "draft-08");
}

#[test]
fn transports() {
    let c = Env::keys().ok("transport bolt");
    assert_eq!(
        (c.transport.kind.as_str(), c.transport.options.len()),
        ("bolt", 0)
    );
    let c = Env::keys().ok("transport local {}");
    assert_eq!(c.transport.kind, "local");
    // Options are recorded unvalidated, with flags, placeholders and line numbers.
    let env = Env::keys().with("REDIS_URL", "redis://r:6379").with(
        "MERCURE_EXTRA_DIRECTIVES",
        "anonymous\ntransport redis {\n  address {env.REDIS_URL}\n  tls\n  whatever 1 2 3\n}",
    );
    let c = env.load(None).unwrap();
    assert_eq!(c.transport.kind, "redis");
    assert_eq!(c.transport.origin, "MERCURE_EXTRA_DIRECTIVES line 2");
    assert_eq!(
        options(&c.transport),
        vec![
            (
                "address".into(),
                strings(&["redis://r:6379"]),
                3,
                "MERCURE_EXTRA_DIRECTIVES".into()
            ),
            ("tls".into(), vec![], 4, "MERCURE_EXTRA_DIRECTIVES".into()),
            (
                "whatever".into(),
                strings(&["1", "2", "3"]),
                5,
                "MERCURE_EXTRA_DIRECTIVES".into()
            ),
        ]
    );
    assert_eq!(c.transport.option("tls").map(|o| o.line), Some(4));
    for kind in KNOWN_TRANSPORTS {
        assert_eq!(
            Env::keys().ok(&format!("transport {kind}")).transport.kind,
            *kind
        );
    }
    assert_eq!(
        Env::keys().err("transport blot"),
        "config.caddy:1: transport: unknown transport \"blot\" (did you mean \"bolt\"?); expected one of local, bolt, redis, postgres, kafka, pulsar, nats"
    );
    assert_eq!(
        Env::keys().err("transport"),
        "config.caddy:1: transport: missing argument; usage: transport <name> [{ <options> }]"
    );
    assert_eq!(
        Env::keys().err("transport bolt {\n  path x {\n  }\n}"),
        "config.caddy:2: path: transport options cannot have a block"
    );
    assert_eq!(
        Env::keys().err("transport bolt extra"),
        "config.caddy:1: transport: unexpected argument \"extra\"; usage: transport <name> [{ <options> }]"
    );
}

#[test]
fn legacy_transport_urls() {
    let c = Env::keys()
        .with(
            "MERCURE_TRANSPORT_URL",
            "bolt:///data/mercure.db?size=100&cleanup_frequency=0.5",
        )
        .load(None)
        .unwrap();
    assert_eq!(c.transport.kind, "bolt");
    assert_eq!(
        options(&c.transport),
        vec![
            (
                "path".into(),
                strings(&["/data/mercure.db"]),
                0,
                "MERCURE_TRANSPORT_URL".into()
            ),
            (
                "size".into(),
                strings(&["100"]),
                0,
                "MERCURE_TRANSPORT_URL".into()
            ),
            (
                "cleanup_frequency".into(),
                strings(&["0.5"]),
                0,
                "MERCURE_TRANSPORT_URL".into()
            ),
        ]
    );
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].starts_with("MERCURE_TRANSPORT_URL is deprecated"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[0].contains("transport bolt { ... }"),
        "{:?}",
        c.warnings
    );
    let c = Env::keys().ok("\ntransport_url bolt://mercure.db?bucket_name=b");
    assert_eq!(c.transport.origin, "config.caddy line 2");
    assert_eq!(
        options(&c.transport),
        vec![
            (
                "path".into(),
                strings(&["mercure.db"]),
                2,
                "config.caddy".into()
            ),
            (
                "cleanup_frequency".into(),
                strings(&["0.3"]),
                2,
                "config.caddy".into()
            ),
            (
                "bucket_name".into(),
                strings(&["b"]),
                2,
                "config.caddy".into()
            ),
        ]
    );
    assert!(c.warnings[0].starts_with("config.caddy line 2: transport_url is deprecated"));
    let c = Env::keys().ok("transport_url local://local");
    assert_eq!(
        (c.transport.kind.as_str(), c.transport.options.len()),
        ("local", 0)
    );
    let c = Env::keys().ok("transport_url \"postgres://u:p@db/m?sslmode=disable\"");
    assert_eq!(c.transport.kind, "postgres");
    assert_eq!(
        c.transport.options[0].args,
        strings(&["postgres://u:p@db/m?sslmode=disable"])
    );
    // The deprecation warning never repeats the DSN (it may hold credentials).
    assert!(!c.warnings[0].contains("u:p"), "{:?}", c.warnings);
    for (dsn, kind) in [
        ("redis://r", "redis"),
        ("rediss://r", "redis"),
        ("postgresql://db", "postgres"),
        ("kafka://k", "kafka"),
        ("pulsar://p", "pulsar"),
        ("nats://n", "nats"),
    ] {
        let c = Env::keys()
            .with("MERCURE_TRANSPORT_URL", dsn)
            .load(None)
            .unwrap();
        assert_eq!(c.transport.kind, kind);
        assert_eq!(c.transport.options[0].name, "url");
    }
    // A transport directive overrides MERCURE_TRANSPORT_URL; transport_url overrides transport.
    let env = Env::keys().with("MERCURE_TRANSPORT_URL", "bolt:///x.db");
    assert_eq!(env.ok("transport local").transport.kind, "local");
    assert_eq!(
        Env::keys()
            .ok("transport bolt\ntransport_url local://")
            .transport
            .kind,
        "local"
    );
    let e = Env::keys()
        .with("MERCURE_TRANSPORT_URL", "mysql://x")
        .load(None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("MERCURE_TRANSPORT_URL: unsupported transport URL scheme \"mysql\""),
        "{e}"
    );
    let e = Env::keys().err("anonymous\ntransport_url bolt://");
    assert!(
        e.starts_with("config.caddy:2: transport_url: missing path"),
        "{e}"
    );
}

#[test]
fn caches() {
    let c = Env::keys().ok("topic_selector_cache 10000 256");
    assert_eq!(c.topic_selector_cache, 10_000);
    assert!(c.warnings[0].contains("shard count"), "{:?}", c.warnings);
    assert_eq!(
        Env::keys()
            .ok("topic_selector_cache -1")
            .topic_selector_cache,
        0
    );
    assert_eq!(
        Env::keys()
            .ok("topic_selector_cache 0")
            .topic_selector_cache,
        0
    );
    assert_eq!(
        Env::keys().err("topic_selector_cache big"),
        "config.caddy:1: topic_selector_cache: expected an integer, got \"big\""
    );
    assert_eq!(
        Env::keys().err("topic_selector_cache 1 x"),
        "config.caddy:1: topic_selector_cache: expected an integer, got \"x\""
    );
    assert_eq!(
        Env::keys()
            .ok("subscriber_list_cache_size 5")
            .subscriber_list_cache_size,
        5
    );
    assert_eq!(
        Env::keys().err("subscriber_list_cache_size -1"),
        "config.caddy:1: subscriber_list_cache_size: must be >= 0 (0 means unbounded), got -1"
    );
    assert_eq!(
        Env::keys().err("subscriber_list_cache_size 1.5"),
        "config.caddy:1: subscriber_list_cache_size: expected an integer, got \"1.5\""
    );
}

#[test]
fn directive_value_errors() {
    let k = Env::keys();
    assert_eq!(
        k.err("\n\n\n\n\n\n\n\n\n\n\nheartbeat abc"),
        "config.caddy:12: heartbeat: expected a duration such as 40s, 1m30s or 500ms, got \"abc\""
    );
    assert_eq!(
        k.err("write_timeout -1s"),
        "config.caddy:1: write_timeout: negative durations are not allowed, got \"-1s\" (use 0 to disable)"
    );
    assert!(
        k.err("dispatch_timeout 5")
            .starts_with("config.caddy:1: dispatch_timeout: missing unit")
    );
    assert_eq!(
        k.err("cors_origins https://a.example/"),
        "config.caddy:1: cors_origins: invalid origin \"https://a.example/\": remove the trailing slash (browsers send https://a.example)"
    );
    assert!(
        k.err("publish_origins * example.com")
            .starts_with("config.caddy:1: publish_origins: invalid origin \"example.com\"")
    );
    assert_eq!(
        k.err("cookie_name \"a b\""),
        "config.caddy:1: cookie_name: invalid cookie name \"a b\": use letters, digits and !#$%&'*+-.^_`|~ only"
    );
    assert_eq!(
        k.err("protocol_version_compatibility 8"),
        "config.caddy:1: protocol_version_compatibility: only protocol version 7 is supported (as in the reference), got \"8\""
    );
    assert_eq!(
        k.err("name \"\""),
        "config.caddy:1: name: the hub name must not be empty"
    );
}

#[test]
fn arity_errors() {
    let k = Env::keys();
    for (file, expected) in [
        (
            "heartbeat",
            "config.caddy:1: heartbeat: missing argument; usage: heartbeat <duration>",
        ),
        (
            "heartbeat 1s 2s",
            "config.caddy:1: heartbeat: unexpected argument \"2s\"; usage: heartbeat <duration>",
        ),
        (
            "anonymous yes",
            "config.caddy:1: anonymous: unexpected argument \"yes\"; usage: anonymous",
        ),
        (
            "cors_origins",
            "config.caddy:1: cors_origins: missing argument; usage: cors_origins <origin>...",
        ),
        (
            "publisher_jwt",
            "config.caddy:1: publisher_jwt: missing argument; usage: publisher_jwt <key> [<algorithm>]",
        ),
        (
            "publisher_jwt k HS256 x",
            "config.caddy:1: publisher_jwt: unexpected argument \"x\"; usage: publisher_jwt <key> [<algorithm>]",
        ),
        (
            "name",
            "config.caddy:1: name: missing argument; usage: name <name>",
        ),
        (
            "subscriptions {\n}",
            "config.caddy:1: subscriptions: does not take a block; usage: subscriptions",
        ),
        (
            "server_name",
            "config.caddy:1: server_name: missing argument; usage: server_name <address>",
        ),
        (
            "transport_url",
            "config.caddy:1: transport_url: missing argument; usage: transport_url <url>",
        ),
        (
            "protocol_version_compatibility",
            "config.caddy:1: protocol_version_compatibility: missing argument; usage: protocol_version_compatibility 7",
        ),
    ] {
        assert_eq!(k.err(file), expected, "{file:?}");
    }
}

#[test]
fn unknown_directives() {
    let k = Env::keys();
    assert_eq!(
        k.err("anonymous\n  hearbeat 10s"),
        "config.caddy:2: hearbeat: unknown directive (did you mean \"heartbeat\"?)"
    );
    assert_eq!(
        k.err("encode zstd gzip"),
        "config.caddy:1: encode: unknown directive"
    );
    // Inside a mercure block too (the reference v0.x would silently ignore it).
    assert_eq!(
        k.err("mercure {\n  anonymous\n  subscription\n}"),
        "config.caddy:3: subscription: unknown directive (did you mean \"subscriptions\"?)"
    );
    // Errors in MERCURE_EXTRA_DIRECTIVES name that variable.
    let e = Env::keys()
        .with("MERCURE_EXTRA_DIRECTIVES", "anonymous\ndemo\nnope")
        .load(None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "MERCURE_EXTRA_DIRECTIVES:3: nope: unknown directive"
    );
    assert!(matches!(e, ConfigError::Directive { line: 3, .. }));
    assert!(directive_names().any(|d| d == "transport"));
}

#[test]
fn syntax_errors_have_lines() {
    let k = Env::keys();
    assert_eq!(
        k.err("anonymous\nname \"abc"),
        "config.caddy:2: unterminated quoted string (missing closing \")"
    );
    assert_eq!(
        k.err("\n\n}"),
        "config.caddy:3: unexpected '}': no block is open"
    );
    assert_eq!(
        k.err("transport bolt {\n path /x\n"),
        "config.caddy:1: unterminated block: this '{' has no matching '}'"
    );
    let e = Env::keys()
        .with("MERCURE_EXTRA_DIRECTIVES", "cors_origins `*")
        .load(None)
        .unwrap_err();
    assert!(matches!(e, ConfigError::Syntax { line: 1, .. }));
    assert_eq!(
        e.to_string(),
        "MERCURE_EXTRA_DIRECTIVES:1: unterminated backtick string (missing closing `)"
    );
}

#[test]
fn placeholders_and_quoting() {
    let env = Env::keys()
        .with("ORIGINS", "https://a.example https://b.example")
        .with("HB", "20s")
        .with("EXTRA", "anonymous\nsubscriptions");
    let c = env.ok(
        "cors_origins {$ORIGINS}\nheartbeat {$HB}\nwrite_timeout {$UNSET:30s}\n{$EXTRA}\nname \"my hub\" # comment\ncookie_name {env.UNSET_COOKIE}x",
    );
    // `{$X}` may expand to several arguments or directives.
    assert_eq!(
        c.cors_origins,
        strings(&["https://a.example", "https://b.example"])
    );
    assert_eq!(c.heartbeat, Some(Duration::from_secs(20)));
    assert_eq!(c.write_timeout, Some(Duration::from_secs(30)));
    assert!(c.anonymous && c.subscriptions);
    assert_eq!(c.name, "my hub");
    assert_eq!(c.cookie_name, "x");
    // `{$X}` works in MERCURE_EXTRA_DIRECTIVES too.
    let c = env
        .clone_with("MERCURE_EXTRA_DIRECTIVES", "heartbeat {$HB}")
        .load(None)
        .unwrap();
    assert_eq!(c.heartbeat, Some(Duration::from_secs(20)));
    // Line numbers after a multi-line expansion are those of the file.
    assert_eq!(
        env.err("{$EXTRA}\nheartbeat x"),
        "config.caddy:2: heartbeat: expected a duration such as 40s, 1m30s or 500ms, got \"x\""
    );
}

impl Env {
    fn clone_with(&self, key: &str, value: &str) -> Env {
        Env(self.0.clone()).with(key, value)
    }
}

#[test]
fn error_variants_carry_structured_fields() {
    let e = Env::keys().load(Some("\nheartbeat nope")).unwrap_err();
    match e {
        ConfigError::Directive {
            origin,
            line,
            directive,
            reason,
        } => {
            assert_eq!(
                (origin.as_str(), line, directive.as_str()),
                ("config.caddy", 2, "heartbeat")
            );
            assert!(reason.starts_with("expected a duration"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let e = Env::keys()
        .with("SERVER_NAME", "https://x")
        .load(None)
        .unwrap_err();
    assert!(matches!(e, ConfigError::Env { ref var, .. } if var == "SERVER_NAME"));
}

// ---------------------------------------------------------------------------------------
// Protocol draft-08: issuers, the environment's issuer, draft-08 directives and defaults.
// ---------------------------------------------------------------------------------------

const LOCALHOST: &str = "https://localhost";

fn issuer(id: &str, publisher: Option<KeySource>, subscriber: Option<KeySource>) -> IssuerConfig {
    IssuerConfig {
        id: id.to_owned(),
        publisher,
        subscriber,
        authorization_server: false,
    }
}

fn jwks(url: &str, algs: &[&str]) -> Option<KeySource> {
    Some(KeySource::Jwks {
        url: url.to_owned(),
        algs: strings(algs),
    })
}

fn static_key(key: &str, alg: &str) -> Option<KeySource> {
    Some(KeySource::Static {
        key: key.to_owned(),
        alg: alg.to_owned(),
    })
}

/// `protocol draft-08` followed by `rest`.
fn d8(rest: &str) -> String {
    format!("protocol draft-08\n{rest}")
}

#[test]
fn draft08_defaults_and_env_issuer() {
    let c = Env::keys().ok("protocol draft-08");
    assert_eq!(c.protocol, Protocol::Draft08);
    // The environment's keys are those of the default issuer, as in the reference image.
    assert_eq!(c.issuers, vec![issuer(LOCALHOST, hs256(KEY), hs256(KEY))]);
    assert_eq!(c.issuers[0].id, DEFAULT_TRUSTED_ISSUER);
    assert_eq!((c.publisher.clone(), c.subscriber.clone()), (None, None));
    assert_eq!(c.cookie_name, "__Secure-mercure_access_token");
    assert_eq!(c.cookie_name, DEFAULT_COOKIE_NAME_DRAFT08);
    assert_eq!(c.max_request_body_size, Some(1024 * 1024));
    assert_eq!(
        c.max_request_body_size,
        Some(Protocol::Draft08.default_max_request_body_size())
    );
    assert_eq!(c.resource_identifier, None);
    assert!(c.public_urls.is_empty());
    assert_eq!(c.protocol_version_compatibility, None);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Everything else keeps the draft-07 defaults.
    let d7 = Env::keys().load(None).unwrap();
    assert_eq!(
        c,
        Config {
            protocol: Protocol::Draft08,
            publisher: None,
            subscriber: None,
            issuers: c.issuers.clone(),
            cookie_name: c.cookie_name.clone(),
            max_request_body_size: c.max_request_body_size,
            ..d7.clone()
        }
    );
    assert_eq!(d7.cookie_name, Protocol::Draft07.default_cookie_name());
    // Explicit settings win over the protocol's defaults, whatever the order.
    let c = Env::keys()
        .ok("cookie_name mercureAuthorization\nmax_request_body_size 2MiB\nprotocol draft-08");
    assert_eq!(c.cookie_name, "mercureAuthorization");
    assert_eq!(c.max_request_body_size, Some(2 * 1024 * 1024));
}

#[test]
fn draft08_env_issuer_name_and_algorithms() {
    let env = Env::new(&[
        ("MERCURE_PUBLISHER_JWT_KEY", PEM),
        ("MERCURE_PUBLISHER_JWT_ALG", "EdDSA"),
        ("MERCURE_SUBSCRIBER_JWT_KEY", "subsecret"),
        ("MERCURE_SUBSCRIBER_JWT_ALG", "HS512"),
        (
            "MERCURE_TRUSTED_ISSUERS",
            "https://idp.example.com/realms/x",
        ),
        ("MERCURE_EXTRA_DIRECTIVES", "protocol draft-08"),
    ]);
    let c = env.load(None).unwrap();
    assert_eq!(
        c.issuers,
        vec![issuer(
            "https://idp.example.com/realms/x",
            static_key(PEM, "EdDSA"),
            static_key("subsecret", "HS512"),
        )]
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // An empty MERCURE_TRUSTED_ISSUERS counts as unset.
    let c = Env::keys().with("MERCURE_TRUSTED_ISSUERS", "").ok(&d8(""));
    assert_eq!(c.issuers[0].id, LOCALHOST);
    // The identifier is one `iss` value, not a list.
    let e = Env::keys()
        .with("MERCURE_TRUSTED_ISSUERS", "https://a https://b")
        .err(&d8(""));
    assert!(
        e.starts_with("MERCURE_TRUSTED_ISSUERS: expected one issuer identifier"),
        "{e}"
    );
    // Only a publisher key in the environment: an issuer that cannot subscribe.
    let c = Env::new(&[("MERCURE_PUBLISHER_JWT_KEY", KEY)]).ok(&d8("anonymous"));
    assert_eq!(c.issuers, vec![issuer(LOCALHOST, hs256(KEY), None)]);
    // Key rules are those of draft-07, reported on the variables.
    let e = Env::keys()
        .with("MERCURE_PUBLISHER_JWT_KEY", PEM)
        .err(&d8(""));
    assert!(
        e.starts_with("MERCURE_PUBLISHER_JWT_KEY: the key is PEM-encoded"),
        "{e}"
    );
    assert!(e.contains("MERCURE_PUBLISHER_JWT_ALG"), "{e}");
    let e = Env::keys()
        .with("MERCURE_SUBSCRIBER_JWT_ALG", "none")
        .err(&d8(""));
    assert!(
        e.starts_with("MERCURE_SUBSCRIBER_JWT_ALG: unsupported JWT algorithm \"none\""),
        "{e}"
    );
    // MERCURE_TRUSTED_ISSUERS alone names nothing usable: a warning, and the missing keys.
    let c = Env::new(&[("MERCURE_TRUSTED_ISSUERS", "https://idp")]).ok(&d8(
        "anonymous\nissuer https://other {\n publisher {\n  jwt k\n }\n}",
    ));
    assert_eq!(c.issuers, vec![issuer("https://other", hs256("k"), None)]);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0]
            .starts_with("MERCURE_TRUSTED_ISSUERS names the issuer \"https://idp\", but neither"),
        "{:?}",
        c.warnings
    );
    // With draft-07 the variable has no meaning: a warning.
    let c = Env::keys()
        .with("MERCURE_TRUSTED_ISSUERS", "https://idp")
        .load(None)
        .unwrap();
    assert!(c.issuers.is_empty());
    assert_eq!(c.publisher, hs256(KEY));
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].starts_with("MERCURE_TRUSTED_ISSUERS is ignored with protocol draft-07"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn issuer_blocks() {
    let file = d8("mercure {
\tissuer https://idp.example.com {
\t\tauthorization_server
\t\tpublisher {
\t\t\tjwks_uri https://idp.example.com/jwks.json RS256 ES256 RS256
\t\t}
\t\tsubscriber {
\t\t\tjwks_uri file:///etc/mercure/jwks.json
\t\t}
\t}
\tissuer self {
\t\tpublisher {
\t\t\tjwt {env.PEM_KEY} ES384
\t\t}
\t\tsubscriber {
\t\t\tjwt secret
\t\t}
\t}
\tissuer {$ISS_ID} {
\t\tsubscriber {
\t\t\tjwt `s2` HS384
\t\t}
\t}
}");
    let c = Env::new(&[("PEM_KEY", PEM), ("ISS_ID", "urn:example:iss")]).ok(&file);
    assert_eq!(
        c.issuers,
        vec![
            IssuerConfig {
                authorization_server: true,
                ..issuer(
                    "https://idp.example.com",
                    // Duplicates dropped, order kept.
                    jwks("https://idp.example.com/jwks.json", &["RS256", "ES256"]),
                    jwks("file:///etc/mercure/jwks.json", &[]),
                )
            },
            issuer("self", static_key(PEM, "ES384"), hs256("secret")),
            issuer("urn:example:iss", None, static_key("s2", "HS384")),
        ]
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // An issuer block next to the environment's issuer: both, the environment's first.
    let c = Env::keys().ok(&d8(
        "issuer https://idp {\n  publisher {\n    jwks_uri https://idp/jwks\n  }\n}",
    ));
    assert_eq!(
        c.issuers,
        vec![
            issuer(LOCALHOST, hs256(KEY), hs256(KEY)),
            issuer("https://idp", jwks("https://idp/jwks", &[]), None),
        ]
    );
    // Every supported algorithm is accepted in a JWKS list.
    let all = SUPPORTED_ALGORITHMS.join(" ");
    let c = Env::new(&[]).ok(&d8(&format!(
        "anonymous\nissuer i {{\n publisher {{\n  jwks_uri https://i/jwks {all}\n }}\n}}"
    )));
    assert_eq!(
        c.issuers[0].publisher,
        jwks("https://i/jwks", SUPPORTED_ALGORITHMS)
    );
    // An issuer's keys are redacted in debug output.
    let c = Env::new(&[]).ok(&d8(
        "issuer i {\n publisher {\n  jwt topsecret\n }\n subscriber {\n  jwt topsecret\n }\n}",
    ));
    let debug = format!("{c:?}");
    assert!(!debug.contains("topsecret"), "{debug}");
    assert!(debug.contains("<redacted, 9 bytes>"), "{debug}");
}

#[test]
fn issuer_key_rules() {
    let block = |role: &str, line: &str| {
        d8(&format!(
            "anonymous\nissuer https://i {{\n  {role} {{\n    {line}\n  }}\n}}"
        ))
    };
    let env = Env::new(&[("PEM_KEY", PEM)]);
    // Raw secret: HS256 by default; an empty algorithm (unset placeholder) too.
    let c = env.ok(&block("publisher", "jwt s"));
    assert_eq!(c.issuers[0].publisher, hs256("s"));
    let c = env.ok(&block("publisher", "jwt s {env.UNSET}"));
    assert_eq!(c.issuers[0].publisher, hs256("s"));
    // PEM keys need an asymmetric algorithm, and HS* keys a secret; errors point at the line.
    let c = env.ok(&block("publisher", "jwt {env.PEM_KEY} RS256"));
    assert_eq!(c.issuers[0].publisher, static_key(PEM, "RS256"));
    let e = env.err(&block("publisher", "jwt {env.PEM_KEY}"));
    assert!(
        e.starts_with("config.caddy:5: jwt: the key is PEM-encoded (-----BEGIN ...) but the algorithm is HS256"),
        "{e}"
    );
    assert!(e.contains("the second argument of jwt"), "{e}");
    let e = env.err(&block("publisher", "jwt {env.PEM_KEY} HS512"));
    assert!(e.contains("the algorithm is HS512"), "{e}");
    let e = env.err(&block("subscriber", "jwt secret ES256"));
    assert!(
        e.starts_with("config.caddy:5: jwt: the algorithm ES256 needs a PEM-encoded public key"),
        "{e}"
    );
    let e = env.err(&block("publisher", "jwt secret hs256"));
    assert!(
        e.starts_with(
            "config.caddy:5: jwt: unsupported JWT algorithm \"hs256\" (did you mean \"HS256\"?"
        ),
        "{e}"
    );
    // JWKS: URL and algorithms are checked.
    let e = env.err(&block("publisher", "jwks_uri https://i/jwks RS256 none"));
    assert!(
        e.starts_with(
            "config.caddy:5: jwks_uri: unsupported JWT algorithm \"none\"; expected one of HS256"
        ),
        "{e}"
    );
    // ES512 is in the reference's default list, but not supported here.
    let e = env.err(&block("publisher", "jwks_uri https://i/jwks ES512"));
    assert!(e.contains("unsupported JWT algorithm \"ES512\""), "{e}");
    let e = env.err(&block("publisher", "jwks_uri https://i/jwks es256"));
    assert!(e.contains("(did you mean \"ES256\"?"), "{e}");
    let e = env.err(&block("publisher", "jwks_uri ftp://i/jwks"));
    assert!(
        e.starts_with("config.caddy:5: jwks_uri: unsupported scheme \"ftp\""),
        "{e}"
    );
    // Unset placeholders among the algorithms are skipped.
    let c = env.ok(&block(
        "publisher",
        "jwks_uri https://i/jwks {env.UNSET} PS256",
    ));
    assert_eq!(c.issuers[0].publisher, jwks("https://i/jwks", &["PS256"]));
    // An empty key or URL leaves the role without key, with a warning.
    let file = d8(
        "anonymous\nissuer https://i {\n  publisher {\n    jwt k\n  }\n  subscriber {\n    jwt {env.UNSET}\n  }\n}\nissuer https://j {\n  subscriber {\n    jwks_uri {env.UNSET} RS256\n  }\n  publisher {\n    jwt k2\n  }\n}",
    );
    let c = env.ok(&file);
    assert_eq!(
        c.issuers,
        vec![
            issuer("https://i", hs256("k"), None),
            issuer("https://j", hs256("k2"), None),
        ]
    );
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert_eq!(
        c.warnings[0],
        "config.caddy line 8: jwt has an empty key (unset environment variable?); the issuer \"https://i\" gets no subscriber key from it"
    );
    assert!(c.warnings[1].starts_with("config.caddy line 13: jwks_uri has an empty URL"));
}

#[test]
fn issuer_block_errors() {
    let k = Env::keys();
    for (file, expected) in [
        (
            "issuer {\n}",
            "config.caddy:2: issuer: missing argument; usage: issuer <identifier> { [authorization_server] publisher { jwt <key> [<algorithm>] | jwks_uri <url> [<algorithm>...] } subscriber { ... } }",
        ),
        (
            "issuer a b {\n}",
            "config.caddy:2: issuer: unexpected argument \"b\"; usage: issuer <identifier> { [authorization_server] publisher { jwt <key> [<algorithm>] | jwks_uri <url> [<algorithm>...] } subscriber { ... } }",
        ),
        (
            "issuer https://i",
            "config.caddy:2: issuer: expected a block; usage: issuer <identifier> { [authorization_server] publisher { jwt <key> [<algorithm>] | jwks_uri <url> [<algorithm>...] } subscriber { ... } }",
        ),
        (
            "issuer {env.UNSET} {\n  publisher {\n    jwt k\n  }\n}",
            "config.caddy:2: issuer: the issuer identifier must not be empty (unset environment variable?); it is the exact `iss` of the tokens, e.g. https://idp.example.com",
        ),
        (
            "issuer https://i {\n  authorization_server\n}",
            "config.caddy:2: issuer: the issuer \"https://i\" has no key: give it a publisher { ... } and/or a subscriber { ... } block with a jwt or jwks_uri (an empty key, e.g. from an unset environment variable, counts as none)",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt {env.UNSET}\n  }\n}",
            "config.caddy:2: issuer: the issuer \"https://i\" has no key: give it a publisher { ... } and/or a subscriber { ... } block with a jwt or jwks_uri (an empty key, e.g. from an unset environment variable, counts as none)",
        ),
        (
            "issuer https://i {\n  publisher {\n  }\n}",
            "config.caddy:3: publisher: empty publisher block; usage: publisher { jwt <key> [<algorithm>] } or { jwks_uri <url> [<algorithm>...] }",
        ),
        (
            "issuer https://i {\n  publisher {}\n}",
            "config.caddy:3: publisher: empty publisher block; usage: publisher { jwt <key> [<algorithm>] } or { jwks_uri <url> [<algorithm>...] }",
        ),
        (
            "issuer https://i {\n  publisher\n}",
            "config.caddy:3: publisher: expected a block; usage: publisher { jwt <key> [<algorithm>] } or { jwks_uri <url> [<algorithm>...] }",
        ),
        (
            "issuer https://i {\n  subscriber x {\n  }\n}",
            "config.caddy:3: subscriber: unexpected argument \"x\"; usage: subscriber { jwt <key> [<algorithm>] } or { jwks_uri <url> [<algorithm>...] }",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt k\n    jwks_uri https://i/jwks\n  }\n}",
            "config.caddy:5: jwks_uri: jwt and jwks_uri are mutually exclusive: the publisher of the issuer \"https://i\" already has a jwt (line 4)",
        ),
        (
            "issuer https://i {\n  subscriber {\n    jwks_uri https://i/jwks\n    jwt k\n  }\n}",
            "config.caddy:5: jwt: jwt and jwks_uri are mutually exclusive: the subscriber of the issuer \"https://i\" already has a jwks_uri (line 4)",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt k\n    jwt k2\n  }\n}",
            "config.caddy:5: jwt: the publisher of the issuer \"https://i\" already has a jwt (line 4)",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt k\n  }\n  publisher {\n    jwt k2\n  }\n}",
            "config.caddy:6: publisher: the issuer \"https://i\" already has a publisher block (line 3); a role has one key: jwt or jwks_uri",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwks_url https://i/jwks\n  }\n}",
            "config.caddy:4: jwks_url: unknown publisher directive (did you mean \"jwks_uri\"?); expected jwt <key> [<algorithm>] or jwks_uri <url> [<algorithm>...]",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt\n  }\n}",
            "config.caddy:4: jwt: missing argument; usage: jwt <key> [<algorithm>]",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt k HS256 x\n  }\n}",
            "config.caddy:4: jwt: unexpected argument \"x\"; usage: jwt <key> [<algorithm>]",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwks_uri\n  }\n}",
            "config.caddy:4: jwks_uri: missing argument; usage: jwks_uri <url> [<algorithm>...]",
        ),
        (
            "issuer https://i {\n  publisher {\n    jwt k {\n    }\n  }\n}",
            "config.caddy:4: jwt: does not take a block; usage: jwt <key> [<algorithm>]",
        ),
        (
            "issuer https://i {\n  publishers {\n  }\n}",
            "config.caddy:3: publishers: unknown issuer directive (did you mean \"publisher\"?); expected authorization_server, publisher or subscriber",
        ),
        (
            "issuer https://i {\n  authorization_server yes\n}",
            "config.caddy:3: authorization_server: unexpected argument \"yes\"; usage: authorization_server",
        ),
        (
            "issuer https://i {\n  jwt k\n}",
            "config.caddy:3: jwt: must be inside a publisher { ... } or subscriber { ... } block of the issuer; usage: issuer <identifier> { [authorization_server] publisher { jwt <key> [<algorithm>] | jwks_uri <url> [<algorithm>...] } subscriber { ... } }",
        ),
    ] {
        assert_eq!(k.err(&d8(file)), expected, "{file:?}");
    }
}

#[test]
fn duplicate_issuers() {
    let block =
        |id: &str, key: &str| format!("issuer {id} {{\n  publisher {{\n    jwt {key}\n  }}\n}}\n");
    let file = d8(&format!(
        "{}{}",
        block("https://i", "a"),
        block("https://i", "b")
    ));
    assert_eq!(
        Env::keys().err(&file),
        "config.caddy:7: issuer: duplicate issuer \"https://i\": it is already configured at config.caddy line 2; give each issuer one block holding its publisher and subscriber keys"
    );
    // Identifiers are compared exactly: these are three issuers.
    let file = d8(&format!(
        "{}{}{}",
        block("https://i", "a"),
        block("https://i/", "b"),
        block("HTTPS://i", "c")
    ));
    assert_eq!(Env::keys().ok(&file).issuers.len(), 4);
    // Across layers too: MERCURE_EXTRA_DIRECTIVES and the file are both directives.
    let env = Env::keys().with("MERCURE_EXTRA_DIRECTIVES", &d8(&block("https://i", "a")));
    let e = env.err(&format!("\n{}", block("https://i", "b")));
    assert_eq!(
        e,
        "config.caddy:2: issuer: duplicate issuer \"https://i\": it is already configured at MERCURE_EXTRA_DIRECTIVES line 2; give each issuer one block holding its publisher and subscriber keys"
    );
}

#[test]
fn issuer_block_replaces_the_env_issuer() {
    // The reference's Caddyfile would hold two blocks for one issuer; here the directive
    // replaces the environment's issuer as a whole, with a warning.
    let file = d8(
        "anonymous\nissuer https://localhost {\n  authorization_server\n  publisher {\n    jwt other\n  }\n}",
    );
    let c = Env::keys().ok(&file);
    assert_eq!(
        c.issuers,
        vec![IssuerConfig {
            authorization_server: true,
            ..issuer(LOCALHOST, hs256("other"), None)
        }]
    );
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert_eq!(
        c.warnings[0],
        "MERCURE_PUBLISHER_JWT_KEY and MERCURE_SUBSCRIBER_JWT_KEY ignored: the issuer block at config.caddy line 3 configures the issuer \"https://localhost\" (named by MERCURE_TRUSTED_ISSUERS, default https://localhost) and replaces the keys from the environment"
    );
    // Same with a named issuer; an invalid environment key that is replaced is no error.
    let env = Env::new(&[
        ("MERCURE_PUBLISHER_JWT_KEY", PEM),
        ("MERCURE_TRUSTED_ISSUERS", "https://idp"),
    ]);
    let c = env.ok(&d8(
        "anonymous\nissuer https://idp {\n  publisher {\n    jwt k\n  }\n}",
    ));
    assert_eq!(c.issuers, vec![issuer("https://idp", hs256("k"), None)]);
    assert!(
        c.warnings[0].starts_with("MERCURE_PUBLISHER_JWT_KEY ignored: the issuer block at config.caddy line 3 configures the issuer \"https://idp\" (named by MERCURE_TRUSTED_ISSUERS) and"),
        "{:?}",
        c.warnings
    );
    // A block for another issuer does not touch the environment's.
    let c = env.with("MERCURE_PUBLISHER_JWT_ALG", "EdDSA").ok(&d8(
        "anonymous\nissuer https://localhost {\n  publisher {\n    jwt k\n  }\n}",
    ));
    assert_eq!(c.issuers.len(), 2);
    assert_eq!(
        c.issuers[0],
        issuer("https://idp", static_key(PEM, "EdDSA"), None)
    );
}

#[test]
fn draft08_required_keys() {
    let e = Env::new(&[]).load(Some(d8("").as_str())).unwrap_err();
    assert!(matches!(e, ConfigError::Incomplete(_)));
    assert_eq!(
        e.to_string(),
        "no publisher key: set MERCURE_PUBLISHER_JWT_KEY (the key of the issuer named by MERCURE_TRUSTED_ISSUERS, default https://localhost) or give an issuer block a publisher { jwt <key> [<algorithm>] } or publisher { jwks_uri <url> }"
    );
    // Subscriber keys do not make up for a missing publisher key, even with anonymous.
    let e = Env::new(&[("MERCURE_SUBSCRIBER_JWT_KEY", KEY)]).err(&d8("anonymous"));
    assert!(e.starts_with("no publisher key"), "{e}");
    let e = Env::new(&[("MERCURE_PUBLISHER_JWT_KEY", KEY)]).err(&d8(""));
    assert!(
        e.starts_with("no subscriber key: set MERCURE_SUBSCRIBER_JWT_KEY"),
        "{e}"
    );
    assert!(e.contains("anonymous"), "{e}");
    // The two roles may come from different issuers.
    let c = Env::new(&[("MERCURE_PUBLISHER_JWT_KEY", KEY)]).ok(&d8(
        "issuer https://idp {\n  subscriber {\n    jwks_uri https://idp/jwks\n  }\n}",
    ));
    assert_eq!(
        c.issuers,
        vec![
            issuer(LOCALHOST, hs256(KEY), None),
            issuer("https://idp", None, jwks("https://idp/jwks", &[])),
        ]
    );
    // Keys from issuer blocks alone are enough.
    let c = Env::new(&[]).ok(&d8(
        "issuer a {\n  publisher {\n    jwt k\n  }\n  subscriber {\n    jwt k\n  }\n}",
    ));
    assert_eq!(c.issuers, vec![issuer("a", hs256("k"), hs256("k"))]);
}

#[test]
fn protocol_specific_refusals() {
    let k = Env::keys();
    // Draft-07 key directives are refused with draft-08, wherever `protocol` is.
    for (directive, args) in [
        ("publisher_jwt", "k"),
        ("subscriber_jwt", "k HS256"),
        ("publisher_jwks_url", "https://i/jwks"),
        ("subscriber_jwks_url", "https://i/jwks"),
    ] {
        let e = k.err(&format!("anonymous\n{directive} {args}\nprotocol draft-08"));
        assert!(
            e.starts_with(&format!(
                "config.caddy:2: {directive}: not available with protocol draft-08 (set at config.caddy line 3): declare keys per token issuer, e.g. `issuer https://idp.example.com {{ publisher {{ jwt <key> [<algorithm>] }}"
            )),
            "{e}"
        );
        assert!(e.contains("MERCURE_TRUSTED_ISSUERS"), "{e}");
        assert!(e.contains("compatibility mode"), "{e}");
    }
    // Even an empty key (unset placeholder) is refused: the directive has no draft-08 meaning.
    let e = k.err(&d8("publisher_jwt {env.UNSET}"));
    assert!(
        e.starts_with("config.caddy:2: publisher_jwt: not available"),
        "{e}"
    );
    // protocol_version_compatibility: not implemented with draft-08, whatever the value.
    for value in ["7", "8"] {
        let e = Env::keys()
            .with("MERCURE_EXTRA_DIRECTIVES", "protocol draft-08")
            .err(&format!("protocol_version_compatibility {value}"));
        assert!(
            e.starts_with("config.caddy:1: protocol_version_compatibility: not implemented with protocol draft-08 (set at MERCURE_EXTRA_DIRECTIVES line 1)"),
            "{e}"
        );
    }
    // ...and with draft-07, 8 is refused as before (7 only).
    assert_eq!(
        k.err("protocol_version_compatibility 8"),
        "config.caddy:1: protocol_version_compatibility: only protocol version 7 is supported (as in the reference), got \"8\""
    );
    assert_eq!(
        k.ok("protocol_version_compatibility 7\nprotocol draft-07")
            .protocol_version_compatibility,
        Some(7)
    );
    // The last value wins before the protocol is applied.
    assert_eq!(
        k.ok("protocol_version_compatibility 8\nprotocol_version_compatibility +7")
            .protocol_version_compatibility,
        Some(7)
    );
    // Draft-08 directives are refused with draft-07.
    let e = k.err("anonymous\nissuer https://i {\n  publisher {\n    jwt k\n  }\n}");
    assert_eq!(
        e,
        "config.caddy:2: issuer: needs protocol draft-08 (add the directive `protocol draft-08`; draft-07 is the default); with draft-07 the keys are set with publisher_jwt and subscriber_jwt (or the MERCURE_*_JWT_KEY variables)"
    );
    assert_eq!(
        k.err("\nresource_identifier https://hub.example.com/.well-known/mercure"),
        "config.caddy:2: resource_identifier: needs protocol draft-08 (add the directive `protocol draft-08`; draft-07 is the default)"
    );
    assert_eq!(
        k.err("public_urls https://hub.example.com"),
        "config.caddy:1: public_urls: needs protocol draft-08 (add the directive `protocol draft-08`; draft-07 is the default)"
    );
    // Switching back to draft-07 after draft-08 directives is refused too.
    let e = k.err(&d8("public_urls https://a\nprotocol draft-07"));
    assert!(
        e.starts_with("config.caddy:2: public_urls: needs protocol draft-08"),
        "{e}"
    );
}

#[test]
fn resource_identifier() {
    let k = Env::keys();
    let c = k.ok(&d8(
        "resource_identifier https://localhost/.well-known/mercure",
    ));
    assert_eq!(
        c.resource_identifier.as_deref(),
        Some("https://localhost/.well-known/mercure")
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // Kept as written: tokens' `aud` is compared with it exactly.
    let c = k.ok(&d8("resource_identifier HTTPS://Hub.Example.com"));
    assert_eq!(
        c.resource_identifier.as_deref(),
        Some("HTTPS://Hub.Example.com")
    );
    // Not https: accepted with a warning.
    let c = k.ok(&d8(
        "resource_identifier http://localhost:3000/.well-known/mercure",
    ));
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0].starts_with("config.caddy line 2: the resource identifier \"http://localhost:3000/.well-known/mercure\" does not use https"),
        "{:?}",
        c.warnings
    );
    // An unset placeholder: ignored with a warning (derived per request).
    let c = k.ok(&d8("resource_identifier {env.UNSET}"));
    assert_eq!(c.resource_identifier, None);
    assert!(
        c.warnings[0].contains("resource_identifier is empty"),
        "{:?}",
        c.warnings
    );
    for (value, needle) in [
        (
            "/.well-known/mercure",
            "expected an absolute URL (e.g. https://hub.example.com/.well-known/mercure), got \"/.well-known/mercure\"",
        ),
        ("urn:example:hub", "expected an absolute URL with a host"),
        (
            "https://hub.example.com/.well-known/mercure#x",
            "has a fragment",
        ),
        ("https://hub.example.com/#", "has a fragment"),
        ("https://", "expected an absolute URL"),
    ] {
        let e = k.err(&d8(&format!("resource_identifier \"{value}\"")));
        assert!(
            e.starts_with("config.caddy:2: resource_identifier: "),
            "{e}"
        );
        assert!(e.contains(needle), "{value:?}: {e}");
    }
    assert_eq!(
        k.err(&d8("resource_identifier")),
        "config.caddy:2: resource_identifier: missing argument; usage: resource_identifier <url>"
    );
    assert_eq!(
        k.err(&d8("resource_identifier https://a https://b")),
        "config.caddy:2: resource_identifier: unexpected argument \"https://b\"; usage: resource_identifier <url>"
    );
}

#[test]
fn public_urls() {
    let k = Env::keys();
    let c = k.ok(&d8(
        "public_urls https://hub.example.com HTTP://LocalHost:3000 https://hub.example.com:443 https://[::1]:8443",
    ));
    // Stored as origins: lowercase, default port left out, duplicates dropped.
    assert_eq!(
        c.public_urls,
        strings(&[
            "https://hub.example.com",
            "http://localhost:3000",
            "https://[::1]:8443"
        ])
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // A trailing slash is fine; a path is ignored with a warning.
    let c = k.ok(&d8(
        "public_urls https://a.example/ https://b.example/.well-known/mercure",
    ));
    assert_eq!(
        c.public_urls,
        strings(&["https://a.example", "https://b.example"])
    );
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("only the scheme, host and port of \"https://b.example/.well-known/mercure\" are used (https://b.example)"),
        "{:?}",
        c.warnings
    );
    // A later list replaces an earlier one.
    assert_eq!(
        k.ok(&d8("public_urls https://a\npublic_urls https://b"))
            .public_urls,
        strings(&["https://b"])
    );
    for (value, needle) in [
        ("hub.example.com", "invalid URL \"hub.example.com\""),
        ("ftp://hub.example.com", "unsupported scheme \"ftp\""),
        ("ws://hub.example.com", "unsupported scheme \"ws\""),
        ("https://user:pw@hub.example.com", "user name or password"),
        ("https://", "invalid URL"),
        ("https://hub.example.com:99999", "invalid URL"),
    ] {
        let e = k.err(&d8(&format!("public_urls https://ok.example {value}")));
        assert!(e.starts_with("config.caddy:2: public_urls: "), "{e}");
        assert!(e.contains(needle), "{value:?}: {e}");
    }
    assert_eq!(
        k.err(&d8("public_urls")),
        "config.caddy:2: public_urls: missing argument; usage: public_urls <url>..."
    );
}

#[test]
fn max_request_body_size() {
    let size = |protocol: &str, value: &str| {
        Env::keys()
            .ok(&format!(
                "protocol {protocol}\nmax_request_body_size {value}"
            ))
            .max_request_body_size
    };
    for protocol in ["draft-07", "draft-08"] {
        assert_eq!(size(protocol, "1MiB"), Some(1_048_576));
        assert_eq!(size(protocol, "512KB"), Some(512_000));
        assert_eq!(size(protocol, "1MB"), Some(1_000_000));
        assert_eq!(size(protocol, "2048"), Some(2048));
        assert_eq!(size(protocol, "\"1.5 kib\""), Some(1536));
        // 0: no cap from the hub.
        assert_eq!(size(protocol, "0"), None);
        assert_eq!(size(protocol, "0MB"), None);
    }
    // Defaults: 10 MiB with draft-07 (as before), 1 MiB with draft-08.
    assert_eq!(
        Env::keys().load(None).unwrap().max_request_body_size,
        Some(DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT07)
    );
    assert_eq!(
        Env::keys().ok("protocol draft-08").max_request_body_size,
        Some(DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT08)
    );
    let k = Env::keys();
    assert_eq!(
        k.err("\nmax_request_body_size big"),
        "config.caddy:2: max_request_body_size: expected a size such as 1MiB, 512KB or 1048576 (bytes), got \"big\""
    );
    assert_eq!(
        k.err("max_request_body_size -1"),
        "config.caddy:1: max_request_body_size: expected a size such as 1MiB, 512KB or 1048576 (bytes), got \"-1\""
    );
    assert!(k.err("max_request_body_size 1MiBs").starts_with(
        "config.caddy:1: max_request_body_size: unknown size unit \"mibs\" in \"1MiBs\""
    ),);
    assert_eq!(
        k.err("max_request_body_size 100EiB"),
        "config.caddy:1: max_request_body_size: \"100EiB\" is too large"
    );
    assert_eq!(
        k.err("max_request_body_size"),
        "config.caddy:1: max_request_body_size: missing argument; usage: max_request_body_size <size>"
    );
    assert_eq!(
        k.err("max_request_body_size 1 MB"),
        "config.caddy:1: max_request_body_size: unexpected argument \"MB\"; usage: max_request_body_size <size>"
    );
}

#[test]
fn topic_matcher_cache() {
    for protocol in ["draft-07", "draft-08"] {
        let c = Env::keys().ok(&format!("protocol {protocol}\ntopic_matcher_cache 10"));
        assert_eq!(c.topic_selector_cache, 10);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }
    // Same field as topic_selector_cache: the last one wins.
    let k = Env::keys();
    assert_eq!(
        k.ok("topic_selector_cache 5\ntopic_matcher_cache 7")
            .topic_selector_cache,
        7
    );
    assert_eq!(k.ok("topic_matcher_cache -1").topic_selector_cache, 0);
    assert_eq!(k.ok("topic_matcher_cache 0").topic_selector_cache, 0);
    assert_eq!(
        k.err("topic_matcher_cache x"),
        "config.caddy:1: topic_matcher_cache: expected an integer, got \"x\""
    );
    // No deprecated shard count here.
    assert_eq!(
        k.err("topic_matcher_cache 1 2"),
        "config.caddy:1: topic_matcher_cache: unexpected argument \"2\"; usage: topic_matcher_cache <size>"
    );
}

#[test]
fn debugger_and_playground_are_not_implemented() {
    for protocol in ["draft-07", "draft-08"] {
        let c = Env::keys().ok(&format!("protocol {protocol}\ndebugger\nplayground"));
        assert!(c.debugger && c.playground);
        // The playground's implied settings are not applied.
        assert!(!c.anonymous && !c.subscriptions);
        assert!(c.cors_origins.is_empty() && c.publish_origins.is_empty());
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert_eq!(
            c.warnings[0],
            "config.caddy line 2: the debugger directive is accepted for compatibility but not implemented; ignored"
        );
        assert!(
            c.warnings[1].starts_with("config.caddy line 3: the playground directive is accepted for compatibility but not implemented; ignored (nor are its implied settings"),
            "{:?}",
            c.warnings
        );
    }
    assert_eq!(
        Env::keys().err("debugger on"),
        "config.caddy:1: debugger: unexpected argument \"on\"; usage: debugger"
    );
}

#[test]
fn draft08_directives_everywhere() {
    // The whole draft-08 set through MERCURE_EXTRA_DIRECTIVES, as the conformance runs use it.
    let env = Env::new(&[
        ("MERCURE_PUBLISHER_JWT_KEY", KEY),
        ("MERCURE_SUBSCRIBER_JWT_KEY", KEY),
        ("MERCURE_TRUSTED_ISSUERS", LOCALHOST),
        (
            "MERCURE_EXTRA_DIRECTIVES",
            "protocol draft-08\nanonymous\nsubscriptions\nresource_identifier https://localhost/.well-known/mercure\npublic_urls https://localhost\nmax_request_body_size 512KiB\ntopic_matcher_cache 1000\ncookie_name mercure_access_token",
        ),
    ]);
    let c = env.load(None).unwrap();
    assert_eq!(c.protocol, Protocol::Draft08);
    assert_eq!(c.issuers, vec![issuer(LOCALHOST, hs256(KEY), hs256(KEY))]);
    assert!(c.anonymous && c.subscriptions);
    assert_eq!(
        c.resource_identifier.as_deref(),
        Some("https://localhost/.well-known/mercure")
    );
    assert_eq!(c.public_urls, strings(&["https://localhost"]));
    assert_eq!(c.max_request_body_size, Some(512 * 1024));
    assert_eq!(c.topic_selector_cache, 1000);
    assert_eq!(c.cookie_name, "mercure_access_token");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The file may add issuers; a typo inside a block is reported with its line.
    let c = env.ok("mercure {\n  issuer https://idp {\n    subscriber {\n      jwks_uri https://idp/jwks RS256\n    }\n  }\n}");
    assert_eq!(c.issuers.len(), 2);
    assert_eq!(
        env.err("mercure {\n  issuer https://idp {\n    subscriber {\n      jwks_uri https://idp/jwks RS256\n    }\n    autorization_server\n  }\n}"),
        "config.caddy:6: autorization_server: unknown issuer directive (did you mean \"authorization_server\"?); expected authorization_server, publisher or subscriber"
    );
}
