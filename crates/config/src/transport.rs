//! Legacy transport DSNs (`transport_url`, `MERCURE_TRANSPORT_URL`) translated into the
//! same shape as a `transport NAME { ... }` block, so transports only parse one format.

use percent_encoding::percent_decode_str;
use url::Url;

use crate::config::{TransportConfig, TransportOption};

/// The reference's DSN default for `cleanup_frequency` (its Caddy module defaults to 0
/// instead); made explicit so a translated DSN trims history exactly as before.
const BOLT_DSN_DEFAULT_CLEANUP_FREQUENCY: &str = "0.3";

/// Bolt query parameters the reference reads itself; for them an empty value means "default".
const BOLT_PARAMS: &[&str] = &["size", "cleanup_frequency", "bucket_name"];

/// Translates a DSN. `source`/`line` locate the options for the transport's own errors;
/// `origin` is what ends up in [`TransportConfig::origin`].
pub(crate) fn from_dsn(
    dsn: &str,
    source: &str,
    line: usize,
    origin: String,
) -> Result<TransportConfig, String> {
    let dsn = dsn.trim();
    let url = Url::parse(dsn).map_err(|e| {
        format!("invalid transport URL {dsn:?} ({e}); expected e.g. bolt:///var/lib/mercure.db or local://local")
    })?;
    let option = |name: &str, args: Vec<String>| TransportOption {
        name: name.to_owned(),
        args,
        line,
        source: source.to_owned(),
    };
    let mut options = Vec::new();
    let kind = match url.scheme() {
        "bolt" => {
            options.push(option("path", vec![bolt_path(&url)?]));
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            for param in BOLT_PARAMS {
                // Like Go's `Query().Get`: the first occurrence, empty meaning unset.
                let value = pairs
                    .iter()
                    .find(|(k, _)| k == param)
                    .map(|(_, v)| v.as_str());
                match value {
                    Some(v) if !v.is_empty() => options.push(option(param, vec![v.to_owned()])),
                    _ if *param == "cleanup_frequency" => options.push(option(
                        param,
                        vec![BOLT_DSN_DEFAULT_CLEANUP_FREQUENCY.to_owned()],
                    )),
                    _ => {}
                }
            }
            push_other_params(&pairs, BOLT_PARAMS, &option, &mut options);
            "bolt"
        }
        "local" => {
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            push_other_params(&pairs, &[], &option, &mut options);
            "local"
        }
        scheme => {
            let kind = match scheme {
                "redis" | "rediss" => "redis",
                "postgres" | "postgresql" => "postgres",
                "kafka" => "kafka",
                "pulsar" | "pulsar+ssl" => "pulsar",
                "nats" => "nats",
                _ => {
                    return Err(format!(
                        "unsupported transport URL scheme {scheme:?}; expected bolt://, local://, \
                         redis://, rediss://, postgres://, kafka://, pulsar:// or nats://"
                    ));
                }
            };
            // Network transports parse their DSN themselves (and it may hold credentials
            // that must not be re-serialized differently): pass it through verbatim.
            options.push(option("url", vec![dsn.to_owned()]));
            kind
        }
    };
    Ok(TransportConfig {
        kind: kind.to_owned(),
        options,
        origin,
    })
}

/// `bolt:///abs/path.db` → `/abs/path.db`; `bolt://relative.db` → `relative.db` (the host
/// part, as in the reference). The reference drops the host of `bolt://dir/file.db` and
/// uses `/file.db`, which no one means: we keep the relative `dir/file.db`.
fn bolt_path(url: &Url) -> Result<String, String> {
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| format!("the path of {:?} is not valid UTF-8", url.as_str()))
    };
    let host = decode(url.host_str().unwrap_or(""))?;
    let path = decode(url.path())?;
    let full = match (host.is_empty(), path.is_empty()) {
        (true, _) => path,
        (false, true) => host,
        (false, false) => format!("{host}{path}"),
    };
    if full.is_empty() || full == "/" {
        return Err(format!(
            "missing path in {:?}; expected e.g. bolt:///var/lib/mercure.db (absolute) or bolt://mercure.db (relative)",
            url.as_str()
        ));
    }
    Ok(full)
}

