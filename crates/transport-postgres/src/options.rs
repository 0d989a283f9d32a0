//! `transport postgres { ... }` options: libpq-style connection URL, table names, retention,
//! presence, with precise errors.
//!
//! The connection is one `url` in libpq's URI form,
//! `postgres://user:pass@host:port/db?sslmode=...&sslrootcert=...&connect_timeout=...`. Most
//! query parameters are tokio-postgres's own (`connect_timeout`, `application_name`, `options`,
//! `keepalives`, `target_session_attrs`...); `sslmode` (all six libpq values) and
//! `sslrootcert` are ours, because verification runs in our rustls configuration. The
//! transport's own options (`table`, `schema`, `max_length`, `max_age`, `presence_timeout`)
//! may be written as directives or as query parameters of the URL, which is how a legacy DSN
//! (`MERCURE_TRANSPORT_URL=postgres://...`, arriving as one `url` option) carries them. Later
//! options override earlier ones.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use quicksilver_hub::duration::format_duration;
use quicksilver_hub::transport_options::{
    location, one_value, parse_optional_duration, parse_presence_timeout, unknown_option,
};

use crate::error::PostgresTransportError;

/// The updates table when no `table` is given.
pub const DEFAULT_TABLE: &str = "mercure_updates";

/// The schema when no `schema` is given.
pub const DEFAULT_SCHEMA: &str = "public";

/// Updates kept when no `max_length` is given: all of them. PostgreSQL keeps the log on disk,
/// and the table is meant to be queried as an event store (as the reference's PostgreSQL
/// transport does, which stores every event permanently); bound it with `max_length` or
/// `max_age` when it should not grow forever.
pub const DEFAULT_MAX_LENGTH: u64 = 0;

pub use quicksilver_hub::transport_options::MIN_PRESENCE_TIMEOUT;

/// The longest table name: the derived names (`<table>_subscribers`, `<table>_published_at`...)
/// must fit PostgreSQL's 63-byte identifiers.
pub const MAX_TABLE_LEN: usize = 48;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1), which also bounds the NOTIFY channel.
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// The option names, for error messages.
pub const OPTION_NAMES: &[&str] = &[
    "url",
    "table",
    "schema",
    "max_length",
    "max_age",
    "presence_timeout",
];

