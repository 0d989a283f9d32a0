//! The parameters of a draft-08 subscribe request: topic matchers and the reconnection cursor.
//!
//! Parameters come from the query string and, for `QUERY`, from the form body appended to it
//! (a union: query values first). They are kept as bytes: a parameter the hub does not use may
//! hold anything, and a matcher value that is not UTF-8 is refused with the same message as
//! one holding a control character, as the reference hub does.

use std::collections::BTreeMap;

use http::HeaderMap;
use quicksilver_hub::validate::forbidden_char;
use quicksilver_hub::{MatchType, PatternError, Selector, SelectorCompiler};

use super::go_quote;

/// The most matchers one request may carry.
pub(crate) const MAX_MATCHERS: usize = 100;
/// The longest matcher value, in bytes.
pub(crate) const MAX_PATTERN_LENGTH: usize = 4096;

/// The parameter of exact matchers (`match_exact` is a synonym).
const MATCH: &[u8] = b"match";

/// Why the matchers of a request were refused (400, without a challenge). The messages are
/// the reference hub's; an invalid pattern's compiler error is logged, never sent.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum MatcherError {
    #[error("unknown topic matcher query parameter: {0}")]
    UnknownParameter(String),
    #[error(
        r#"unknown topic matcher query parameter: "topic" (use "match" or "match_urlpattern")"#
    )]
    Topic,
    #[error(r#"missing "match" subscription parameter"#)]
    Missing,
    #[error("too many matchers (max {MAX_MATCHERS})")]
    TooMany,
    #[error("pattern too long (max {MAX_PATTERN_LENGTH} bytes)")]
    TooLong,
    #[error("topic matcher values must be valid UTF-8 without control characters")]
    InvalidValue,
    #[error("invalid topic matcher pattern")]
    InvalidPattern(PatternError),
}

/// One requested subscription.
#[derive(Debug, Clone)]
pub(crate) struct Requested {
    pub match_type: MatchType,
    pub pattern: String,
    pub selector: Selector,
}

/// The matcher type a parameter name asks for: `match` and `match_<type>` for a known type.
fn matcher_type(name: &[u8]) -> Option<MatchType> {
    if name == MATCH {
        return Some(MatchType::Exact);
    }
    let suffix = name.strip_prefix(b"match_")?;
    MatchType::parse(std::str::from_utf8(suffix).ok()?)
}

/// The subscriptions a request asks for, in sorted parameter-name order, one per value (in
/// the order sent), each validated and compiled.
pub(crate) fn parse_matchers(
    params: &[(Vec<u8>, Vec<u8>)],
    compiler: &SelectorCompiler,
) -> Result<Vec<Requested>, MatcherError> {
    let mut by_name: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for (name, value) in params {
        by_name.entry(name).or_default().push(value);
    }
    let mut out = Vec::new();
    for (name, values) in by_name {
        if name == b"topic" {
            return Err(MatcherError::Topic);
        }
        let Some(match_type) = matcher_type(name) else {
            // The whole `match*` namespace is reserved for matcher types, whatever the case.
            if name.len() >= MATCH.len() && name[..MATCH.len()].eq_ignore_ascii_case(MATCH) {
                return Err(MatcherError::UnknownParameter(go_quote(name)));
            }
            continue;
        };
        for value in values {
            if out.len() >= MAX_MATCHERS {
                return Err(MatcherError::TooMany);
            }
            if value.len() > MAX_PATTERN_LENGTH {
                return Err(MatcherError::TooLong);
            }
            let pattern = std::str::from_utf8(value).map_err(|_| MatcherError::InvalidValue)?;
            if forbidden_char(pattern).is_some() {
                return Err(MatcherError::InvalidValue);
            }
            let selector = compiler
                .compile_matcher(match_type, pattern)
                .map_err(MatcherError::InvalidPattern)?;
            out.push(Requested {
                match_type,
                pattern: pattern.to_string(),
                selector,
            });
        }
    }
    if out.is_empty() {
        return Err(MatcherError::Missing);
    }
    Ok(out)
}

