//! The loaded configuration: what the hub needs to start, already validated.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Listen address used when neither `SERVER_NAME` nor `server_name` is set, and for the
/// reference image's default `SERVER_NAME=localhost`: plain HTTP on the loopback interface,
/// a safe development default (the reference would serve HTTPS on 443 with a local CA).
pub const DEFAULT_LISTEN_HOST: &str = "127.0.0.1";
/// See [`DEFAULT_LISTEN_HOST`].
pub const DEFAULT_LISTEN_PORT: u16 = 3000;
/// Transport used when none is configured: the embedded persistent store (`transport bolt`,
/// history in `./quicksilver.db`, see docs/bolt.md), as the reference hub defaults to Bolt.
pub const DEFAULT_TRANSPORT: &str = "bolt";
/// Transport names accepted by `transport NAME`; each transport validates its own options.
pub const KNOWN_TRANSPORTS: &[&str] = &[
    "local", "bolt", "redis", "postgres", "kafka", "pulsar", "nats",
];
/// JWT algorithms accepted for static keys (those of the reference's JWT library that
/// Mercure deployments use).
pub const SUPPORTED_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384",
    "PS512", "EdDSA",
];
/// Default algorithm of a static key, as in the reference.
pub const DEFAULT_ALGORITHM: &str = "HS256";
/// Default authorization cookie name with protocol draft-07 (the reference v0.x's).
pub const DEFAULT_COOKIE_NAME: &str = "mercureAuthorization";
/// Default authorization cookie name with protocol draft-08 (the reference 1.0's). The
/// `__Secure-` prefix makes browsers accept the cookie only from secure origins.
pub const DEFAULT_COOKIE_NAME_DRAFT08: &str = "__Secure-mercure_access_token";
/// Default request body cap with protocol draft-07: 10 MiB, the form size above which the
/// reference v0.x (Go's form parser) stops reading a publish request.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT07: usize = 10 * 1024 * 1024;
/// Default request body cap (`max_request_body_size`) with protocol draft-08: 1 MiB, as in
/// the reference 1.0.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT08: usize = 1024 * 1024;
/// With protocol draft-08, the issuer that `MERCURE_PUBLISHER_JWT_KEY` and
/// `MERCURE_SUBSCRIBER_JWT_KEY` belong to when `MERCURE_TRUSTED_ISSUERS` is unset (the
/// reference image's default).
pub const DEFAULT_TRUSTED_ISSUER: &str = "https://localhost";
/// Environment variable naming the issuer of the environment's keys (draft-08).
pub const TRUSTED_ISSUERS_VAR: &str = "MERCURE_TRUSTED_ISSUERS";
/// Default SSE keep-alive interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(40);
/// Default maximum connection duration.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default per-write deadline.
pub const DEFAULT_DISPATCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default topic selector (match result) cache size, as in the reference.
pub const DEFAULT_TOPIC_SELECTOR_CACHE: usize = 100_000;
/// Default subscriber list cache size, as in the reference.
pub const DEFAULT_SUBSCRIBER_LIST_CACHE_SIZE: usize = 100_000;
/// Default hub name.
pub const DEFAULT_NAME: &str = "default";

