//! Pieces of option parsing shared by the transports (`transport bolt|redis|postgres { ... }`),
//! so that the same mistake gets the same message whichever transport it is made in. Each
//! transport keeps its own option list and error type; these return the message, and the
//! transport wraps it with the option's location.

use std::time::Duration;

use crate::duration::{format_duration, parse_duration};

/// Options written by hand (tests, tools) as `(name, values)` pairs, held in the owned form the
/// transports' `from_options` borrow from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionList {
    items: Vec<(String, Vec<String>)>,
}

impl OptionList {
    pub fn new(list: &[(&str, &[&str])]) -> OptionList {
        let mut out = OptionList::default();
        for (name, values) in list {
            out.push(name, values);
        }
        out
    }

    /// Appends an option (a later one overrides an earlier one of the same name).
    pub fn push(&mut self, name: &str, values: &[&str]) {
        self.items.push((
            name.to_owned(),
            values.iter().map(|v| v.to_string()).collect(),
        ));
    }

    /// The options as `from_options` takes them: `(name, values, line, source)`, all written at
    /// `source:line` (`line` 0 for an environment variable).
    pub fn at<'a>(
        &'a self,
        source: &'a str,
        line: usize,
    ) -> impl Iterator<Item = (&'a str, &'a [String], usize, &'a str)> + 'a {
        self.items
            .iter()
            .map(move |(n, v)| (n.as_str(), v.as_slice(), line, source))
    }
}

/// The shortest accepted `presence_timeout`: nodes heartbeat every third of it, and a shorter
/// one would declare nodes dead between two heartbeats on a busy machine.
pub const MIN_PRESENCE_TIMEOUT: Duration = Duration::from_millis(300);

/// Where an option was written, as messages show it: `config.caddy:12`, or the source alone
/// (an environment variable's name) when `line` is 0.
pub fn location(source: &str, line: usize) -> String {
    if line > 0 {
        format!("{source}:{line}")
    } else {
        source.to_owned()
    }
}

/// The single value of option `name`; `what` describes the expected value in the message.
pub fn one_value<'a>(name: &str, args: &'a [String], what: &str) -> Result<&'a str, String> {
    match args {
        [v] => Ok(v.as_str()),
        [] => Err(format!("{name}: missing value; expected {what}")),
        _ => Err(format!(
            "{name}: expected one value ({what}), got {}",
            args.len()
        )),
    }
}

/// The message for an option the transport doesn't know, listing the ones it does.
pub fn unknown_option(name: &str, valid: &[&str]) -> String {
    format!(
        "unknown option {name:?} (valid options: {})",
        valid.join(", ")
    )
}

/// A duration where `0` means "none" (`max_age`).
pub fn parse_optional_duration(v: &str) -> Result<Option<Duration>, String> {
    let d = parse_duration(v)?;
    Ok((!d.is_zero()).then_some(d))
}

/// A `presence_timeout`: a duration of at least [`MIN_PRESENCE_TIMEOUT`].
pub fn parse_presence_timeout(v: &str) -> Result<Duration, String> {
    let d = parse_duration(v)?;
    if d < MIN_PRESENCE_TIMEOUT {
        return Err(format!(
            "{v:?} is too short: nodes heartbeat every third of it; use at least {}",
            format_duration(MIN_PRESENCE_TIMEOUT)
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn option_lists() {
        let mut list = OptionList::new(&[("url", &["redis://h"]), ("tls", &[])]);
        list.push("stream", &["s"]);
        let items: Vec<_> = list.at("config.caddy", 12).collect();
        assert_eq!(
            items,
            [
                ("url", &strings(&["redis://h"])[..], 12, "config.caddy"),
                ("tls", &[][..], 12, "config.caddy"),
                ("stream", &strings(&["s"])[..], 12, "config.caddy"),
            ]
        );
    }

    #[test]
    fn locations() {
        assert_eq!(location("config.caddy", 12), "config.caddy:12");
        assert_eq!(
            location("MERCURE_TRANSPORT_URL", 0),
            "MERCURE_TRANSPORT_URL"
        );
    }

    #[test]
    fn single_values() {
        assert_eq!(one_value("size", &strings(&["10"]), "a number"), Ok("10"));
        assert_eq!(
            one_value("size", &[], "a number"),
            Err("size: missing value; expected a number".into())
        );
        assert_eq!(
            one_value("path", &strings(&["a", "b"]), "a file path"),
            Err("path: expected one value (a file path), got 2".into())
        );
    }

    #[test]
    fn unknown_options() {
        assert_eq!(
            unknown_option("gob", &["path", "size"]),
            "unknown option \"gob\" (valid options: path, size)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_optional_duration("0"), Ok(None));
        assert_eq!(parse_optional_duration("0s"), Ok(None));
        assert_eq!(
            parse_optional_duration("7d"),
            Ok(Some(Duration::from_secs(7 * 86_400)))
        );
        assert!(parse_optional_duration("-1h").is_err());
        assert_eq!(
            parse_presence_timeout("1500ms"),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(parse_presence_timeout("300ms"), Ok(MIN_PRESENCE_TIMEOUT));
        assert_eq!(
            parse_presence_timeout("10ms"),
            Err(
                "\"10ms\" is too short: nodes heartbeat every third of it; use at least 300ms"
                    .into()
            )
        );
        let e = parse_presence_timeout("0").unwrap_err();
        assert!(e.contains("too short"), "{e}");
        let e = parse_presence_timeout("soon").unwrap_err();
        assert!(e.starts_with("expected a duration"), "{e}");
    }
}
