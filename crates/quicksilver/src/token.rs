//! `quicksilver token`: mints a JWT for testing and scripting, like the reference's
//! `mercure-token` command. Draft-07 (the default) signs a token with the `mercure` claim;
//! `--protocol draft-08` signs an RFC 9068 access token (`typ: at+jwt`, `iss`, `aud`,
//! `authorization_details`) for a hub running `protocol draft-08`.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use quicksilver_auth::{AccessMintOptions, Grant, MintOptions, mint, mint_access};

/// The issuer a draft-08 hub trusts by default (`MERCURE_TRUSTED_ISSUERS`, as the reference image).
const DEFAULT_ISSUER: &str = "https://localhost";
/// The resource identifier of a hub served as https://localhost.
const DEFAULT_AUDIENCE: &str = "https://localhost/.well-known/mercure";
/// Draft-08 tokens must expire; short-lived by default, like the reference's command.
const DEFAULT_ACCESS_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// Mercure v0.x: a JWT with the `mercure` claim.
    #[value(name = "draft-07")]
    Draft07,
    /// Mercure 1.0: an RFC 9068 access token with `authorization_details`.
    #[value(name = "draft-08")]
    Draft08,
}

#[derive(Args)]
#[command(after_help = "Examples:
  quicksilver token --publish '*' --subscribe 'https://example.com/books/{id}'
  quicksilver token --protocol draft-08 --publish '*' --subscribe-urlpattern 'https://example.com/books/:id'
  quicksilver token --protocol draft-08 --iss https://auth.example.com \\
      --aud https://hub.example.com/.well-known/mercure --key @issuer-private.pem --alg ES256 --kid k1 \\
      --subscribe https://example.com/users/42 --payload '{\"user\":42}'")]
pub struct TokenArgs {
    /// Token flavour: draft-07 (the `mercure` claim) or draft-08 (an RFC 9068 access token).
    #[arg(long, value_enum, default_value_t = Protocol::Draft07)]
    protocol: Protocol,
    /// Grant publishing (repeatable; `*` for all). Draft-07: a topic selector (exact or URI
    /// template); draft-08: an exact topic matcher.
    #[arg(long = "publish", value_name = "SELECTOR")]
    publish: Vec<String>,
    /// Grant receiving private updates (repeatable; `*` for all). Draft-07: a topic selector;
    /// draft-08: an exact topic matcher.
    #[arg(long = "subscribe", value_name = "SELECTOR")]
    subscribe: Vec<String>,
    /// Draft-08: grant publishing on topics matching a URL pattern (repeatable).
    #[arg(long = "publish-urlpattern", value_name = "PATTERN")]
    publish_urlpattern: Vec<String>,
    /// Draft-08: grant receiving private updates of topics matching a URL pattern (repeatable).
    #[arg(long = "subscribe-urlpattern", value_name = "PATTERN")]
    subscribe_urlpattern: Vec<String>,
    /// Subscriber payload, as JSON. Draft-07: the `mercure.payload` claim; draft-08: the
    /// `payload` of the subscribe grant.
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,
    /// Lifetime, e.g. `1h` or `30m` (sets `exp`). Draft-07: no `exp` when absent; draft-08:
    /// defaults to 1h (draft-08 tokens must expire).
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// Draft-08: the `iss` claim, a trusted issuer of the hub [default: https://localhost].
    #[arg(long, value_name = "ISSUER")]
    iss: Option<String>,
    /// Draft-08: the `aud` claim, the hub's resource identifier (repeatable)
    /// [default: https://localhost/.well-known/mercure].
    #[arg(long, value_name = "URL")]
    aud: Vec<String>,
    /// Draft-08: the `sub` claim (omitted when absent).
    #[arg(long, value_name = "SUBJECT")]
    sub: Option<String>,
    /// Draft-08: the `client_id` claim (omitted when absent).
    #[arg(long = "client-id", value_name = "ID")]
    client_id: Option<String>,
    /// Signing key: an HMAC secret or a PEM private key; `@FILE` reads it from a file, `@-` from
    /// stdin. Defaults to $MERCURE_PUBLISHER_JWT_KEY.
    #[arg(long, env = "MERCURE_PUBLISHER_JWT_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Signing algorithm (HS256 for secrets unless told otherwise; required for PEM keys, e.g.
    /// RS256, ES256, EdDSA).
    #[arg(long, default_value = "")]
    alg: String,
    /// The `kid` header (selects the key of a JWKS).
    #[arg(long)]
    kid: Option<String>,
}

pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    println!("{}", build(args)?);
    Ok(())
}

