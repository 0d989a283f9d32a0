//! `quicksilver token`: mints a draft-07 JWT, like the reference's `mercure-token` command.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use quicksilver_auth::{MintOptions, mint};

#[derive(Args)]
pub struct TokenArgs {
    /// Topic selector the token may publish to (repeatable; `*` for all).
    #[arg(long = "publish", value_name = "SELECTOR")]
    publish: Vec<String>,
    /// Topic selector the token may receive private updates of (repeatable; `*` for all).
    #[arg(long = "subscribe", value_name = "SELECTOR")]
    subscribe: Vec<String>,
    /// The `mercure.payload` claim, as JSON.
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,
    /// Lifetime, e.g. `1h` or `30m` (sets `exp`); no `exp` when absent.
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// Signing key: an HMAC secret or a PEM private key; `@FILE` reads it from a file, `@-` from
    /// stdin. Defaults to $MERCURE_PUBLISHER_JWT_KEY.
    #[arg(long, env = "MERCURE_PUBLISHER_JWT_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Signing algorithm (HS256 for secrets unless told otherwise; required for PEM keys).
    #[arg(long, default_value = "")]
    alg: String,
    /// The `kid` header.
    #[arg(long)]
    kid: Option<String>,
}

pub fn token(args: TokenArgs) -> anyhow::Result<()> {
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
    let payload = match &args.payload {
        Some(p) => Some(serde_json::from_str(p).context("--payload is not valid JSON")?),
        None => None,
    };
    let ttl: Option<Duration> = match &args.ttl {
        Some(t) => {
            Some(quicksilver_config::parse_duration(t).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?)
        }
        None => None,
    };
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
    println!("{}", mint(&opts)?);
    Ok(())
}