/// libpq's `sslmode`, with its meaning kept: `prefer` and `require` encrypt without checking
/// the certificate, `verify-ca` checks the chain, `verify-full` the chain and the host name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// Tried like `prefer` (rustls can't start plain and upgrade later).
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Option<SslMode> {
        Some(match v {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Whether the server's certificate chain is checked.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Where trusted root certificates come from for `verify-ca` / `verify-full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// The operating system's store (`sslrootcert=system`, or no `sslrootcert`).
    System,
    /// A PEM file (`sslrootcert=/path/root.crt`).
    File(PathBuf),
}

/// The validated options of `transport postgres`.
#[derive(Clone, PartialEq)]
pub struct PostgresOptions {
    /// The connection settings (host, port, user, password, database, timeouts...).
    pub connection: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub root_certs: RootCerts,
    /// The schema holding the tables.
    pub schema: String,
    /// The updates table; presence uses `<table>_nodes` and `<table>_subscribers`.
    pub table: String,
    /// Keep the updates among the last N sequence numbers; 0 keeps everything.
    pub max_length: u64,
    /// Delete updates published longer ago than this.
    pub max_age: Option<Duration>,
    /// How long a silent node's subscriptions stay listed; the hub's heartbeat period is a
    /// third of it.
    pub presence_timeout: Duration,
}

impl fmt::Debug for PostgresOptions {
    /// tokio-postgres's `Config` already hides the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("connection", &self.connection)
            .field("ssl_mode", &self.ssl_mode)
            .field("root_certs", &self.root_certs)
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("max_length", &self.max_length)
            .field("max_age", &self.max_age)
            .field("presence_timeout", &self.presence_timeout)
            .finish()
    }
}

impl PostgresOptions {
    /// Options for a connection URL, every other option at its default.
    pub fn from_url(url: &str) -> Result<PostgresOptions, PostgresTransportError> {
        let args = vec![url.to_owned()];
        from_options([("url", args.as_slice(), 0, "url")])
    }

    /// A one-line description for the start-up log (no secrets), e.g.
    /// `postgres (127.0.0.1:5432 db mercure, sslmode prefer, table public.mercure_updates, ...)`.
    pub fn describe(&self) -> String {
        use tokio_postgres::config::Host;
        let ports = self.connection.get_ports();
        let hosts: Vec<String> = self
            .connection
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports
                    .get(i)
                    .or_else(|| ports.first())
                    .copied()
                    .unwrap_or(5432);
                match h {
                    Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                    Host::Tcp(name) => format!("{name}:{port}"),
                    Host::Unix(path) => format!("{}", path.display()),
                }
            })
            .collect();
        let hosts = if hosts.is_empty() {
            "localhost:5432".to_owned()
        } else {
            hosts.join(",")
        };
        let max = match self.max_length {
            0 => "unlimited".to_owned(),
            n => n.to_string(),
        };
        format!(
            "postgres ({hosts} db {}{}, sslmode {}, table {}.{}, max_length {max}{}, presence_timeout {})",
            self.connection.get_dbname().unwrap_or("(user name)"),
            match self.connection.get_user() {
                Some(u) => format!(", user {u}"),
                None => String::new(),
            },
            self.ssl_mode.as_str(),
            self.schema,
            self.table,
            match self.max_age {
                Some(d) => format!(", max_age {}", format_duration(d)),
                None => String::new(),
            },
            format_duration(self.presence_timeout),
        )
    }
}