/// The hub configuration, built by [`crate::load`] from the environment variables of the
/// reference Docker image, `MERCURE_EXTRA_DIRECTIVES` and the `--config` file, in that order
/// (later settings override earlier ones).
///
/// `Debug` never prints key material (see [`KeySource`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to serve plain HTTP. From `SERVER_NAME` or the `server_name` directive (ours;
    /// in the reference this is the Caddy site address). Defaults to `127.0.0.1:3000`.
    ///
    /// Accepted: `:PORT` (all interfaces), `HOST:PORT`, `[IPV6]:PORT`, `http://HOST[:PORT]`
    /// (port 80 by default), and the bare `localhost` of the reference image, which means the
    /// default (with a note in `warnings`). Refused, since TLS is not supported yet: `https://`,
    /// a host without port or scheme (the reference would get a certificate for it) and port
    /// 443 without `http://`.
    pub listen: ListenAddr,
    /// Protocol version spoken on the wire: `protocol draft-07` (the default, what reference
    /// v0.24.2 implements) or `protocol draft-08` (Mercure 1.0, the reference's main line).
    /// The directive is ours; it may be given in `MERCURE_EXTRA_DIRECTIVES` or the file.
    ///
    /// It decides how keys are configured: draft-07 uses [`Config::publisher`] /
    /// [`Config::subscriber`], draft-08 uses [`Config::issuers`] (the other side is always
    /// empty), and it changes the defaults of `cookie_name` and `max_request_body_size`.
    pub protocol: Protocol,
    /// Hub name (`name` directive), used by health endpoints and metrics. Default `default`.
    pub name: String,
    /// Draft-07: how publisher JWTs are verified: `MERCURE_PUBLISHER_JWT_KEY`/`_ALG`,
    /// `publisher_jwt <key> [<alg>]` or `publisher_jwks_url <url>` (a JWKS URL takes
    /// precedence over a static key, whatever their order, as in the reference).
    /// With draft-07, always `Some` after a successful [`crate::load`]: the hub needs a
    /// publisher key. Always `None` with draft-08 (see [`Config::issuers`]).
    pub publisher: Option<KeySource>,
    /// Draft-07: how subscriber JWTs are verified (same sources as `publisher` with
    /// `SUBSCRIBER`/`subscriber_`). `None` when `anonymous` is set, and always with draft-08.
    pub subscriber: Option<KeySource>,
    /// Draft-08: the trusted token issuers (the token's `iss` selects one), each with its own
    /// keys per role, in configuration order. Empty with draft-07.
    ///
    /// Sources: `issuer <id> { ... }` blocks, and the environment: `MERCURE_PUBLISHER_JWT_KEY`
    /// / `_ALG` and `MERCURE_SUBSCRIBER_JWT_KEY` / `_ALG` are the keys of the issuer named by
    /// `MERCURE_TRUSTED_ISSUERS` (default `https://localhost`), listed first, as the
    /// reference image's Caddyfile declares it. An `issuer` block with that same identifier
    /// replaces the environment's issuer as a whole (directives override the environment; a
    /// warning says so). Two `issuer` blocks with the same identifier are an error.
    ///
    /// After a successful [`crate::load`] with draft-08, some issuer has a publisher key,
    /// and some issuer has a subscriber key unless `anonymous` is set; every issuer has at
    /// least one of the two.
    pub issuers: Vec<IssuerConfig>,
    /// Draft-08 `resource_identifier <url>`: the pinned resource identifier (the token `aud`
    /// the hub requires, and the `resource` of its protected resource metadata), as written.
    /// Absolute, with a host, without fragment (a warning when not `https`). `None`: derived
    /// from each request. Refused with draft-07.
    pub resource_identifier: Option<String>,
    /// Draft-08 `public_urls <url>...`: the only public origins the hub answers for (others
    /// get 421). Each is stored as its origin `scheme://host[:port]` (`http` or `https`,
    /// lowercase, default port left out); a path is ignored with a warning. Empty: any
    /// origin. Refused with draft-07.
    pub public_urls: Vec<String>,
    /// `max_request_body_size <size>`: the largest publish (and draft-08 `QUERY`) request
    /// body the hub reads, in bytes; `None` (written `0`) lets the hub read any size.
    /// Sizes are written `1MiB`, `512KB`, `1MB`, `1.5 MB` or in bytes (`1048576`); units are
    /// case-insensitive, `K`/`KB` = 1000 and `Ki`/`KiB` = 1024 and so on up to exa.
    /// Default 1 MiB with draft-08, 10 MiB with draft-07.
    pub max_request_body_size: Option<usize>,
    /// `anonymous`: allow subscribers without a JWT (they only receive public updates).
    pub anonymous: bool,
    /// `subscriptions`: publish subscription events and expose the subscriptions API.
    pub subscriptions: bool,
    /// `ui`: the reference's debugging UI. Accepted for compatibility, not implemented
    /// (a warning is recorded in `warnings`).
    pub ui: bool,
    /// `demo`: the reference's UI + demo endpoints. Accepted for compatibility, not
    /// implemented (a warning is recorded in `warnings`).
    pub demo: bool,
    /// `debugger`: the reference 1.0's debugging UI. Accepted, not implemented (warning).
    pub debugger: bool,
    /// `playground`: the reference 1.0's insecure playground. Accepted, not implemented
    /// (warning); unlike the reference it changes no other setting (`anonymous`,
    /// `subscriptions`, origins, cookie name).
    pub playground: bool,
    /// `heartbeat <duration>`: SSE keep-alive interval; `None` (written `0s` or `0`) disables.
    /// Default 40 s. Durations use Go syntax plus Caddy's `d` unit (`40s`, `1m30s`, `1.5h`, `1d`).
    pub heartbeat: Option<Duration>,
    /// `write_timeout <duration>`: maximum duration of a subscription connection; `None`
    /// disables. Default 600 s.
    pub write_timeout: Option<Duration>,
    /// `dispatch_timeout <duration>`: deadline for writing one update to one subscriber;
    /// `None` disables. Default 5 s.
    pub dispatch_timeout: Option<Duration>,
    /// `cors_origins <origin>...`: allowed CORS origins; empty = no CORS headers. Each is `*`,
    /// `null` or `scheme://host[:port]` (a `*` wildcard is allowed inside the host, as the
    /// reference's CORS library supports it), stored as written.
    pub cors_origins: Vec<String>,
    /// `publish_origins <origin>...`: origins allowed to publish with cookie authentication;
    /// same syntax as `cors_origins`.
    pub publish_origins: Vec<String>,
    /// `cookie_name <name>`: name of the authorization cookie. Default `mercureAuthorization`
    /// with draft-07, `__Secure-mercure_access_token` with draft-08.
    pub cookie_name: String,
    /// `protocol_version_compatibility 7`: the reference's compatibility switch; only `7` is
    /// accepted (as in v0.24.2), and only with draft-07 (the draft-08 compatibility mode of
    /// the reference is not implemented: refused).
    pub protocol_version_compatibility: Option<u8>,
    /// The transport (history/fan-out backend) and its options, from `transport NAME {...}`,
    /// the deprecated `transport_url <dsn>` or `MERCURE_TRANSPORT_URL`. Default: `bolt`.
    pub transport: TransportConfig,
    /// `topic_selector_cache <size> [<shard count>]`: entries of the topic match cache; `0`
    /// disables it (written `0` or a negative number, e.g. the documented `-1`). The optional
    /// second argument is the reference's deprecated shard count: accepted and ignored, and
    /// the first argument is the total size, exactly as v0.24.2's Caddyfile parser does.
    /// `topic_matcher_cache <size>` (the reference 1.0's name) sets it too, with either
    /// protocol. Default 100000.
    pub topic_selector_cache: usize,
    /// `subscriber_list_cache_size <n>`: entries of the subscriber list cache, `0` =
    /// unbounded (as in the reference). Default 100000.
    pub subscriber_list_cache_size: usize,
    /// Non-fatal notes for the operator (deprecated directives, accepted-but-unimplemented
    /// features, keys shadowed by a JWKS URL...). The binary logs them as warnings.
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// Every default, with no keys (so not loadable as is: [`crate::load`] requires a
    /// publisher key). Handy for tests of other crates.
    fn default() -> Self {
        Config {
            listen: ListenAddr::default(),
            protocol: Protocol::Draft07,
            name: DEFAULT_NAME.to_owned(),
            publisher: None,
            subscriber: None,
            issuers: Vec::new(),
            resource_identifier: None,
            public_urls: Vec::new(),
            max_request_body_size: Some(DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT07),
            anonymous: false,
            subscriptions: false,
            ui: false,
            demo: false,
            debugger: false,
            playground: false,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            dispatch_timeout: Some(DEFAULT_DISPATCH_TIMEOUT),
            cors_origins: Vec::new(),
            publish_origins: Vec::new(),
            cookie_name: DEFAULT_COOKIE_NAME.to_owned(),
            protocol_version_compatibility: None,
            transport: TransportConfig::default(),
            topic_selector_cache: DEFAULT_TOPIC_SELECTOR_CACHE,
            subscriber_list_cache_size: DEFAULT_SUBSCRIBER_LIST_CACHE_SIZE,
            warnings: Vec::new(),
        }
    }
}

