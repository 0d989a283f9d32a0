//! `transport bolt { ... }` options: the reference hub's names, our defaults, precise errors.
//!
//! The option names are the reference's (`path`, `size`, `cleanup_frequency`, `bucket_name`)
//! so configurations carry over, plus `max_age`. A legacy DSN
//! `bolt:///path/to/file.db?size=N&cleanup_frequency=F&bucket_name=B` reaches us already
//! translated into the same options by the config crate.

use std::path::PathBuf;
use std::time::Duration;

use quicksilver_hub::duration::format_duration;
use quicksilver_hub::transport_options::{one_value, parse_optional_duration, unknown_option};

use crate::error::BoltError;

/// The file used when no `path` is given: in the working directory, so `cargo run` works for a
/// new user and the file is easy to find. The absolute path is printed at start-up.
pub const DEFAULT_PATH: &str = "quicksilver.db";

/// Updates kept when no `size` is given. Bounded by default (the reference keeps everything
/// unless told otherwise, and its users' first complaint is a file that grows forever); large
/// enough that a client reconnecting after minutes of a busy hub still resumes from its id.
/// At ~1 KB per update that is a file of roughly 100 MB.
pub const DEFAULT_SIZE: u64 = 100_000;

/// The reference's bucket name, used here as the name of the redb table of updates.
pub const DEFAULT_BUCKET_NAME: &str = "updates";

/// The option names, for error messages.
pub const OPTION_NAMES: &[&str] = &[
    "path",
    "size",
    "cleanup_frequency",
    "max_age",
    "bucket_name",
];

/// The validated options of `transport bolt`.
#[derive(Debug, Clone, PartialEq)]
pub struct BoltOptions {
    /// The database file (created with its parent directories when missing).
    pub path: PathBuf,
    /// Updates kept; `0` keeps every update (the reference's meaning of 0).
    pub size: u64,
    /// Accepted for compatibility with the reference, where it is the probability that a
    /// publish trims the history. Here trimming is deterministic and happens in every commit,
    /// so the value only has to be valid (a number between 0 and 1); it changes nothing.
    pub cleanup_frequency: Option<f64>,
    /// Updates older than this are removed (checked at every commit and periodically while
    /// idle); `None` keeps updates regardless of age.
    pub max_age: Option<Duration>,
    /// Name of the redb table holding the updates (the reference's bucket name); the id index
    /// and the metadata live in `<bucket_name>.ids` and `<bucket_name>.meta`.
    pub bucket_name: String,
}

impl Default for BoltOptions {
    fn default() -> Self {
        BoltOptions {
            path: PathBuf::from(DEFAULT_PATH),
            size: DEFAULT_SIZE,
            cleanup_frequency: None,
            max_age: None,
            bucket_name: DEFAULT_BUCKET_NAME.to_owned(),
        }
    }
}

impl BoltOptions {
    /// Options with every default and this path.
    pub fn with_path(path: impl Into<PathBuf>) -> BoltOptions {
        BoltOptions {
            path: path.into(),
            ..BoltOptions::default()
        }
    }

    /// A one-line description for the start-up log, e.g.
    /// `bolt (path /var/lib/quicksilver.db, size 100000, max_age none)`.
    pub fn describe(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        let size = match self.size {
            0 => "unlimited".to_owned(),
            n => n.to_string(),
        };
        let age = match self.max_age {
            Some(d) => format_duration(d),
            None => "none".to_owned(),
        };
        let bucket = if self.bucket_name == DEFAULT_BUCKET_NAME {
            String::new()
        } else {
            format!(", bucket_name {}", self.bucket_name)
        };
        format!(
            "bolt (path {}, size {size}, max_age {age}{bucket})",
            path.display()
        )
    }
}