/// Validates `transport postgres` options: `(name, args, line, source)` as the configuration
/// gives them (`line` 0 for an environment variable). `url` is required.
pub fn from_options<'a, I>(opts: I) -> Result<PostgresOptions, PostgresTransportError>
where
    I: IntoIterator<Item = (&'a str, &'a [String], usize, &'a str)>,
{
    let mut connection = None;
    let mut ssl_mode = SslMode::Prefer;
    let mut root_certs = None;
    let mut schema = DEFAULT_SCHEMA.to_owned();
    let mut table = DEFAULT_TABLE.to_owned();
    let mut max_length = DEFAULT_MAX_LENGTH;
    let mut max_age = None;
    let mut presence_timeout = quicksilver_hub::presence_store::DEFAULT_PRESENCE_TIMEOUT;
    let mut first_at = None;
    for (name, args, line, source) in opts {
        let at = location(source, line);
        first_at.get_or_insert_with(|| at.clone());
        let err = |message: String| PostgresTransportError::Option {
            at: at.clone(),
            message,
        };
        let one = |what: &str| one_value(name, args, what).map_err(err);
        match name {
            "url" => {
                let v = one("a URL such as postgres://user:pass@host:5432/db?sslmode=require")?;
                let parsed = parse_url(v).map_err(|m| err(format!("url: {m}")))?;
                connection = Some(parsed.connection);
                ssl_mode = parsed.ssl_mode;
                root_certs = parsed.root_certs;
                for (k, v) in parsed.ours {
                    let bad = |m: String| err(format!("url: query parameter {k}: {m}"));
                    match k.as_str() {
                        "table" => table = check_table(&v).map_err(bad)?,
                        "schema" => schema = check_identifier(&v).map_err(bad)?,
                        "max_length" => max_length = parse_max_length(&v).map_err(bad)?,
                        "max_age" => max_age = parse_optional_duration(&v).map_err(bad)?,
                        "presence_timeout" => {
                            presence_timeout = parse_presence_timeout(&v).map_err(bad)?
                        }
                        _ => {}
                    }
                }
            }
            "table" => {
                table = check_table(one("a table name")?).map_err(|m| err(format!("table: {m}")))?
            }
            "schema" => {
                schema = check_identifier(one("a schema name")?)
                    .map_err(|m| err(format!("schema: {m}")))?
            }
            "max_length" => {
                max_length = parse_max_length(one("the number of updates to keep")?)
                    .map_err(|m| err(format!("max_length: {m}")))?
            }
            "max_age" => {
                max_age = parse_optional_duration(one("a duration such as 24h")?)
                    .map_err(|m| err(format!("max_age: {m}")))?
            }
            "presence_timeout" => {
                presence_timeout = parse_presence_timeout(one("a duration such as 30s")?)
                    .map_err(|m| err(format!("presence_timeout: {m}")))?
            }
            other => return Err(err(unknown_option(other, OPTION_NAMES))),
        }
    }
    let at = first_at.unwrap_or_else(|| "transport".to_owned());
    let Some(connection) = connection else {
        return Err(PostgresTransportError::Option {
            at,
            message: "url: missing; give the server as url postgres://user:pass@host:5432/db"
                .into(),
        });
    };
    if schema.len() + 1 + table.len() > MAX_IDENTIFIER_LEN {
        return Err(PostgresTransportError::Option {
            at,
            message: format!(
                "schema and table: \"{schema}.{table}\" names the NOTIFY channel and must fit {MAX_IDENTIFIER_LEN} bytes; use shorter names"
            ),
        });
    }
    let root_certs = match root_certs {
        Some(RootCerts::System) if !matches!(ssl_mode, SslMode::VerifyFull) => {
            return Err(PostgresTransportError::Option {
                at,
                message: format!(
                    "url: weak sslmode {:?} may not be used with sslrootcert=system (use verify-full), as in libpq",
                    ssl_mode.as_str()
                ),
            });
        }
        Some(r) => r,
        None => RootCerts::System,
    };
    Ok(PostgresOptions {
        connection,
        ssl_mode,
        root_certs,
        schema,
        table,
        max_length,
        max_age,
        presence_timeout,
    })
}

/// A `url` taken apart.
struct ParsedUrl {
    connection: tokio_postgres::Config,
    ssl_mode: SslMode,
    root_certs: Option<RootCerts>,
    /// The transport's own options found among the query parameters, in order.
    ours: Vec<(String, String)>,
}

/// Query parameters of the transport itself (not passed to the client library).
const OUR_PARAMETERS: &[&str] = &[
    "table",
    "schema",
    "max_length",
    "max_age",
    "presence_timeout",
];

/// libpq parameters tokio-postgres understands, passed through as written.
const CLIENT_PARAMETERS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

fn parse_url(input: &str) -> Result<ParsedUrl, String> {
    let Some((scheme, _)) = input.split_once("://") else {
        return Err(format!(
            "{input:?} is not a URL; expected postgres://user:pass@host:5432/db"
        ));
    };
    if !matches!(
        scheme.to_ascii_lowercase().as_str(),
        "postgres" | "postgresql"
    ) {
        return Err(format!(
            "unsupported scheme {scheme:?}; expected postgres:// or postgresql://"
        ));
    }
    // Multi-host URLs (`h1:5432,h2:5432`) are not URLs to the `url` crate: split the query by
    // hand and leave the rest to tokio-postgres.
    let (base, query) = match input.split_once('?') {
        Some((b, q)) => (b, q),
        None => (input, ""),
    };
    let mut ssl_mode = None;
    let mut root_certs = None;
    let mut ours = Vec::new();
    // Pairs tokio-postgres understands are passed through as written (libpq URIs are
    // percent-encoded; `+` is a plus sign, not a space).
    let mut passed: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_k, raw_v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (k, v) = (decode(raw_k), decode(raw_v));
        match k.as_str() {
            "sslmode" => {
                ssl_mode = Some(SslMode::parse(&v).ok_or_else(|| {
                    format!(
                        "query parameter sslmode: expected disable, allow, prefer, require, verify-ca or verify-full, got {v:?}"
                    )
                })?)
            }
            "sslrootcert" => {
                root_certs = Some(match v.as_str() {
                    "" => return Err("query parameter sslrootcert: empty path".into()),
                    "system" => RootCerts::System,
                    path => RootCerts::File(PathBuf::from(path)),
                })
            }
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" | "sslsni"
            | "sslcompression" | "ssl_min_protocol_version" | "ssl_max_protocol_version"
            | "requiressl" | "gssencmode" | "krbsrvname" | "gsslib" | "service" | "passfile"
            | "sslnegotiation" | "require_auth" | "requirepeer" | "replication" => {
                return Err(format!(
                    "query parameter {k} is not supported (supported: sslmode, sslrootcert, {}; and {})",
                    CLIENT_PARAMETERS.join(", "),
                    OUR_PARAMETERS.join(", ")
                ));
            }
            name if OUR_PARAMETERS.contains(&name) => ours.push((k, v)),
            name if CLIENT_PARAMETERS.contains(&name) => passed.push(pair),
            other => {
                return Err(format!(
                    "unknown query parameter {other:?} (supported: sslmode, sslrootcert, {}; and {})",
                    CLIENT_PARAMETERS.join(", "),
                    OUR_PARAMETERS.join(", ")
                ));
            }
        }
    }
    let rebuilt = if passed.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", passed.join("&"))
    };
    let mut connection = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| {
        // Never echo the URL: it may carry a password.
        match std::error::Error::source(&e) {
            Some(cause) => format!("invalid connection URL: {cause}"),
            None => format!("invalid connection URL: {e}"),
        }
    })?;
    // libpq: with a root certificate file, `require` verifies the chain like `verify-ca`.
    let ssl_mode = match (ssl_mode, &root_certs) {
        (Some(SslMode::Require), Some(RootCerts::File(_))) => SslMode::VerifyCa,
        (Some(m), _) => m,
        // libpq 16: sslrootcert=system makes verify-full the default.
        (None, Some(RootCerts::System)) => SslMode::VerifyFull,
        (None, _) => SslMode::Prefer,
    };
    connection.ssl_mode(match ssl_mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tokio_postgres::config::SslMode::Require
        }
    });
    if connection.get_application_name().is_none() {
        connection.application_name("quicksilver");
    }
    if connection.get_connect_timeout().is_none() {
        connection.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    Ok(ParsedUrl {
        connection,
        ssl_mode,
        root_certs,
        ours,
    })
}