/// The Mercure protocol version spoken by the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// draft-07, as implemented by the reference hub v0.24.2.
    #[default]
    Draft07,
    /// draft-08 / Mercure 1.0, as implemented by the reference hub's main line (v1.0 alphas).
    Draft08,
}

impl Protocol {
    /// The authorization cookie name used when `cookie_name` is not set.
    #[must_use]
    pub fn default_cookie_name(self) -> &'static str {
        match self {
            Protocol::Draft07 => DEFAULT_COOKIE_NAME,
            Protocol::Draft08 => DEFAULT_COOKIE_NAME_DRAFT08,
        }
    }

    /// The request body cap used when `max_request_body_size` is not set.
    #[must_use]
    pub fn default_max_request_body_size(self) -> usize {
        match self {
            Protocol::Draft07 => DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT07,
            Protocol::Draft08 => DEFAULT_MAX_REQUEST_BODY_SIZE_DRAFT08,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Draft07 => "draft-07",
            Protocol::Draft08 => "draft-08",
        })
    }
}

/// How the JWTs of one role (publisher or subscriber) are verified.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A shared secret (HS* algorithms) or a PEM public key (other algorithms). The pair has
    /// been validated: a PEM key never comes with an HS* algorithm and vice versa.
    Static {
        /// The secret or the PEM text, verbatim (newlines included).
        key: String,
        /// One of [`SUPPORTED_ALGORITHMS`].
        alg: String,
    },
    /// A JSON Web Key Set fetched from `https://`, `http://` or read from `file://`.
    Jwks {
        /// The URL as written.
        url: String,
        /// The algorithms a token may use, each one of [`SUPPORTED_ALGORITHMS`], in the
        /// order written (draft-08 `jwks_uri <url> <alg>...`). Empty: the verifier's default
        /// (with draft-07, whatever the keys allow; with draft-08, the asymmetric list of
        /// the reference).
        algs: Vec<String>,
    },
}

