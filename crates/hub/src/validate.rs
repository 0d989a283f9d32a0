//! Draft-08 input rules shared by subscribing and publishing: which characters a topic, matcher,
//! id or event type may not contain, and which topics address the hub's own namespace.
//!
//! Control characters could split SSE fields or log lines, and invisible format characters
//! (Unicode category `Cf`: bidi overrides, zero-width joiners...) make two topics that look the
//! same differ, so draft-08 refuses both. The reserved namespace belongs to the subscription
//! events the hub generates; the test resolves the topic the way URL patterns see it (WHATWG
//! parsing, dot segments removed, unreserved percent-escapes decoded) so no spelling of a
//! reserved path slips through.

use std::borrow::Cow;
use std::sync::LazyLock;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use url::Url;

/// The hub path, and the root of the reserved namespace.
pub const HUB_PATH: &str = "/.well-known/mercure";

/// Topics are resolved against this URL to test whether they are reserved: only the path of
/// the result matters, the host is a placeholder that can't collide (RFC 6761 `.invalid`).
const RESERVED_BASE: &str = "https://mercure.invalid/.well-known/mercure";

static BASE: LazyLock<Url> = LazyLock::new(|| {
    // A constant, checked by the tests.
    Url::parse(RESERVED_BASE).unwrap_or_else(|_| unreachable!())
});

/// The first character draft-08 forbids in `s`: C0 controls (U+0000-U+001F), DEL, C1 controls
/// (U+0080-U+009F) and format characters (general category `Cf`).
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|&c| is_forbidden(c))
}

/// Whether draft-08 forbids `c` (see [`forbidden_char`]).
pub fn is_forbidden(c: char) -> bool {
    match c {
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // No other ASCII character is `Cf`: skip the table lookup on the common path.
        ' '..='~' => false,
        _ => c.general_category() == GeneralCategory::Format,
    }
}

/// Whether `topic` addresses the hub's reserved namespace: resolved against the hub URL, its
/// path, with dot segments removed and percent-escapes of RFC 3986 unreserved characters
/// decoded, is `/.well-known/mercure` or under `/.well-known/mercure/`, whatever the scheme
/// and host. A topic that is not a URL even relative to the hub URL is not reserved.
pub fn is_reserved_topic(topic: &str) -> bool {
    let Ok(url) = BASE.join(topic) else {
        return false;
    };
    // The WHATWG parser already removed dot segments (including `%2e` spellings of them).
    let path = decode_unreserved(url.path());
    match path.strip_prefix(HUB_PATH) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Decodes the `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`), the