fn push_other_params(
    pairs: &[(String, String)],
    skip: &[&str],
    option: &dyn Fn(&str, Vec<String>) -> TransportOption,
    options: &mut Vec<TransportOption>,
) {
    for (name, value) in pairs {
        if skip.contains(&name.as_str()) {
            continue;
        }
        // `?tls` (no value) becomes a flag option, like `tls` alone on a line of a block.
        let args = if value.is_empty() {
            Vec::new()
        } else {
            vec![value.clone()]
        };
        options.push(option(name, args));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(t: &TransportConfig) -> Vec<(String, Vec<String>)> {
        t.options
            .iter()
            .map(|o| (o.name.clone(), o.args.clone()))
            .collect()
    }

    fn o(name: &str, args: &[&str]) -> (String, Vec<String>) {
        (
            name.to_owned(),
            args.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    fn dsn(s: &str) -> TransportConfig {
        match from_dsn(s, "ENV", 0, "ENV".to_owned()) {
            Ok(t) => t,
            Err(e) => panic!("{s:?} should translate: {e}"),
        }
    }

    #[test]
    fn bolt_absolute_with_params() {
        let t = dsn(
            "bolt:///var/run/mercure.db?size=100&cleanup_frequency=0.4&bucket_name=b&extra=1&tls",
        );
        assert_eq!(t.kind, "bolt");
        assert_eq!(
            opts(&t),
            vec![
                o("path", &["/var/run/mercure.db"]),
                o("size", &["100"]),
                o("cleanup_frequency", &["0.4"]),
                o("bucket_name", &["b"]),
                o("extra", &["1"]),
                o("tls", &[]),
            ]
        );
        assert!(t.options.iter().all(|o| o.source == "ENV" && o.line == 0));
        assert_eq!(t.origin, "ENV");
    }

    #[test]
    fn bolt_defaults_and_relative_paths() {
        let t = dsn("bolt://mercure.db");
        assert_eq!(
            opts(&t),
            vec![o("path", &["mercure.db"]), o("cleanup_frequency", &["0.3"])]
        );
        assert_eq!(
            dsn("bolt://data/mercure.db").options[0].args,
            vec!["data/mercure.db"]
        );
        assert_eq!(
            dsn("bolt:///my%20dir/m.db").options[0].args,
            vec!["/my dir/m.db"]
        );
        // Empty values mean "default" for the parameters the reference reads.
        let t = dsn("bolt:///m.db?size=&bucket_name=&cleanup_frequency=");
        assert_eq!(
            opts(&t),
            vec![o("path", &["/m.db"]), o("cleanup_frequency", &["0.3"])]
        );
        // First occurrence wins, as with Go's Query().Get.
        assert_eq!(dsn("bolt:///m.db?size=1&size=2").options[1].args, vec!["1"]);
    }

    #[test]
    fn bolt_without_path() {
        for bad in ["bolt://", "bolt:///", "bolt://?size=1"] {
            let e = from_dsn(bad, "ENV", 0, String::new()).unwrap_err();
            assert!(e.contains("missing path"), "{bad}: {e}");
        }
    }

    #[test]
    fn local() {
        for s in ["local://local", "local://", "local:"] {
            let t = dsn(s);
            assert_eq!((t.kind.as_str(), t.options.len()), ("local", 0), "{s}");
        }
        assert_eq!(
            opts(&dsn("local://local?size=10")),
            vec![o("size", &["10"])]
        );
    }

    #[test]
    fn network_transports_keep_the_whole_dsn() {
        for (s, kind) in [
            ("redis://user:pw@host:6379/0", "redis"),
            ("rediss://host", "redis"),
            ("postgres://u:p@db/mercure?sslmode=disable", "postgres"),
            ("postgresql://db/mercure", "postgres"),
            ("kafka://broker:9092?topic=x", "kafka"),
            ("pulsar://broker:6650", "pulsar"),
            ("nats://nats:4222", "nats"),
            ("REDIS://host", "redis"),
        ] {
            let t = dsn(s);
            assert_eq!(t.kind, kind, "{s}");
            assert_eq!(opts(&t), vec![o("url", &[s])]);
        }
    }

    #[test]
    fn refused() {
        let e = from_dsn("mysql://x", "ENV", 0, String::new()).unwrap_err();
        assert!(
            e.contains("unsupported transport URL scheme \"mysql\""),
            "{e}"
        );
        let e = from_dsn("/var/lib/mercure.db", "ENV", 0, String::new()).unwrap_err();
        assert!(e.contains("invalid transport URL"), "{e}");
    }
}
