//! `transport redis { ... }` options: the reference hub's names, our defaults, precise errors.
//!
//! The names are those documented for the reference's (closed) Redis transport: `url`,
//! `address`, `addresses`, `stream`, `username`, `password`, `tls`, `max_length`, `gob`, plus
//! our `presence_timeout`. A legacy DSN (`MERCURE_TRANSPORT_URL` / `transport_url`)
//! `redis://[user:pass@]host:port[/db]?stream=...&tls=1&max_len_approx=N` reaches us as one
//! `url` option; its query parameters are options too. As documented for the reference, `url`
//! overrides the connection options (`address(es)`, `username`, `password`, `tls`) wherever it
//! is written.

use std::fmt;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use quicksilver_hub::duration::format_duration;
use quicksilver_hub::transport_options::{
    location, one_value, parse_presence_timeout, unknown_option,
};

use crate::error::RedisTransportError;

/// The stream name when no `stream` is given (the reference's default).
pub const DEFAULT_STREAM: &str = "mercure";

/// Entries kept when no `max_length` is given. Bounded by default so a busy hub can't fill
/// Redis's memory; large enough that a client reconnecting after minutes of a busy hub still
/// resumes from its id. At ~1 KB per update that is roughly 100 MB of Redis memory.
pub const DEFAULT_MAX_LENGTH: u64 = 100_000;

/// Redis's port when an address has none.
pub const DEFAULT_PORT: u16 = 6379;

pub use quicksilver_hub::transport_options::MIN_PRESENCE_TIMEOUT;

/// The option names, for error messages.
pub const OPTION_NAMES: &[&str] = &[
    "url",
    "address",
    "addresses",
    "stream",
    "username",
    "password",
    "tls",
    "tls_ca",
    "max_length",
    "gob",
    "presence_timeout",
];

/// How updates are written to the stream. Reading accepts both, whatever is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// A JSON document per entry (the default; readable by any system).
    #[default]
    Json,
    /// MessagePack (the `gob` option; compact, not Go's gob).
    MessagePack,
}

impl Encoding {
    /// The value of the entry's `encoding` field.
    pub fn tag(self) -> &'static str {
        match self {
            Encoding::Json => "json",
            Encoding::MessagePack => "msgpack",
        }
    }
}

/// One server: host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The validated options of `transport redis`.
#[derive(Clone, PartialEq)]
pub struct RedisOptions {
    /// One address: a single server. Several: the seed nodes of a Redis Cluster.
    pub addresses: Vec<Address>,
    /// The logical database (single server only; a cluster has only database 0).
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tls: bool,
    /// A PEM file of CA certificates trusted for TLS instead of the system's roots.
    pub tls_ca: Option<std::path::PathBuf>,
    /// The stream name; every key of the transport is tagged `{stream}` (one hash slot).
    pub stream: String,
    /// Approximate cap on the stream's length (`MAXLEN ~`); 0 keeps every entry.
    pub max_length: u64,
    pub encoding: Encoding,
    /// How long a silent node's subscriptions stay listed; the hub's heartbeat period is a
    /// third of it.
    pub presence_timeout: Duration,
}

impl fmt::Debug for RedisOptions {
    /// Like the derived one, with the password hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("addresses", &self.addresses)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .field("tls_ca", &self.tls_ca)
            .field("stream", &self.stream)
            .field("max_length", &self.max_length)
            .field("encoding", &self.encoding)
            .field("presence_timeout", &self.presence_timeout)
            .finish()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            addresses: vec![Address {
                host: "127.0.0.1".to_owned(),
                port: DEFAULT_PORT,
            }],
            db: 0,
            username: None,
            password: None,
            tls: false,
            tls_ca: None,
            stream: DEFAULT_STREAM.to_owned(),
            max_length: DEFAULT_MAX_LENGTH,
            encoding: Encoding::Json,
            presence_timeout: quicksilver_hub::presence_store::DEFAULT_PRESENCE_TIMEOUT,
        }
    }
}

impl RedisOptions {
    /// Options for one server at `host:port`, every other option at its default.
    pub fn single(host: &str, port: u16) -> RedisOptions {
        RedisOptions {
            addresses: vec![Address {
                host: host.to_owned(),
                port,
            }],
            ..RedisOptions::default()
        }
    }