/// percent-encoding normalisation of RFC 3986 §6.2.2.2; other escapes stay as they are.
fn decode_unreserved(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            // Two hex digits: a byte below 0x100.
            let c = char::from((h * 16 + l) as u8);
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                out.push(c);
                i += 3;
                continue;
            }
        }
        // Escapes are ASCII, so byte-wise copying of the rest keeps UTF-8 intact: copy up to
        // the next `%` in one go.
        let next = b[i + 1..]
            .iter()
            .position(|&c| c == b'%')
            .map_or(b.len(), |j| i + 1 + j);
        out.push_str(&s[i..next]);
        i = next;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_characters() {
        let cases: &[(&str, Option<char>)] = &[
            ("https://example.com/books/1", None),
            ("plain text with spaces ~!@#$%^&*()", None),
            ("héllo wörld 日本 😀", None),
            ("", None),
            ("a\u{0}b", Some('\u{0}')),
            ("tab\there", Some('\t')),
            ("line\nbreak", Some('\n')),
            ("cr\r", Some('\r')),
            ("\u{1f}", Some('\u{1f}')),
            ("del\u{7f}", Some('\u{7f}')),
            ("c1\u{80}", Some('\u{80}')),
            ("c1\u{85}next line", Some('\u{85}')),
            ("c1\u{9f}", Some('\u{9f}')),
            // Latin-1 printable characters right after C1 are fine.
            ("\u{a0}\u{a1}é", None),
            // Cf: soft hyphen, zero-width space and joiner, bidi override, BOM, tag character.
            ("soft\u{ad}hyphen", Some('\u{ad}')),
            ("zero\u{200b}width", Some('\u{200b}')),
            ("z\u{200d}wj", Some('\u{200d}')),
            ("rtl\u{202e}override", Some('\u{202e}')),
            ("\u{feff}bom", Some('\u{feff}')),
            ("tag\u{e0001}", Some('\u{e0001}')),
            ("arabic\u{600}number", Some('\u{600}')),
            // The first one is reported.
            ("a\u{200b}b\u{0}", Some('\u{200b}')),
            // Not Cf: a combining mark, a private-use and a line separator (Zl).
            ("e\u{301}", None),
            ("\u{e000}", None),
            ("\u{2028}", None),
        ];
        for &(s, want) in cases {
            assert_eq!(forbidden_char(s), want, "{s:?}");
        }
    }

    #[test]
    fn reserved_topics() {
        let cases: &[(&str, bool)] = &[
            // The namespace itself and anything under it, any scheme and host.
            ("/.well-known/mercure", true),
            ("/.well-known/mercure/", true),
            ("/.well-known/mercure/subscriptions/x", true),
            ("https://example.com/.well-known/mercure", true),
            (
                "http://other.example/.well-known/mercure/subscriptions/exact/a/b",
                true,
            ),
            ("ftp://x/.well-known/mercure/x", true),
            // Queries and fragments are not part of the path.
            ("/.well-known/mercure?x=1", true),
            ("https://x/.well-known/mercure#frag", true),
            // Relative references resolve against the hub URL.
            ("", true),
            ("mercure", true),
            ("mercure/subscriptions/foo", true),
            ("./mercure/x", true),
            ("subscriptions/foo", false),
            ("bar", false),
            ("../mercure/x", false),
            // Dot segments are removed, in every spelling.
            ("https://x/a/../.well-known/mercure", true),
            ("/a/b/../../.well-known/mercure/x", true),
            ("/.well-known/./mercure", true),
            ("/a/%2E%2E/.well-known/mercure", true),
            ("/a/.%2e/.well-known/mercure/x", true),
            ("/.well-known/mercure/../x", false),
            // Unreserved characters are decoded, reserved ones are not.
            ("/%2Ewell-known/mercure", true),
            ("/%2ewell-known/mercure/x", true),
            (
                "https://example.com/.well-known/%6Dercure/subscriptions/x",
                true,
            ),
            ("/.well-known/me%72cure", true),
            ("/.well-known%2Fmercure", false),
            ("/.well-known/mercure%2Fx", false),
            // WHATWG parsing: backslashes are slashes in special schemes.
            ("https://example.com\\.well-known\\mercure\\x", true),
            // Look-alikes that are not the namespace.
            ("https://x/.well-known/mercurex", false),
            ("https://x/.well-known/mercure-dashboard", false),
            ("https://x/foo/.well-known/mercure/bar", false),
            ("https://x/.well-known/MERCURE", false),
            ("https://example.com/books/1", false),
            // Opaque or non-URL topics.
            ("urn:foo", false),
            ("urn:example:mercure", false),
            ("mailto:a@b", false),
            ("a topic with spaces", false),
            ("http://[", false),
        ];
        for &(topic, want) in cases {
            assert_eq!(is_reserved_topic(topic), want, "{topic:?}");
        }
    }

    #[test]
    fn unreserved_decoding() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("/plain/path", "/plain/path"),
            ("%6D", "m"),
            ("%6d", "m"),
            ("%2F", "%2F"),
            ("%2f", "%2f"),
            ("%", "%"),
            ("%6", "%6"),
            ("%ZZ", "%ZZ"),
            ("a%41%2Fb", "aA%2Fb"),
            ("%7E%5F%2E%2D", "~_.-"),
            ("%%41", "%A"),
            ("é%41ü", "éAü"),
            ("%C3%A9", "%C3%A9"),
        ];
        for &(input, want) in cases {
            assert_eq!(decode_unreserved(input), want, "{input:?}");
        }
    }
}