/// The connection timeout when the URL gives no `connect_timeout`: a blackholed server must
/// turn into a 503 quickly, not hang publishers.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Plain identifiers only: letters, digits, underscores, not starting with a digit. Quoted in
/// SQL, so case is kept.
fn check_identifier(v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err("the name is empty".into());
    }
    if v.len() > MAX_IDENTIFIER_LEN {
        return Err(format!(
            "{v:?} is longer than PostgreSQL's {MAX_IDENTIFIER_LEN}-byte identifiers"
        ));
    }
    let mut chars = v.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "expected letters, digits and underscores, not starting with a digit, got {v:?}"
        ));
    }
    Ok(v.to_owned())
}

fn check_table(v: &str) -> Result<String, String> {
    let v = check_identifier(v)?;
    if v.len() > MAX_TABLE_LEN {
        return Err(format!(
            "{v:?} is longer than {MAX_TABLE_LEN} bytes (the derived names such as {v}_subscribers must fit PostgreSQL's {MAX_IDENTIFIER_LEN}-byte identifiers)"
        ));
    }
    Ok(v)
}

fn parse_max_length(v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| format!("expected the number of updates to keep (0 keeps all), got {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quicksilver_hub::transport_options::OptionList;

    fn opts(list: &[(&str, &[&str])]) -> Result<PostgresOptions, String> {
        from_options(OptionList::new(list).at("config.caddy", 12)).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let o = opts(&[("url", &["postgres://hub@db.internal/mercure"])]).unwrap();
        assert_eq!(o.table, "mercure_updates");
        assert_eq!(o.schema, "public");
        assert_eq!(o.max_length, 0);
        assert_eq!(o.max_age, None);
        assert_eq!(o.presence_timeout, Duration::from_secs(30));
        assert_eq!(o.ssl_mode, SslMode::Prefer);
        assert_eq!(o.root_certs, RootCerts::System);
        assert_eq!(o.connection.get_application_name(), Some("quicksilver"));
        assert_eq!(
            o.connection.get_connect_timeout(),
            Some(&DEFAULT_CONNECT_TIMEOUT)
        );
        assert_eq!(
            o.describe(),
            "postgres (db.internal:5432 db mercure, user hub, sslmode prefer, table public.mercure_updates, max_length unlimited, presence_timeout 30s)"
        );
    }

    #[test]
    fn every_option() {
        let o = opts(&[
            (
                "url",
                &[
                    "postgresql://us%40er:p%3Ass@db:5433/events?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=3&application_name=hub1&options=-c%20statement_timeout%3D5000",
                ],
            ),
            ("table", &["updates"]),
            ("schema", &["mercure"]),
            ("max_length", &["1000"]),
            ("max_age", &["24h"]),
            ("presence_timeout", &["1500ms"]),
        ])
        .unwrap();
        let c = &o.connection;
        assert_eq!(c.get_user(), Some("us@er"));
        assert_eq!(c.get_password(), Some(&b"p:ss"[..]));
        assert_eq!(c.get_dbname(), Some("events"));
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(c.get_application_name(), Some("hub1"));
        assert_eq!(c.get_options(), Some("-c statement_timeout=5000"));
        assert_eq!(o.ssl_mode, SslMode::VerifyFull);
        assert_eq!(o.root_certs, RootCerts::File("/etc/ca.pem".into()));
        assert_eq!(o.table, "updates");
        assert_eq!(o.schema, "mercure");
        assert_eq!(o.max_length, 1000);
        assert_eq!(o.max_age, Some(Duration::from_secs(86400)));
        assert_eq!(o.presence_timeout, Duration::from_millis(1500));
        assert!(!format!("{o:?}").contains("p:ss"));
        assert!(!o.describe().contains("p:ss"));
        assert!(o.describe().contains("max_age 1d"), "{}", o.describe());
    }

    #[test]
    fn legacy_dsn_carries_transport_options() {
        let o = opts(&[(
            "url",
            &["postgres://u:p@db/m?sslmode=disable&table=t1&schema=s1&max_length=50&max_age=1h&presence_timeout=2s"],
        )])
        .unwrap();
        assert_eq!(o.ssl_mode, SslMode::Disable);
        assert_eq!(
            (o.table.as_str(), o.schema.as_str(), o.max_length),
            ("t1", "s1", 50)
        );
        assert_eq!(o.max_age, Some(Duration::from_secs(3600)));
        assert_eq!(o.presence_timeout, Duration::from_secs(2));
        // Later directives override the URL's parameters.
        let o = opts(&[("url", &["postgres://db/m?table=t1"]), ("table", &["t2"])]).unwrap();
        assert_eq!(o.table, "t2");
    }

    #[test]
    fn libpq_ssl_rules() {
        let mode =
            |q: &str| opts(&[("url", &[&format!("postgres://db/m?{q}")])]).map(|o| o.ssl_mode);
        assert_eq!(mode("sslmode=require"), Ok(SslMode::Require));
        assert_eq!(
            mode("sslmode=require&sslrootcert=/ca.pem"),
            Ok(SslMode::VerifyCa)
        );
        assert_eq!(mode("sslrootcert=system"), Ok(SslMode::VerifyFull));
        assert_eq!(mode("sslmode=allow"), Ok(SslMode::Allow));
        let e = mode("sslmode=require&sslrootcert=system").unwrap_err();
        assert!(e.contains("weak sslmode \"require\""), "{e}");
        let o = opts(&[("url", &["postgres://db/m?sslmode=verify-ca"])]).unwrap();
        assert_eq!(
            o.connection.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }

    #[test]
    fn precise_errors() {
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a str);
        let url: &[&str] = &["postgres://db/m"];
        let cases: &[Case] = &[
            (
                &[("table", &["t"])],
                "config.caddy:12: transport postgres: url: missing; give the server as url postgres://",
            ),
            (
                &[("url", url), ("nope", &["1"])],
                "config.caddy:12: transport postgres: unknown option \"nope\" (valid options: url, table",
            ),
            (
                &[("url", url), ("max_length", &["many"])],
                "config.caddy:12: transport postgres: max_length: expected the number of updates to keep (0 keeps all), got \"many\"",
            ),
            (
                &[("url", url), ("table", &["a-b"])],
                "table: expected letters, digits and underscores",
            ),
            (
                &[("url", url), ("table", &["1abc"])],
                "table: expected letters, digits and underscores",
            ),
            (
                &[("url", url), ("table", &[&"x".repeat(49)])],
                "is longer than 48 bytes",
            ),
            (&[("url", url), ("schema", &[])], "schema: missing value"),
            (
                &[("url", url), ("presence_timeout", &["10ms"])],
                "presence_timeout: \"10ms\" is too short",
            ),
            (
                &[("url", url), ("max_age", &["soon"])],
                "max_age: expected a duration",
            ),
            (
                &[("url", &["http://h"])],
                "url: unsupported scheme \"http\"",
            ),
            (
                &[("url", &["db.internal"])],
                "url: \"db.internal\" is not a URL",
            ),
            (
                &[("url", &["postgres://h/m?foo=1"])],
                "url: unknown query parameter \"foo\" (supported: sslmode, sslrootcert, user",
            ),
            (
                &[("url", &["postgres://h/m?sslmode=strict"])],
                "url: query parameter sslmode: expected disable, allow, prefer, require, verify-ca or verify-full, got \"strict\"",
            ),
            (
                &[("url", &["postgres://h/m?sslcert=/c.pem"])],
                "url: query parameter sslcert is not supported",
            ),
            (
                &[("url", &["postgres://h/m?connect_timeout=soon"])],
                "url: invalid connection URL: invalid value for option `connect_timeout`",
            ),
            (
                &[("url", &["postgres://h/m?max_length=-1"])],
                "url: query parameter max_length: expected the number",
            ),
            (
                &[
                    ("url", url),
                    ("schema", &[&"s".repeat(30)]),
                    ("table", &[&"t".repeat(40)]),
                ],
                "must fit 63 bytes",
            ),
        ];
        for (input, expected) in cases {
            let e = opts(input).expect_err(expected);
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        }
    }

    #[test]
    fn errors_never_echo_the_password() {
        let e = opts(&[("url", &["postgres://u:hunter2@h:notaport/m"])]).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn env_sources_have_no_line() {
        let args = vec!["postgres://h/m?nope=1".to_string()];
        let e = from_options([("url", args.as_slice(), 0, "MERCURE_TRANSPORT_URL")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("MERCURE_TRANSPORT_URL: transport postgres: url:"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        let max_age = |v: &str| opts(&[("url", &["postgres://db/m"]), ("max_age", &[v])]);
        assert_eq!(max_age("0").map(|o| o.max_age), Ok(None));
        assert_eq!(max_age("0s").map(|o| o.max_age), Ok(None));
        assert_eq!(
            max_age("1h30m").map(|o| o.max_age),
            Ok(Some(Duration::from_secs(5400)))
        );
    }
}