    /// Whether several addresses make this a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.addresses.len() > 1
    }

    /// A one-line description for the start-up log (no secrets), e.g.
    /// `redis (127.0.0.1:6379 db 0, stream mercure, max_length 100000, json, presence_timeout 30s)`.
    pub fn describe(&self) -> String {
        let addrs: Vec<String> = self.addresses.iter().map(|a| a.to_string()).collect();
        let target = if self.is_cluster() {
            format!("cluster {}", addrs.join(" "))
        } else {
            format!("{} db {}", addrs.join(" "), self.db)
        };
        let max = match self.max_length {
            0 => "unlimited".to_owned(),
            n => n.to_string(),
        };
        format!(
            "redis ({target}{}{}, stream {}, max_length {max}, {}, presence_timeout {})",
            if self.tls { ", tls" } else { "" },
            match &self.username {
                Some(u) => format!(", user {u}"),
                None => String::new(),
            },
            self.stream,
            self.encoding.tag(),
            format_duration(self.presence_timeout),
        )
    }
}

/// What a `url` option sets; applied after every other option, since `url` overrides them.
#[derive(Default)]
struct FromUrl {
    address: Option<Address>,
    db: i64,
    username: Option<String>,
    password: Option<String>,
    tls: bool,
}

/// Validates `transport redis` options: `(name, args, line, source)` as the configuration gives
/// them (`line` 0 for an environment variable). Later options override earlier ones, except
/// that `url` overrides the connection options wherever it is written.
pub fn from_options<'a, I>(opts: I) -> Result<RedisOptions, RedisTransportError>
where
    I: IntoIterator<Item = (&'a str, &'a [String], usize, &'a str)>,
{
    let mut out = RedisOptions::default();
    let mut url: Option<FromUrl> = None;
    for (name, args, line, source) in opts {
        let at = location(source, line);
        let err = |message: String| RedisTransportError::Option {
            at: at.clone(),
            message,
        };
        let one = |what: &str| one_value(name, args, what).map_err(err);
        let flag = || match args {
            [] => Ok(true),
            [v] => parse_bool(v).ok_or_else(|| {
                err(format!(
                    "{name}: expected no value or one of true/false/1/0, got {v:?}"
                ))
            }),
            _ => Err(err(format!(
                "{name}: expected no value or one of true/false/1/0, got {} values",
                args.len()
            ))),
        };
        match name {
            "url" => {
                let v = one("a URL such as redis://user:pass@host:6379/0")?;
                let parsed = parse_url(v, &mut out).map_err(|m| err(format!("url: {m}")))?;
                url = Some(parsed);
            }
            "address" => {
                let v = one("host:port, e.g. localhost:6379")?;
                let (a, tls) = parse_address(v).map_err(|m| err(format!("address: {m}")))?;
                out.addresses = vec![a];
                out.tls |= tls;
            }
            "addresses" => {
                if args.is_empty() {
                    return Err(err(
                        "addresses: missing value; expected one or more host:port (several make a Redis Cluster)".into(),
                    ));
                }
                out.addresses = Vec::with_capacity(args.len());
                for v in args {
                    let (a, tls) = parse_address(v).map_err(|m| err(format!("addresses: {m}")))?;
                    out.addresses.push(a);
                    out.tls |= tls;
                }
            }
            "stream" => {
                let v = one("a stream name, e.g. mercure")?;
                out.stream = check_stream(v).map_err(|m| err(format!("stream: {m}")))?;
            }
            "username" => out.username = Some(one("a user name")?.to_owned()),
            "password" => out.password = Some(one("a password")?.to_owned()),
            "tls" => out.tls = flag()?,
            "tls_ca" => {
                let v = one("a PEM file of CA certificates")?;
                if v.is_empty() {
                    return Err(err("tls_ca: the file name is empty".into()));
                }
                out.tls_ca = Some(v.into());
            }
            "gob" => {
                out.encoding = if flag()? {
                    Encoding::MessagePack
                } else {
                    Encoding::Json
                }
            }
            "max_length" => {
                let v = one("the approximate number of entries to keep, 0 for all")?;
                out.max_length =
                    parse_max_length(v).map_err(|m| err(format!("max_length: {m}")))?;
            }
            "presence_timeout" => {
                let v = one("a duration such as 30s")?;
                out.presence_timeout =
                    parse_presence_timeout(v).map_err(|m| err(format!("presence_timeout: {m}")))?;
            }
            other => return Err(err(unknown_option(other, OPTION_NAMES))),
        }
    }
    if let Some(u) = url {
        if let Some(a) = u.address {
            out.addresses = vec![a];
        }
        out.db = u.db;
        if u.username.is_some() {
            out.username = u.username;
        }
        if u.password.is_some() {
            out.password = u.password;
        }
        out.tls = u.tls;
    }
    if let (Some(ca), false) = (&out.tls_ca, out.tls) {
        return Err(RedisTransportError::Option {
            at: "transport redis".into(),
            message: format!(
                "tls_ca {} is set but TLS is off: add `tls` or use a rediss:// URL",
                ca.display()
            ),
        });
    }
    if out.is_cluster() && out.db != 0 {
        return Err(RedisTransportError::Option {
            at: "transport redis".into(),
            message: format!(
                "database {} was requested with several addresses (a Redis Cluster), but a cluster only has database 0",
                out.db
            ),
        });
    }
    Ok(out)
}

/// Parses `redis://[user[:pass]@]host[:port][/db][?query]` (or `rediss://` for TLS). Query
/// parameters are options of their own and are applied to `out` right away.
fn parse_url(input: &str, out: &mut RedisOptions) -> Result<FromUrl, String> {
    let url = url::Url::parse(input).map_err(|e| format!("{input:?} is not a valid URL: {e}"))?;
    let tls = match url.scheme() {
        "redis" | "valkey" => false,
        "rediss" | "valkeys" => true,
        other => {
            return Err(format!(
                "unsupported scheme {other:?}; expected redis:// or rediss:// (TLS)"
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{input:?} has no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let address = Address {
        host,
        port: url.port().unwrap_or(DEFAULT_PORT),
    };
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let username = Some(url.username()).filter(|u| !u.is_empty()).map(decode);
    let password = url.password().map(decode);
    let db =
        match url.path().trim_start_matches('/') {
            "" => 0,
            d => d.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                format!("the path must be a database number such as /0, got /{d}")
            })?,
        };
    let mut from = FromUrl {
        address: Some(address),
        db,
        username,
        password,
        tls,
    };
    for (k, v) in url.query_pairs() {
        let bad = |m: String| format!("query parameter {k}: {m}");
        match k.as_ref() {
            "stream" => out.stream = check_stream(&v).map_err(bad)?,
            "tls" | "ssl" => {
                from.tls = parse_bool(&v)
                    .ok_or_else(|| bad(format!("expected 1/0/true/false, got {v:?}")))?
            }
            "max_len_approx" | "max_length" => {
                out.max_length = parse_max_length(&v).map_err(bad)?
            }
            "gob" => {
                out.encoding = if parse_bool(&v)
                    .ok_or_else(|| bad(format!("expected 1/0/true/false, got {v:?}")))?
                {
                    Encoding::MessagePack
                } else {
                    Encoding::Json
                }
            }
            "presence_timeout" => out.presence_timeout = parse_presence_timeout(&v).map_err(bad)?,
            "db" => {
                from.db = v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad(format!("expected a database number, got {v:?}")))?
            }
            other => {
                return Err(format!(
                    "unknown query parameter {other:?} (valid: stream, tls, max_len_approx, gob, presence_timeout, db)"
                ));
            }
        }
    }
    Ok(from)
}

/// `host`, `host:port`, `[v6]:port`, or `redis://host:port` / `rediss://host:port` (the
/// latter turning TLS on); returns the address and whether the scheme asked for TLS.
fn parse_address(input: &str) -> Result<(Address, bool), String> {
    if let Some((scheme, rest)) = input.split_once("://") {
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "redis" | "valkey" => false,
            "rediss" | "valkeys" => true,
            other => {
                return Err(format!(
                    "unsupported scheme {other:?} in {input:?}; expected host:port"
                ));
            }
        };
        let hostport = rest.strip_suffix('/').unwrap_or(rest);
        if hostport.contains(['@', '/', '?']) {
            return Err(format!(
                "{input:?} carries credentials, a database or parameters: use the `url` option for a full URL, or `username`/`password`"
            ));
        }
        return parse_host_port(hostport).map(|a| (a, tls));
    }
    parse_host_port(input).map(|a| (a, false))
}

fn parse_host_port(input: &str) -> Result<Address, String> {
    if input == "caddy-storage-redis.alt" {
        return Err(
            "reusing Caddy's Redis storage connection is not supported: give the Redis address"
                .into(),
        );
    }
    let (host, port) = if let Some(rest) = input.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("unterminated IPv6 address in {input:?}"))?;
        match tail {
            "" => (h, None),
            t => match t.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("expected [host]:port, got {input:?}")),
            },
        }
    } else {
        match input.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => {
                return Err(format!(
                    "IPv6 addresses need brackets, e.g. [::1]:6379, got {input:?}"
                ));
            }
            None => (input, None),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {input:?}"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid port {p:?} in {input:?}"))?,
    };
    Ok(Address {
        host: host.to_owned(),
        port,
    })
}