/// Validates `transport bolt` options: `(name, args, where)` triples, `where` locating the
/// option for errors (`config.caddy:12`, `MERCURE_TRANSPORT_URL`). Later options override
/// earlier ones.
pub fn from_options(opts: &[(String, Vec<String>, String)]) -> Result<BoltOptions, BoltError> {
    let mut out = BoltOptions::default();
    for (name, args, at) in opts {
        let err = |message: String| BoltError::Option {
            at: at.clone(),
            message,
        };
        let one = |what: &str| one_value(name, args, what).map_err(err);
        match name.as_str() {
            "path" => {
                let v = one("a file path, e.g. /var/lib/quicksilver/mercure.db")?;
                if v.is_empty() {
                    return Err(err("path: the path is empty".into()));
                }
                out.path = PathBuf::from(v);
            }
            "size" => {
                let v = one("the number of updates to keep, 0 for all")?;
                out.size = v.parse().map_err(|_| {
                    err(format!(
                        "size: expected the number of updates to keep (0 keeps all), got {v:?}"
                    ))
                })?;
            }
            "cleanup_frequency" => {
                let v = one("a number between 0 and 1")?;
                match v.parse::<f64>() {
                    Ok(f) if (0.0..=1.0).contains(&f) => out.cleanup_frequency = Some(f),
                    _ => {
                        return Err(err(format!(
                            "cleanup_frequency: expected a number between 0 and 1, got {v:?}"
                        )));
                    }
                }
            }
            "max_age" => {
                let v = one("a duration such as 24h or 7d, 0 for none")?;
                out.max_age =
                    parse_optional_duration(v).map_err(|m| err(format!("max_age: {m}")))?;
            }
            "bucket_name" => {
                let v = one("a name")?;
                if v.is_empty() {
                    return Err(err("bucket_name: the name is empty".into()));
                }
                out.bucket_name = v.to_owned();
            }
            other => return Err(err(unknown_option(other, OPTION_NAMES))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[(&str, &[&str])]) -> Result<BoltOptions, String> {
        let v: Vec<(String, Vec<String>, String)> = list
            .iter()
            .map(|(n, a)| {
                (
                    n.to_string(),
                    a.iter().map(|s| s.to_string()).collect(),
                    "config.caddy:12".to_string(),
                )
            })
            .collect();
        from_options(&v).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let o = opts(&[]).unwrap();
        assert_eq!(o, BoltOptions::default());
        assert_eq!(o.size, DEFAULT_SIZE);
        assert_eq!(o.max_age, None);
        assert_eq!(o.bucket_name, "updates");
        assert!(o.describe().starts_with("bolt (path /"), "{}", o.describe());
        assert!(
            o.describe()
                .ends_with("quicksilver.db, size 100000, max_age none)")
        );
    }

    #[test]
    fn all_options() {
        let o = opts(&[
            ("path", &["/x/y.db"]),
            ("size", &["10"]),
            ("cleanup_frequency", &["0.3"]),
            ("max_age", &["7d"]),
            ("bucket_name", &["b"]),
        ])
        .unwrap();
        assert_eq!(o.path, PathBuf::from("/x/y.db"));
        assert_eq!(o.size, 10);
        assert_eq!(o.cleanup_frequency, Some(0.3));
        assert_eq!(o.max_age, Some(Duration::from_secs(7 * 86400)));
        assert_eq!(o.bucket_name, "b");
        assert_eq!(
            o.describe(),
            "bolt (path /x/y.db, size 10, max_age 7d, bucket_name b)"
        );
        assert_eq!(opts(&[("size", &["0"])]).unwrap().size, 0);
        assert_eq!(opts(&[("max_age", &["0"])]).unwrap().max_age, None);
    }

    #[test]
    fn errors_name_the_place_and_the_fix() {
        let e = opts(&[("gob", &[])]).unwrap_err();
        assert_eq!(
            e,
            "config.caddy:12: transport bolt: unknown option \"gob\" (valid options: path, size, cleanup_frequency, max_age, bucket_name)"
        );
        let e = opts(&[("size", &["-1"])]).unwrap_err();
        assert!(e.contains("size: expected the number of updates"), "{e}");
        let e = opts(&[("size", &[])]).unwrap_err();
        assert!(e.contains("size: missing value"), "{e}");
        let e = opts(&[("path", &["a", "b"])]).unwrap_err();
        assert!(e.contains("path: expected one value"), "{e}");
        let e = opts(&[("cleanup_frequency", &["1.5"])]).unwrap_err();
        assert!(e.contains("between 0 and 1"), "{e}");
        let e = opts(&[("max_age", &["soon"])]).unwrap_err();
        assert!(e.contains("max_age: expected a duration"), "{e}");
        let e = opts(&[("max_age", &["-1h"])]).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        let e = opts(&[("bucket_name", &[""])]).unwrap_err();
        assert!(e.contains("bucket_name: the name is empty"), "{e}");
    }
}
