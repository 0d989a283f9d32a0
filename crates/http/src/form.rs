//! Strict `application/x-www-form-urlencoded` parsing, for query strings and publish bodies.
//!
//! Lenient parsers silently turn a bad `%` escape or invalid UTF-8 into replacement characters,
//! which would publish or match something other than what the client sent. The reference hub
//! (Go's `url.ParseQuery`) refuses bad escapes with a 400; we do too, with the reason, and also
//! refuse invalid UTF-8, which Go passes through as raw bytes: SSE is UTF-8 text, so such bytes
//! could not reach a subscriber intact anyway.

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::response::{Resp, status_text};

/// Parsed form fields, in order, names repeated as sent.
#[derive(Debug, Default, Clone)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

/// Why a form could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("invalid percent-encoding in {0:?}")]
    BadEscape(String),
    #[error("invalid UTF-8 in form field {0:?}")]
    BadUtf8(String),
    #[error("invalid semicolon separator in form")]
    Semicolon,
}

impl Form {
    pub fn parse(input: &[u8]) -> Result<Form, FormError> {
        let mut pairs = Vec::new();
        for pair in split_pairs(input) {
            let (name, value) = pair?;
            let name = decode(name)?;
            let value = decode(value).map_err(|e| match e {
                FormError::BadUtf8(_) => FormError::BadUtf8(name.clone()),
                other => other,
            })?;
            pairs.push((name, value));
        }
        Ok(Form { pairs })
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }
}

/// Decoded `(name, value)` pairs of a form, as bytes.
pub(crate) type RawPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Splits a form into its decoded `(name, value)` byte pairs, in order, without requiring
/// UTF-8: the draft-08 handlers validate the characters of the fields they use (with the
/// reference hub's messages) and ignore the others, whatever bytes those hold. Bad escapes and
/// `;` separators are refused as by [`Form::parse`].
pub(crate) fn parse_raw(input: &[u8]) -> Result<RawPairs, FormError> {
    let mut pairs = Vec::new();
    for pair in split_pairs(input) {
        let (name, value) = pair?;
        pairs.push((unescape(name, true)?, unescape(value, true)?));
    }
    Ok(pairs)
}

/// The still-encoded `(name, value)` parts of a form, in order; empty parts skipped, a missing
/// `=` meaning an empty value. Go rejects `;` as a separator since 1.17; a client relying on it
/// would otherwise publish to a topic it did not mean, so a part holding one is an error.
fn split_pairs(input: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), FormError>> {
    input
        .split(|b| *b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            if part.contains(&b';') {
                return Err(FormError::Semicolon);
            }
            Ok(match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            })
        })
}

/// Decodes one `%XX`-escaped path segment like Go's `url.PathUnescape` (`+` stays a `+`),
/// without requiring UTF-8.
pub(crate) fn path_unescape(segment: &str) -> Result<Vec<u8>, FormError> {
    unescape(segment.as_bytes(), false)
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let out = unescape(raw, true)?;
    String::from_utf8(out)
        .map_err(|e| FormError::BadUtf8(String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Percent-decodes `raw`; `plus_is_space` for form encoding.
fn unescape(raw: &[u8], plus_is_space: bool) -> Result<Vec<u8>, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (
                    raw.get(i + 1).and_then(|b| hex(*b)),
                    raw.get(i + 2).and_then(|b| hex(*b)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let end = (i + 3).min(raw.len());
                        return Err(FormError::BadEscape(
                            String::from_utf8_lossy(&raw[i..end]).into_owned(),
                        ));
                    }
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// Decodes one `%XX`-escaped path segment like Go's `url.QueryUnescape` (`+` is a space).
pub fn query_unescape(segment: &str) -> Result<String, FormError> {
    decode(segment.as_bytes())
}

/// Whether the request says its body is a form (`application/x-www-form-urlencoded`, any
/// parameters). Like Go's `ParseForm`, a body of another type is no fields at all.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("request body larger than max_request_body_size ({0} bytes)")]
    TooLarge(usize),
    #[error("unreadable request body: {0}")]
    Unreadable(String),
}

/// Reads a request body, up to `limit` bytes (`None`: any size).
pub(crate) async fn read_body(
    body: Option<Incoming>,
    limit: Option<usize>,
) -> Result<Bytes, BodyError> {
    let Some(body) = body else {
        return Ok(Bytes::new());
    };
    let cap = limit.unwrap_or(usize::MAX);
    match Limited::new(body, cap).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(BodyError::TooLarge(cap))
        }
        Err(e) => Err(BodyError::Unreadable(e.to_string())),
    }
}

impl BodyError {
    /// 413 past the cap, else 400; the body is the status text, as in the reference.
    pub(crate) fn response(&self) -> Resp {
        match self {
            BodyError::TooLarge(_) => status_text(StatusCode::PAYLOAD_TOO_LARGE),
            BodyError::Unreadable(_) => status_text(StatusCode::BAD_REQUEST),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_empty() {
        let f = Form::parse(b"topic=a&topic=b%2Fc&private&data=x+y%0Az&empty=").unwrap();
        assert_eq!(f.all("topic").collect::<Vec<_>>(), vec!["a", "b/c"]);
        assert!(f.has("private"));
        assert_eq!(f.first("private"), Some(""));
        assert_eq!(f.first("data"), Some("x y\nz"));
        assert_eq!(f.first("empty"), Some(""));
        assert_eq!(f.first("nope"), None);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(matches!(
            Form::parse(b"topic=%zz"),
            Err(FormError::BadEscape(_))
        ));
        assert!(matches!(
            Form::parse(b"topic=%4"),
            Err(FormError::BadEscape(_))
        ));
        assert!(matches!(
            Form::parse(b"topic=%ff"),
            Err(FormError::BadUtf8(_))
        ));
        assert_eq!(Form::parse(b"a=1;b=2").unwrap_err(), FormError::Semicolon);
    }

    #[test]
    fn raw_pairs_keep_bytes_and_refuse_bad_escapes() {
        let pairs = parse_raw(b"match=a%2Fb&x=%ff&flag&&m+n=p+q").unwrap();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"match".to_vec(), b"a/b".to_vec()),
            (b"x".to_vec(), vec![0xff]),
            (b"flag".to_vec(), Vec::new()),
            (b"m n".to_vec(), b"p q".to_vec()),
        ];
        assert_eq!(pairs, expected);
        assert!(matches!(parse_raw(b"a=%g1"), Err(FormError::BadEscape(_))));
        assert_eq!(parse_raw(b"a=1;b").unwrap_err(), FormError::Semicolon);
    }

    #[test]
    fn path_segments_keep_plus() {
        assert_eq!(path_unescape("a+b%20c%2F").unwrap(), b"a+b c/".to_vec());
        assert!(path_unescape("bad%2").is_err());
    }
}
