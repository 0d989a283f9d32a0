//! Configuration of the Quicksilver Mercure hub, read the way the reference hub
//! (dunglas/mercure v0.24.2 for protocol draft-07, its 1.0 line for draft-08) is configured
//! so that Quicksilver can replace it without rewriting deployments.
//!
//! Three layers are applied in order, each overriding the previous one:
//!
//! 1. the environment variables of the reference Docker image: `MERCURE_PUBLISHER_JWT_KEY` /
//!    `MERCURE_PUBLISHER_JWT_ALG`, `MERCURE_SUBSCRIBER_JWT_KEY` / `MERCURE_SUBSCRIBER_JWT_ALG`
//!    (algorithm default `HS256`), `MERCURE_TRANSPORT_URL` and `SERVER_NAME` (an empty variable
//!    counts as unset); with `protocol draft-08` the keys belong to the issuer named by
//!    `MERCURE_TRUSTED_ISSUERS` (default `https://localhost`);
//! 2. the `mercure` directives held in `MERCURE_EXTRA_DIRECTIVES` (one per line);
//! 3. the directives of the `--config` file, written either bare or inside `mercure { ... }`.
//!
//! Directives use the Caddyfile syntax (quotes, backticks, comments, blocks, `{$VAR:default}`
//! and `{env.VAR}` placeholders): see the `syntax` module for the exact rules, and
//! [`Config`] for every directive and its default. Unknown directives are errors (the
//! reference v0.x silently ignores them, which hides typos).
//!
//! The protocol (`protocol draft-07|draft-08`) can only be chosen by a directive, after the
//! environment has been read and possibly after protocol-specific directives, so everything
//! that depends on it (which key directives are allowed, how the environment's keys are
//! used, the defaults of `cookie_name` and `max_request_body_size`) is resolved once every
//! layer has been applied.
//!
//! Errors point at the variable or the `source:line` at fault; see [`ConfigError`].

mod config;
mod directives;
mod error;
mod issuer;
mod listen;
mod size;
mod syntax;
mod transport;

pub use config::{
    Bind, Config, DEFAULT_ALGORITHM, DEFAULT_COOKIE_NAME, DEFAULT_COOKIE_NAME_DRAFT08,
    DEFAULT_DISPATCH_TIMEOUT, DEFAULT_HEARTBEAT, DEFAULT_LISTEN_HOST, DEFAULT_LISTEN_PORT,
    DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT07, DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT08, DEFAULT_NAME,
    DEFAULT_SUBSCRIBER_LIST_CACHE_SIZE, DEFAULT_TOPIC_SELECTOR_CACHE, DEFAULT_TRANSPORT,
    DEFAULT_TRUSTED_ISSUER, DEFAULT_WRITE_TIMEOUT, IssuerConfig, KNOWN_TRANSPORTS, KeySource,
    ListenAddr, Protocol, SUPPORTED_ALGORITHMS, TRUSTED_ISSUERS_VAR, TransportConfig,
    TransportOption,
};
pub use directives::directive_names;
pub use error::ConfigError;
/// Go/Caddy durations (`40s`, `1m30s`, `2d`), shared with the transports' options.
pub use quicksilver_hub::duration::parse_duration;

/// Name under which errors and transport options from `MERCURE_EXTRA_DIRECTIVES` are reported.
pub const EXTRA_DIRECTIVES_VAR: &str = "MERCURE_EXTRA_DIRECTIVES";

/// Loads and validates the configuration.
///
/// `env` looks up an environment variable (the binary passes `|k| std::env::var(k).ok()`;
/// tests pass a fake environment). `config_file` is the `--config` file as
/// `(display name, contents)`; the display name prefixes error messages.
///
/// Fails on the first invalid setting, and when the result cannot run a hub: there must be
/// a publisher key, and a subscriber key unless `anonymous` is set (with draft-08: some
/// issuer with a publisher key, some issuer with a subscriber key unless `anonymous`).
pub fn load(
    env: &dyn Fn(&str) -> Option<String>,
    config_file: Option<(&str, &str)>,
) -> Result<Config, ConfigError> {
    let mut builder = directives::Builder::new(env);
    builder.apply_env()?;
    if let Some(extra) = builder.env_var(EXTRA_DIRECTIVES_VAR) {
        let nodes = syntax::parse(EXTRA_DIRECTIVES_VAR, &extra, env)?;
        builder.apply_nodes(EXTRA_DIRECTIVES_VAR, &nodes)?;
    }
    if let Some((name, contents)) = config_file {
        let nodes = syntax::parse(name, contents, env)?;
        builder.apply_nodes(name, &nodes)?;
    }
    builder.finish()
}

#[cfg(test)]
mod tests;