impl fmt::Debug for KeySource {
    // Keys end up in logs through `{:?}` of the whole config; never print the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Static { key, alg } => f
                .debug_struct("Static")
                .field("key", &format_args!("<redacted, {} bytes>", key.len()))
                .field("alg", alg)
                .finish(),
            KeySource::Jwks { url, algs } => f
                .debug_struct("Jwks")
                .field("url", url)
                .field("algs", algs)
                .finish(),
        }
    }
}

/// One trusted token issuer (draft-08 `issuer <id> { ... }`): tokens whose `iss` equals `id`
/// are verified with this issuer's keys only, per role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// The exact `iss` value of its tokens; never empty.
    pub id: String,
    /// Key for publisher tokens (`publisher { jwt ... | jwks_uri ... }`); `None`: this
    /// issuer's tokens cannot publish.
    pub publisher: Option<KeySource>,
    /// Key for subscriber tokens; `None`: this issuer's tokens cannot subscribe.
    pub subscriber: Option<KeySource>,
    /// `authorization_server`: list this issuer in the protected resource metadata's
    /// `authorization_servers` (leave off for self-issued tokens signed with a shared key).
    pub authorization_server: bool,
}

/// Which transport to run and its options, unvalidated: each transport checks its own
/// option names and values (and reports errors with [`TransportOption::line`] /
/// [`TransportOption::source`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// One of [`KNOWN_TRANSPORTS`].
    pub kind: String,
    /// Options in the order written. Legacy DSNs are translated into options too: `bolt`
    /// gets `path`, `size`, `cleanup_frequency` (0.3 when absent, the DSN default of the
    /// reference), `bucket_name` and any other query parameter; `local` gets its query
    /// parameters; network transports get a single `url` option holding the whole DSN.
    pub options: Vec<TransportOption>,
    /// Where the transport was configured, for error messages: `MERCURE_TRANSPORT_URL`,
    /// `config.caddy line 12`, `MERCURE_EXTRA_DIRECTIVES line 1` or `default`.
    pub origin: String,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            kind: DEFAULT_TRANSPORT.to_owned(),
            options: Vec::new(),
            origin: "default".to_owned(),
        }
    }
}

impl TransportConfig {
    /// The first option with this name, if any.
    pub fn option(&self, name: &str) -> Option<&TransportOption> {
        self.options.iter().find(|o| o.name == name)
    }
}

/// One option of a transport: a line `name args...` inside `transport NAME { ... }`, or a
/// translated DSN component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOption {
    /// Option name, e.g. `path`.
    pub name: String,
    /// Arguments (placeholders expanded); empty for flags such as `tls`.
    pub args: Vec<String>,
    /// 1-based line in `source`; 0 when the source is an environment variable.
    pub line: usize,
    /// `MERCURE_EXTRA_DIRECTIVES`, the config file's name or `MERCURE_TRANSPORT_URL`.
    pub source: String,
}

/// What to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// Every interface (`SERVER_NAME=:3000`). See [`ListenAddr::socket_addrs`].
    AllInterfaces,
    /// One IP address.
    Ip(IpAddr),
    /// A host name, to be resolved at bind time (e.g. `localhost:3000`); every resolved
    /// address should be bound.
    Hostname(String),
}

/// The plain-HTTP listen address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// The host as configured, without IPv6 brackets; empty for all interfaces. Used for
    /// display.
    pub host: String,
    /// TCP port (0 lets the OS choose, handy for tests).
    pub port: u16,
    /// What to bind.
    pub bind: Bind,
}

impl Default for ListenAddr {
    fn default() -> Self {
        ListenAddr {
            host: DEFAULT_LISTEN_HOST.to_owned(),
            port: DEFAULT_LISTEN_PORT,
            bind: Bind::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        }
    }
}

impl ListenAddr {
    /// `http://host:port` (IPv6 in brackets; `http://:port` for all interfaces, the way Caddy
    /// writes such a site address).
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    /// Socket addresses for [`Bind::AllInterfaces`] and [`Bind::Ip`]; empty for
    /// [`Bind::Hostname`], which needs a DNS lookup of `host` at bind time.
    ///
    /// For all interfaces this returns `[::]:port` then `0.0.0.0:port`, *in order of
    /// preference, not to be bound together*: `[::]` is dual stack on Linux/macOS/Windows
    /// defaults (IPv4 clients arrive as mapped addresses) and binding `0.0.0.0` as well would
    /// fail with "address in use"; fall back to `0.0.0.0` when IPv6 is unavailable.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        match &self.bind {
            Bind::AllInterfaces => vec![
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port),
            ],
            Bind::Ip(ip) => vec![SocketAddr::new(*ip, self.port)],
            Bind::Hostname(_) => Vec::new(),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}