/// The signed token the arguments describe.
fn build(args: TokenArgs) -> anyhow::Result<String> {
    let key = match args.key.as_deref() {
        None | Some("") => bail!("no key: pass --key or set MERCURE_PUBLISHER_JWT_KEY"),
        Some("@-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the key from stdin")?;
            s
        }
        Some(k) => match k.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the key from {path}"))?,
            None => k.to_string(),
        },
    };
    let payload: Option<serde_json::Value> = match &args.payload {
        Some(p) => Some(serde_json::from_str(p).context("--payload is not valid JSON")?),
        None => None,
    };
    let ttl: Option<Duration> = match &args.ttl {
        Some(t) => {
            Some(quicksilver_config::parse_duration(t).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?)
        }
        None => None,
    };
    match args.protocol {
        Protocol::Draft07 => draft07(args, key, payload, ttl),
        Protocol::Draft08 => draft08(args, key, payload, ttl),
    }
}

fn draft07(
    args: TokenArgs,
    key: String,
    payload: Option<serde_json::Value>,
    ttl: Option<Duration>,
) -> anyhow::Result<String> {
    // Refused rather than ignored: a draft-07 token silently lacking the asked-for
    // issuer or grant would only fail later, at the hub, with a bare 401.
    for (given, flag) in [
        (!args.publish_urlpattern.is_empty(), "--publish-urlpattern"),
        (
            !args.subscribe_urlpattern.is_empty(),
            "--subscribe-urlpattern",
        ),
        (args.iss.is_some(), "--iss"),
        (!args.aud.is_empty(), "--aud"),
        (args.sub.is_some(), "--sub"),
        (args.client_id.is_some(), "--client-id"),
    ] {
        if given {
            bail!("{flag} only applies to draft-08 tokens: add --protocol draft-08");
        }
    }
    let opts = MintOptions {
        key,
        alg: args.alg,
        publish: (!args.publish.is_empty()).then_some(args.publish),
        subscribe: (!args.subscribe.is_empty()).then_some(args.subscribe),
        payload,
        ttl,
        kid: args.kid,
        extra_claims: Default::default(),
    };
    Ok(mint(&opts)?)
}