/// Braces would break the `{stream}` hash tag that keeps every key in one cluster slot.
fn check_stream(v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err("the name is empty".into());
    }
    if v.contains(['{', '}']) {
        return Err(format!(
            "the name may not contain braces (keys are tagged {{name}} to share one cluster hash slot), got {v:?}"
        ));
    }
    Ok(v.to_owned())
}

fn parse_max_length(v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("expected the number of entries to keep (0 keeps all), got {v:?}"))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quicksilver_hub::transport_options::OptionList;

    fn opts(list: &[(&str, &[&str])]) -> Result<RedisOptions, String> {
        from_options(OptionList::new(list).at("config.caddy", 12)).map_err(|e| e.to_string())
    }

    fn addr(host: &str, port: u16) -> Address {
        Address {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn defaults() {
        let o = opts(&[]).unwrap();
        assert_eq!(o, RedisOptions::default());
        assert_eq!(o.stream, "mercure");
        assert_eq!(o.max_length, DEFAULT_MAX_LENGTH);
        assert_eq!(o.presence_timeout, Duration::from_secs(30));
        assert!(!o.is_cluster());
        assert_eq!(
            o.describe(),
            "redis (127.0.0.1:6379 db 0, stream mercure, max_length 100000, json, presence_timeout 30s)"
        );
    }

    #[test]
    fn every_option() {
        let o = opts(&[
            ("address", &["redis.internal:6380"]),
            ("stream", &["updates"]),
            ("username", &["hub"]),
            ("password", &["s3cret"]),
            ("tls", &[]),
            ("max_length", &["0"]),
            ("gob", &[]),
            ("presence_timeout", &["1500ms"]),
        ])
        .unwrap();
        assert_eq!(o.addresses, vec![addr("redis.internal", 6380)]);
        assert_eq!(o.stream, "updates");
        assert_eq!(o.username.as_deref(), Some("hub"));
        assert_eq!(o.password.as_deref(), Some("s3cret"));
        assert!(o.tls);
        assert_eq!(o.max_length, 0);
        assert_eq!(o.encoding, Encoding::MessagePack);
        assert_eq!(o.presence_timeout, Duration::from_millis(1500));
        assert!(!format!("{o:?}").contains("s3cret"));
        assert!(!o.describe().contains("s3cret"));
    }

    #[test]
    fn several_addresses_make_a_cluster() {
        let o = opts(&[("addresses", &["a:7000", "b", "[::1]:7002"])]).unwrap();
        assert!(o.is_cluster());
        assert_eq!(
            o.addresses,
            vec![addr("a", 7000), addr("b", 6379), addr("::1", 7002)]
        );
        assert!(o.describe().contains("cluster a:7000 b:6379 [::1]:7002"));
        let one = opts(&[("addresses", &["a:7000"])]).unwrap();
        assert!(!one.is_cluster());
    }

    #[test]
    fn addresses_may_be_written_as_urls() {
        let o = opts(&[("address", &["redis://r:6380"])]).unwrap();
        assert_eq!((o.addresses, o.tls), (vec![addr("r", 6380)], false));
        let o = opts(&[("addresses", &["rediss://a:7000/", "b:7001"])]).unwrap();
        assert_eq!(o.addresses, vec![addr("a", 7000), addr("b", 7001)]);
        assert!(o.tls);
    }

    #[test]
    fn legacy_dsn() {
        let o = opts(&[(
            "url",
            &["rediss://us%40er:p%3Ass@cache:6390/3?stream=s1&tls=1&max_len_approx=500"],
        )])
        .unwrap();
        assert_eq!(o.addresses, vec![addr("cache", 6390)]);
        assert_eq!(o.db, 3);
        assert_eq!(o.username.as_deref(), Some("us@er"));
        assert_eq!(o.password.as_deref(), Some("p:ss"));
        assert!(o.tls);
        assert_eq!(o.stream, "s1");
        assert_eq!(o.max_length, 500);
        let plain = opts(&[("url", &["redis://:pw@localhost?tls=0"])]).unwrap();
        assert_eq!(plain.addresses, vec![addr("localhost", 6379)]);
        assert_eq!(plain.username, None);
        assert_eq!(plain.password.as_deref(), Some("pw"));
        assert!(!plain.tls);
    }

    #[test]
    fn url_overrides_connection_options_wherever_written() {
        let o = opts(&[
            ("url", &["redis://u:p@h1:1111/2"]),
            ("address", &["h2:2222"]),
            ("password", &["other"]),
            ("stream", &["later"]),
        ])
        .unwrap();
        assert_eq!(o.addresses, vec![addr("h1", 1111)]);
        assert_eq!(o.password.as_deref(), Some("p"));
        assert_eq!(o.db, 2);
        assert_eq!(o.stream, "later");
    }

    #[test]
    fn precise_errors() {
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a str);
        let cases: &[Case] = &[
            (
                &[("nope", &["1"])],
                "config.caddy:12: transport redis: unknown option \"nope\" (valid options: url, address",
            ),
            (
                &[("max_length", &["many"])],
                "config.caddy:12: transport redis: max_length: expected the number of entries to keep (0 keeps all), got \"many\"",
            ),
            (
                &[("stream", &["a{b}"])],
                "transport redis: stream: the name may not contain braces",
            ),
            (&[("stream", &[])], "stream: missing value"),
            (
                &[("address", &["h:99999"])],
                "address: invalid port \"99999\"",
            ),
            (
                &[("address", &["redis://u:p@h"])],
                "use the `url` option for a full URL",
            ),
            (
                &[("address", &["http://h"])],
                "address: unsupported scheme \"http\"",
            ),
            (&[("addresses", &[])], "addresses: missing value"),
            (&[("tls", &["maybe"])], "tls: expected no value or one of"),
            (
                &[("presence_timeout", &["10ms"])],
                "presence_timeout: \"10ms\" is too short",
            ),
            (
                &[("presence_timeout", &["soon"])],
                "presence_timeout: expected a duration",
            ),
            (
                &[("url", &["http://h"])],
                "url: unsupported scheme \"http\"",
            ),
            (
                &[("url", &["redis://h/x"])],
                "url: the path must be a database number",
            ),
            (
                &[("url", &["redis://h?foo=1"])],
                "url: unknown query parameter \"foo\"",
            ),
            (
                &[("url", &["redis://h?max_len_approx=-1"])],
                "url: query parameter max_len_approx: expected the number",
            ),
        ];
        for (input, expected) in cases {
            let e = opts(input).expect_err(expected);
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        }
    }

    #[test]
    fn tls_ca_needs_tls() {
        let o = opts(&[("url", &["rediss://h:6380"]), ("tls_ca", &["/etc/ca.pem"])]).unwrap();
        assert_eq!(o.tls_ca, Some("/etc/ca.pem".into()));
        let o = opts(&[("tls_ca", &["ca.pem"]), ("address", &["h"]), ("tls", &[])]).unwrap();
        assert!(o.tls && o.tls_ca.is_some());
        let e = opts(&[("tls_ca", &["ca.pem"])]).unwrap_err();
        assert!(e.contains("tls_ca ca.pem is set but TLS is off"), "{e}");
        // `url` overrides `tls`: a redis:// URL turns it off again.
        let e = opts(&[
            ("tls", &[]),
            ("tls_ca", &["ca.pem"]),
            ("url", &["redis://h"]),
        ])
        .unwrap_err();
        assert!(e.contains("TLS is off"), "{e}");
        assert!(opts(&[("tls", &[]), ("tls_ca", &[""])]).is_err());
    }

    #[test]
    fn env_sources_have_no_line() {
        let args = vec!["redis://h?nope=1".to_string()];
        let e = from_options([("url", args.as_slice(), 0, "MERCURE_TRANSPORT_URL")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("MERCURE_TRANSPORT_URL: transport redis: url:"),
            "{e}"
        );
    }
}