/// The reconnection cursor: the `Last-Event-ID` header when not empty, else the first
/// `last_event_id` parameter when not empty. `Some("")` when either was present but empty
/// (the response must still carry `Mercure-Last-Event-ID`), `None` when neither was sent.
pub(crate) fn cursor(headers: &HeaderMap, params: &[(Vec<u8>, Vec<u8>)]) -> Option<String> {
    let header = headers.get("last-event-id");
    if let Some(h) = header.filter(|h| !h.is_empty()) {
        return Some(String::from_utf8_lossy(h.as_bytes()).into_owned());
    }
    let param = params
        .iter()
        .find(|(n, _)| n == b"last_event_id")
        .map(|(_, v)| v);
    if let Some(p) = param.filter(|p| !p.is_empty()) {
        return Some(String::from_utf8_lossy(p).into_owned());
    }
    if params
        .iter()
        .any(|(n, _)| n == b"lastEventID" || n == b"Last-Event-ID")
    {
        tracing::info!(
            "unsupported with protocol draft-08: the lastEventID and Last-Event-ID query parameters; use last_event_id or the Last-Event-ID header"
        );
    }
    (header.is_some() || param.is_some()).then(String::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> crate::form::RawPairs {
        crate::form::parse_raw(q.as_bytes()).unwrap()
    }

    fn parse(q: &str) -> Result<Vec<(MatchType, String)>, MatcherError> {
        let compiler = SelectorCompiler::new(100);
        parse_matchers(&params(q), &compiler)
            .map(|v| v.into_iter().map(|r| (r.match_type, r.pattern)).collect())
    }

    #[test]
    fn matcher_parameters_in_sorted_name_order() {
        let got = parse(
            "match_urlpattern=https://e.com/b/:id&match=a&other=1&match_exact=c&match=a&last_event_id=x",
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                (MatchType::Exact, "a".to_string()),
                (MatchType::Exact, "a".to_string()),
                (MatchType::Exact, "c".to_string()),
                (MatchType::UrlPattern, "https://e.com/b/:id".to_string()),
            ]
        );
        assert_eq!(
            parse("match=*&match_urlpattern=*").unwrap(),
            vec![
                (MatchType::Exact, "*".into()),
                (MatchType::UrlPattern, "*".into())
            ]
        );
        // An empty value is an exact matcher for the empty topic.
        assert_eq!(
            parse("match=").unwrap(),
            vec![(MatchType::Exact, String::new())]
        );
    }

    #[test]
    fn reserved_namespace_and_topic() {
        for (q, name) in [
            ("match=a&Match=b", "\"Match\""),
            ("matchfoo=a", "\"matchfoo\""),
            ("match_regexp=a", "\"match_regexp\""),
            ("match_type=exact&match=a", "\"match_type\""),
            ("MATCH_EXACT=a", "\"MATCH_EXACT\""),
        ] {
            assert_eq!(
                parse(q).unwrap_err(),
                MatcherError::UnknownParameter(name.to_string()),
                "{q}"
            );
        }
        assert_eq!(
            parse("match_regexp=a").unwrap_err().to_string(),
            r#"unknown topic matcher query parameter: "match_regexp""#
        );
        let e = parse("topic=a").unwrap_err();
        assert_eq!(e, MatcherError::Topic);
        assert_eq!(
            e.to_string(),
            r#"unknown topic matcher query parameter: "topic" (use "match" or "match_urlpattern")"#
        );
        // Other names are ignored, `mat` is not in the namespace.
        assert_eq!(parse("mat=a&x=b").unwrap_err(), MatcherError::Missing);
        assert_eq!(parse("").unwrap_err(), MatcherError::Missing);
        assert_eq!(
            MatcherError::Missing.to_string(),
            r#"missing "match" subscription parameter"#
        );
    }

    #[test]
    fn values_are_validated() {
        let long = "a".repeat(MAX_PATTERN_LENGTH);
        assert!(parse(&format!("match={long}")).is_ok());
        assert_eq!(
            parse(&format!("match={long}a")).unwrap_err(),
            MatcherError::TooLong
        );
        for bad in ["a%00", "a%0A", "a%7F", "%C2%85", "%E2%80%8B", "%ff"] {
            assert_eq!(
                parse(&format!("match={bad}")).unwrap_err(),
                MatcherError::InvalidValue,
                "{bad}"
            );
        }
        let e = parse("match_urlpattern=https://e.com/(").unwrap_err();
        assert!(matches!(e, MatcherError::InvalidPattern(_)));
        assert_eq!(e.to_string(), "invalid topic matcher pattern");
    }

    #[test]
    fn at_most_100_matchers() {
        let q = |n: usize| {
            (0..n)
                .map(|i| format!("match=t{i}"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert_eq!(parse(&q(MAX_MATCHERS)).unwrap().len(), MAX_MATCHERS);
        assert_eq!(
            parse(&q(MAX_MATCHERS + 1)).unwrap_err(),
            MatcherError::TooMany
        );
        assert_eq!(
            MatcherError::TooMany.to_string(),
            "too many matchers (max 100)"
        );
    }

    #[test]
    fn cursor_precedence() {
        let h = |v: Option<&str>| {
            let mut m = HeaderMap::new();
            if let Some(v) = v {
                m.insert("last-event-id", v.parse().unwrap());
            }
            m
        };
        assert_eq!(cursor(&h(None), &params("match=a")), None);
        assert_eq!(
            cursor(&h(Some("hdr")), &params("last_event_id=q")).as_deref(),
            Some("hdr")
        );
        assert_eq!(
            cursor(&h(Some("")), &params("last_event_id=q")).as_deref(),
            Some("q")
        );
        assert_eq!(cursor(&h(Some("")), &params("")).as_deref(), Some(""));
        assert_eq!(
            cursor(&h(None), &params("last_event_id=")).as_deref(),
            Some("")
        );
        // Query values come before body values: the query wins.
        assert_eq!(
            cursor(&h(None), &params("last_event_id=q&last_event_id=body")).as_deref(),
            Some("q")
        );
        // The draft-07 names are not accepted.
        assert_eq!(cursor(&h(None), &params("lastEventID=x")), None);
        assert_eq!(cursor(&h(None), &params("Last-Event-ID=x")), None);
    }
}