fn draft08(
    args: TokenArgs,
    key: String,
    payload: Option<serde_json::Value>,
    ttl: Option<Duration>,
) -> anyhow::Result<String> {
    let grants =
        |exact: Vec<String>, urlpattern: Vec<String>, payload: &Option<serde_json::Value>| {
            let exact = exact.into_iter().map(|p| (p, false));
            let patterns = urlpattern.into_iter().map(|p| (p, true));
            exact
                .chain(patterns)
                .map(|(pattern, urlpattern)| Grant {
                    pattern,
                    urlpattern,
                    payload: payload.clone(),
                })
                .collect::<Vec<_>>()
        };
    if args.iss.as_deref() == Some("") {
        bail!("--iss must not be empty");
    }
    if args.aud.iter().any(String::is_empty) {
        bail!("--aud must not be empty");
    }
    let publish = grants(args.publish, args.publish_urlpattern, &None);
    let subscribe = grants(args.subscribe, args.subscribe_urlpattern, &payload);
    if payload.is_some() && subscribe.is_empty() {
        bail!(
            "--payload is attached to the subscribe grant: add --subscribe or --subscribe-urlpattern"
        );
    }
    let opts = AccessMintOptions {
        key,
        alg: args.alg,
        issuer: args.iss.unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
        audience: if args.aud.is_empty() {
            vec![DEFAULT_AUDIENCE.to_owned()]
        } else {
            args.aud
        },
        subject: args.sub,
        client_id: args.client_id,
        publish,
        subscribe,
        ttl: Some(ttl.unwrap_or(DEFAULT_ACCESS_TTL)),
        kid: args.kid,
        extra_claims: Default::default(),
    };
    Ok(mint_access(&opts)?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use quicksilver_auth::{AuthError, Issuer, Issuers, KeySource, Role, Verifier};
    use serde_json::json;

    use super::*;

    const KEY: &str = "a-key-only-these-unit-tests-use-0123456789";

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TokenArgs,
    }

    fn build_from(argv: &[&str]) -> anyhow::Result<String> {
        let mut full = vec!["token", "--key", KEY];
        full.extend_from_slice(argv);
        build(Cli::try_parse_from(full)?.args)
    }

    /// Decodes part `index` of a compact JWS (base64url without padding, by
    /// hand: the binary has no base64 dependency of its own).
    fn part(token: &str, index: usize) -> serde_json::Value {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let raw = token.split('.').nth(index).expect("part");
        let (mut bits, mut n, mut bytes) = (0u32, 0u32, Vec::new());
        for c in raw.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                bytes.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        serde_json::from_slice(&bytes).expect("json")
    }

    async fn issuers() -> Issuers {
        let v = Verifier::new(KeySource::Static {
            key: KEY.to_owned(),
            alg: "HS256".to_owned(),
        })
        .await
        .expect("verifier");
        Issuers::new(vec![Issuer {
            id: DEFAULT_ISSUER.to_owned(),
            publisher: Some(v.clone()),
            subscriber: Some(v),
            authorization_server: false,
        }])
        .expect("issuers")
    }

    #[test]
    fn draft07_is_the_default_and_unchanged() {
        let token = build_from(&["--publish", "a", "--publish", "b"]).expect("token");
        assert_eq!(part(&token, 0), json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(part(&token, 1), json!({"mercure": {"publish": ["a", "b"]}}));
        // Deterministic without --ttl: the same token as an explicit --protocol draft-07.
        let explicit = build_from(&["--protocol", "draft-07", "--publish", "a", "--publish", "b"])
            .expect("token");
        assert_eq!(token, explicit);
    }

    #[test]
    fn draft08_only_flags_refused_for_draft07() {
        for flags in [
            &["--iss", "https://x"][..],
            &["--aud", "https://x"],
            &["--sub", "s"],
            &["--client-id", "c"],
            &["--publish-urlpattern", "/a/:b"],
            &["--subscribe-urlpattern", "/a/:b"],
        ] {
            let e = build_from(flags)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("--protocol draft-08"), "{flags:?}: {e}");
        }
    }

    #[tokio::test]
    async fn draft08_defaults_verify_against_the_default_issuer() {
        let token = build_from(&[
            "--protocol",
            "draft-08",
            "--publish",
            "*",
            "--subscribe",
            "https://example.com/a",
            "--subscribe-urlpattern",
            "https://example.com/books/:id",
            "--payload",
            r#"{"user":1}"#,
        ])
        .expect("token");
        assert_eq!(part(&token, 0), json!({"alg": "HS256", "typ": "at+jwt"}));
        let claims = part(&token, 1);
        assert_eq!(claims["iss"], DEFAULT_ISSUER);
        assert_eq!(claims["aud"], DEFAULT_AUDIENCE);
        assert!(claims.get("sub").is_none() && claims.get("client_id").is_none());

        let c = issuers()
            .await
            .verify(&token, Role::Subscriber, DEFAULT_AUDIENCE)
            .await
            .expect("valid token");
        let payload = Some(json!({"user": 1}));
        assert_eq!(
            c.publish,
            vec![Grant {
                pattern: "*".to_owned(),
                urlpattern: false,
                payload: None
            }]
        );
        assert_eq!(
            c.subscribe,
            vec![
                Grant {
                    pattern: "https://example.com/a".to_owned(),
                    urlpattern: false,
                    payload: payload.clone()
                },
                Grant {
                    pattern: "https://example.com/books/:id".to_owned(),
                    urlpattern: true,
                    payload
                },
            ]
        );
        // Default lifetime: one hour.
        let exp = claims["exp"].as_u64().expect("exp");
        let iat = claims["iat"].as_u64().expect("iat");
        assert!(exp.abs_diff(iat + 3600) <= 1, "{exp} {iat}");
    }

    #[tokio::test]
    async fn draft08_explicit_claims() {
        let token = build_from(&[
            "--protocol",
            "draft-08",
            "--iss",
            "https://auth.example",
            "--aud",
            "https://a",
            "--aud",
            "https://b",
            "--sub",
            "urn:user:1",
            "--client-id",
            "cli",
            "--kid",
            "k1",
            "--ttl",
            "5m",
            "--publish-urlpattern",
            "/x/:y",
        ])
        .expect("token");
        assert_eq!(
            part(&token, 0),
            json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
        );
        let claims = part(&token, 1);
        assert_eq!(claims["iss"], "https://auth.example");
        assert_eq!(claims["aud"], json!(["https://a", "https://b"]));
        assert_eq!(claims["sub"], "urn:user:1");
        assert_eq!(claims["client_id"], "cli");
        let (exp, iat) = (claims["exp"].as_u64(), claims["iat"].as_u64());
        assert!(matches!((exp, iat), (Some(e), Some(i)) if e.abs_diff(i + 300) <= 1));
        assert_eq!(
            claims["authorization_details"],
            json!([{"type": "https://mercure.rocks/authorization-detail", "actions": ["publish"],
                    "topics": [{"match": "/x/:y", "match_type": "urlpattern"}]}])
        );
        // The default issuer does not trust it.
        let e = issuers()
            .await
            .verify(&token, Role::Publisher, "https://a")
            .await
            .err();
        assert!(
            matches!(e, Some(AuthError::UntrustedIssuer { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn draft08_argument_errors() {
        for (flags, expected) in [
            (&["--payload", "{}"][..], "--subscribe"),
            (&["--iss", ""], "--iss"),
            (&["--aud", ""], "--aud"),
            (&["--alg", "ES512"], "ES512"),
        ] {
            let mut argv = vec!["--protocol", "draft-08"];
            argv.extend_from_slice(flags);
            let e = build_from(&argv)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(expected), "{flags:?}: {e}");
        }
        assert!(build_from(&["--protocol", "draft-09"]).is_err());
    }
}
