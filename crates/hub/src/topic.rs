//! Topic selectors: draft-07's `*`, exact strings and RFC 6570 URI templates, and draft-08's typed
//! matchers (`exact` and WHATWG URL Pattern `urlpattern`).
//!
//! A selector is compiled once when a subscriber connects or a token is read; compiled templates
//! and URL patterns are cached by their text because the same few selectors come back on every
//! connection. URL patterns run on the `regex` crate, whose matching is linear in the input:
//! draft-08 requires a linear-time engine (or a cost limit) since patterns come from clients.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use quicksilver_uritemplate::UriTemplate;
use serde::{Deserialize, Serialize};
use url::Url;
use urlpattern::quirks::MatchInput;
use urlpattern::{UrlPattern, UrlPatternInit, UrlPatternMatchInput, UrlPatternOptions};

/// The base of URL patterns when the hub has no usable resource identifier. `.invalid` is
/// reserved (RFC 6761), so it never collides with a real absolute pattern: relative patterns
/// match relative topics (subscription events are relative) and absolute match absolute, as in
/// the reference hub.
pub const FALLBACK_URL_PATTERN_BASE: &str = "http://mercure.invalid";

/// The hub path every derived URL is under.
const HUB_PATH: &str = "/.well-known/mercure";

static FALLBACK_BASE: LazyLock<Arc<Url>> = LazyLock::new(|| {
    // A constant, checked by the tests.
    Arc::new(Url::parse(FALLBACK_URL_PATTERN_BASE).unwrap_or_else(|_| unreachable!()))
});

/// The draft-08 matcher types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// Byte-for-byte equality (`match`, `match_exact`).
    Exact,
    /// A WHATWG URL Pattern (`match_urlpattern`).
    UrlPattern,
}

impl MatchType {
    /// The name used in tokens, subscription documents and subscription topics.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Exact => "exact",
            MatchType::UrlPattern => "urlpattern",
        }
    }

    /// Parses a name as written in tokens and subscription paths (case-sensitive, like the
    /// reference hub).
    pub fn parse(s: &str) -> Option<MatchType> {
        match s {
            "exact" => Some(MatchType::Exact),
            "urlpattern" => Some(MatchType::UrlPattern),
            _ => None,
        }
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A matcher type name that is neither `exact` nor `urlpattern`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported matcher type {0:?}")]
pub struct UnknownMatchType(pub String);

impl FromStr for MatchType {
    type Err = UnknownMatchType;
    fn from_str(s: &str) -> Result<MatchType, UnknownMatchType> {
        MatchType::parse(s).ok_or_else(|| UnknownMatchType(s.to_string()))
    }
}

/// Why a draft-08 matcher could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// The URL pattern does not parse (the reason is for logs: the reference hub never echoes
    /// it to clients).
    #[error("invalid URL pattern: {0}")]
    InvalidUrlPattern(String),
}

/// A compiled URL pattern with the base its relative parts were resolved against (topics are
/// resolved against the same base).
pub struct CompiledUrlPattern {
    text: Arc<str>,
    base: Arc<Url>,
    pattern: UrlPattern,
}

impl fmt::Debug for CompiledUrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledUrlPattern")
            .field("pattern", &self.text)
            .field("base", &self.base.as_str())
            .finish()
    }
}

/// A topic parsed as a URL for URL-pattern matching, so an update's topics are parsed once
/// however many patterns they are tested against.
#[derive(Debug, Clone)]
pub struct ParsedTopic(MatchInput);

impl ParsedTopic {
    /// Resolves `topic` against `base`; `None` when it is not a URL even relative to the base
    /// (such a topic matches no URL pattern).
    pub fn parse(base: &Url, topic: &str) -> Option<ParsedTopic> {
        let url = base.join(topic).ok()?;
        urlpattern::quirks::parse_match_input(UrlPatternMatchInput::Url(url)).map(ParsedTopic)
    }
}

impl CompiledUrlPattern {
    fn compile(text: &str, base: &Arc<Url>) -> Result<CompiledUrlPattern, PatternError> {
        let invalid = |e: urlpattern::Error| PatternError::InvalidUrlPattern(e.to_string());
        let init =
            UrlPatternInit::parse_constructor_string::<regex::Regex>(text, Some((**base).clone()))
                .map_err(invalid)?;
        // Default options: `ignoreCase` stays off, as draft-08 requires.
        let pattern = UrlPattern::parse(init, UrlPatternOptions::default()).map_err(invalid)?;
        Ok(CompiledUrlPattern {
            text: Arc::from(text),
            base: base.clone(),
            pattern,
        })
    }

    /// The pattern as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The base relative patterns and topics are resolved against.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Whether the topic, resolved against the base, matches. A topic that is not a URL never
    /// matches.
    pub fn matches(&self, topic: &str) -> bool {
        ParsedTopic::parse(&self.base, topic).is_some_and(|t| self.matches_parsed(&t))
    }

    /// Whether a topic already parsed against this pattern's base matches: every component of
    /// the URL matches its component of the pattern (what `URLPattern.test` does).
    pub fn matches_parsed(&self, topic: &ParsedTopic) -> bool {
        let (p, t) = (&self.pattern, &topic.0);
        p.pathname.matcher.matches(&t.pathname).is_some()
            && p.hostname.matcher.matches(&t.hostname).is_some()
            && p.protocol.matcher.matches(&t.protocol).is_some()
            && p.port.matcher.matches(&t.port).is_some()
            && p.search.matcher.matches(&t.search).is_some()
            && p.hash.matcher.matches(&t.hash).is_some()
            && p.username.matcher.matches(&t.username).is_some()
            && p.password.matcher.matches(&t.password).is_some()
    }
}

/// A compiled topic selector.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `*`: every topic.
    Any,
    /// Byte-for-byte equality.
    Exact(Arc<str>),
    /// An RFC 6570 template; the topic must be one of its expansions (draft-07).
    Template(Arc<UriTemplate>),
    /// A WHATWG URL Pattern (draft-08 `urlpattern`).
    UrlPattern(Arc<CompiledUrlPattern>),
}

impl Selector {
    /// The selector text as the client sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Selector::Any => "*",
            Selector::Exact(s) => s,
            Selector::Template(t) => t.as_str(),
            Selector::UrlPattern(p) => p.as_str(),
        }
    }

    /// Whether `topic` is selected. An exact match always counts, even for a template selector,
    /// as in the reference hub (draft-07); URL patterns have no such exception.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Selector::Any => true,
            Selector::Exact(s) => &**s == topic,
            Selector::Template(t) => t.as_str() == topic || t.is_match(topic),
            Selector::UrlPattern(p) => p.matches(topic),
        }
    }

    /// Whether any of `topics` is selected.
    pub fn matches_any(&self, topics: &[String]) -> bool {
        topics.iter().any(|t| self.matches(t))
    }
}

/// The base of URL patterns for a hub whose resource identifier is `resource_identifier`: the
/// identifier itself when it is an absolute URL with a host ending with `/.well-known/mercure`
/// (so relative patterns and topics mean "on this hub's host"), else `None`, meaning the
/// synthetic [`FALLBACK_URL_PATTERN_BASE`].
pub fn url_pattern_base(resource_identifier: Option<&str>) -> Option<Url> {
    let id = resource_identifier?;
    if !id.ends_with(HUB_PATH) {
        return None;
    }
    Url::parse(id).ok().filter(|u| u.has_host())
}

/// Compiles selectors, caching compiled templates and URL patterns. Draft-07 selectors that
/// contain `{` but are not valid templates fall back to exact matching, as in the reference hub.
#[derive(Debug)]
pub struct SelectorCompiler {
    templates: Mutex<HashMap<Arc<str>, Option<Arc<UriTemplate>>>>,
    url_patterns: Mutex<HashMap<Arc<str>, Arc<CompiledUrlPattern>>>,
    capacity: usize,
    base: Arc<Url>,
}

impl SelectorCompiler {
    /// `capacity` bounds the number of cached templates and of cached URL patterns
    /// (`topic_selector_cache`); 0 disables caching. URL patterns use the fallback base.
    pub fn new(capacity: usize) -> SelectorCompiler {
        SelectorCompiler::with_base(capacity, None)
    }

    /// Like [`SelectorCompiler::new`], resolving relative URL patterns and topics against
    /// `base` (see [`url_pattern_base`]); `None` means [`FALLBACK_URL_PATTERN_BASE`].
    pub fn with_base(capacity: usize, base: Option<Url>) -> SelectorCompiler {
        SelectorCompiler {
            templates: Mutex::new(HashMap::new()),
            url_patterns: Mutex::new(HashMap::new()),
            capacity,
            base: base.map_or_else(|| FALLBACK_BASE.clone(), Arc::new),
        }
    }

    /// The base URL patterns and topics are resolved against.
    pub fn url_pattern_base(&self) -> &Url {
        &self.base
    }

    /// Compiles a draft-07 selector: `*`, a URI template, or else an exact string.
    pub fn compile(&self, selector: &str) -> Selector {
        if selector == "*" {
            return Selector::Any;
        }
        if !quicksilver_uritemplate::looks_like_template(selector) {
            return Selector::Exact(Arc::from(selector));
        }
        if let Some(hit) = self.templates.lock().get(selector) {
            return match hit {
                Some(t) => Selector::Template(t.clone()),
                None => Selector::Exact(Arc::from(selector)),
            };
        }
        let compiled = UriTemplate::parse(selector).ok().map(Arc::new);
        if self.capacity > 0 {
            let mut cache = self.templates.lock();
            // A full cache is cleared rather than tracked per entry: selectors are few and cheap
            // to recompile, and this keeps the cache bounded under hostile input.
            if cache.len() >= self.capacity {
                cache.clear();
            }
            cache.insert(Arc::from(selector), compiled.clone());
        }
        match compiled {
            Some(t) => Selector::Template(t),
            None => Selector::Exact(Arc::from(selector)),
        }
    }

    pub fn compile_all(&self, selectors: &[String]) -> Vec<Selector> {
        selectors.iter().map(|s| self.compile(s)).collect()
    }

    /// Compiles a draft-08 matcher. `*` selects every topic whatever the type; `exact` is plain
    /// byte equality (draft-08 has no URI templates); `urlpattern` must be a valid URL pattern.
    pub fn compile_matcher(
        &self,
        match_type: MatchType,
        pattern: &str,
    ) -> Result<Selector, PatternError> {
        if pattern == "*" {
            return Ok(Selector::Any);
        }
        match match_type {
            MatchType::Exact => Ok(Selector::Exact(Arc::from(pattern))),
            MatchType::UrlPattern => self.compile_url_pattern(pattern).map(Selector::UrlPattern),
        }
    }

    fn compile_url_pattern(&self, pattern: &str) -> Result<Arc<CompiledUrlPattern>, PatternError> {
        if let Some(hit) = self.url_patterns.lock().get(pattern) {
            return Ok(hit.clone());
        }
        // Only valid patterns are cached: an invalid one is refused with a 400 or 401, so it
        // does not come back on every connection the way a valid one does.
        let compiled = Arc::new(CompiledUrlPattern::compile(pattern, &self.base)?);
        if self.capacity > 0 {
            let mut cache = self.url_patterns.lock();
            if cache.len() >= self.capacity {
                cache.clear();
            }
            cache.insert(compiled.text.clone(), compiled.clone());
        }
        Ok(compiled)
    }
}

/// Whether some selector matches some topic (the rule for receiving a private update and for
/// reading the subscriptions API).
pub fn any_matches(selectors: &[Selector], topics: &[String]) -> bool {
    selectors.iter().any(|s| s.matches_any(topics))
}

/// Whether every topic is matched by some selector (the rule for publishing).
pub fn all_matched(selectors: &[Selector], topics: &[String]) -> bool {
    if selectors.iter().any(|s| matches!(s, Selector::Any)) {
        return true;
    }
    topics
        .iter()
        .all(|t| selectors.iter().any(|s| s.matches(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let c = SelectorCompiler::new(10);
        assert!(matches!(c.compile("*"), Selector::Any));
        assert!(matches!(c.compile("https://a/b"), Selector::Exact(_)));
        assert!(matches!(c.compile("https://a/{id}"), Selector::Template(_)));
        // Invalid template: exact.
        assert!(matches!(c.compile("https://a/{id"), Selector::Exact(_)));
    }

    #[test]
    fn matching() {
        let c = SelectorCompiler::new(10);
        let t = c.compile("https://example.com/books/{id}");
        assert!(t.matches("https://example.com/books/1"));
        assert!(!t.matches("https://example.com/users/1"));
        assert!(t.matches("https://example.com/books/{id}"));
        let sel = vec![c.compile("https://a/1"), c.compile("https://b/{x}")];
        assert!(all_matched(
            &sel,
            &["https://a/1".into(), "https://b/2".into()]
        ));
        assert!(!all_matched(
            &sel,
            &["https://a/1".into(), "https://c/2".into()]
        ));
        assert!(any_matches(
            &sel,
            &["https://c/2".into(), "https://b/2".into()]
        ));
    }

    #[test]
    fn match_type_names() {
        for t in [MatchType::Exact, MatchType::UrlPattern] {
            assert_eq!(MatchType::parse(t.as_str()), Some(t));
            assert_eq!(t.as_str().parse::<MatchType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<MatchType>(&json).unwrap(), t);
        }
        // Case-sensitive, and no draft-07 "template" type.
        for bad in ["Exact", "URLPattern", "template", "uri_template", ""] {
            assert_eq!(MatchType::parse(bad), None, "{bad}");
            assert_eq!(
                bad.parse::<MatchType>(),
                Err(UnknownMatchType(bad.to_string()))
            );
        }
    }

    #[test]
    fn draft08_exact_is_bytes_only() {
        let c = SelectorCompiler::new(10);
        let any = c.compile_matcher(MatchType::Exact, "*").unwrap();
        assert!(matches!(any, Selector::Any));
        assert!(matches!(
            c.compile_matcher(MatchType::UrlPattern, "*").unwrap(),
            Selector::Any
        ));
        // No templates in draft-08: braces are literal.
        let t = c
            .compile_matcher(MatchType::Exact, "https://e/{id}")
            .unwrap();
        assert!(matches!(t, Selector::Exact(_)));
        assert!(!t.matches("https://e/1"));
        assert!(t.matches("https://e/{id}"));
        // No normalisation and no relative resolution.
        let e = c.compile_matcher(MatchType::Exact, "https://e/a").unwrap();
        assert!(!e.matches("https://E/a"));
        assert!(!e.matches("https://e/./a"));
        assert!(!e.matches("https://e/a/"));
        let r = c.compile_matcher(MatchType::Exact, "/books/1").unwrap();
        assert!(!r.matches("http://mercure.invalid/books/1"));
        assert!(r.matches("/books/1"));
    }

    /// (pattern, topic, matches) with the fallback base.
    const FALLBACK_CASES: &[(&str, &str, bool)] = &[
        // Absolute pattern, absolute topics.
        (
            "https://example.com/books/:id",
            "https://example.com/books/123",
            true,
        ),
        (
            "https://example.com/books/:id",
            "https://example.com/authors/123",
            false,
        ),
        (
            "https://example.com/books/:id",
            "https://example.com/books/1/2",
            false,
        ),
        (
            "https://example.com/books/:id",
            "https://example.com/books/",
            false,
        ),
        (
            "https://example.com/books/:id",
            "http://example.com/books/1",
            false,
        ),
        (
            "https://example.com/books/:id",
            "https://example.org/books/1",
            false,
        ),
        // Unspecified search and hash are wildcards.
        (
            "https://example.com/books/:id",
            "https://example.com/books/1?x=y#z",
            true,
        ),
        // Named groups.
        (
            "https://example.com/users/:uid/posts/:pid",
            "https://example.com/users/42/posts/9",
            true,
        ),
        (
            "https://example.com/users/:uid/posts/:pid",
            "https://example.com/users/42",
            false,
        ),
        // Optional group and modifiers.
        (
            "https://example.com/books/:id?",
            "https://example.com/books",
            true,
        ),
        (
            "https://example.com/books/:id?",
            "https://example.com/books/7",
            true,
        ),
        (
            "https://example.com/files/:path+",
            "https://example.com/files/a/b/c",
            true,
        ),
        (
            "https://example.com/files/:path+",
            "https://example.com/files",
            false,
        ),
        // Wildcards.
        ("https://example.com/*", "https://example.com/a/b/c", true),
        ("https://example.com/*", "https://example.com/", true),
        ("https://example.com/*", "https://example.org/a", false),
        (
            "*://example.com/books/:id",
            "http://example.com/books/1",
            true,
        ),
        (
            "*://example.com/books/:id",
            "wss://example.com/books/1",
            true,
        ),
        ("https://*.example.com/*", "https://api.example.com/x", true),
        ("https://*.example.com/*", "https://example.com/x", false),
        // Regexp groups (Rust regex syntax, linear time).
        (
            "https://example.com/books/(\\d+)",
            "https://example.com/books/42",
            true,
        ),
        (
            "https://example.com/books/(\\d+)",
            "https://example.com/books/abc",
            false,
        ),
        (
            "https://example.com/books/:id(\\d+)",
            "https://example.com/books/7",
            true,
        ),
        (
            "https://example.com/books/:id(\\d+)",
            "https://example.com/books/x7",
            false,
        ),
        // Case: paths are case-sensitive (ignoreCase is never on); hosts and schemes are
        // canonicalised to lower case by the URL parser.
        (
            "https://example.com/books/:id",
            "https://example.com/BOOKS/1",
            false,
        ),
        (
            "https://example.com/books/:id",
            "https://EXAMPLE.com/books/1",
            true,
        ),
        (
            "https://example.com/books/:id",
            "HTTPS://example.com/books/1",
            true,
        ),
        // Canonicalisation of the topic: dot segments, default port, percent-encoding.
        (
            "https://example.com/books/:id",
            "https://example.com/a/../books/1",
            true,
        ),
        (
            "https://example.com/books/:id",
            "https://example.com:443/books/1",
            true,
        ),
        (
            "https://example.com/books/:id",
            "https://example.com:8443/books/1",
            false,
        ),
        (
            "https://example.com/books/:id",
            "https://example.com/books/a b",
            true,
        ),
        // Relative patterns against relative topics (both resolved against the fallback base).
        ("/books/:id", "/books/123", true),
        ("/books/:id", "/authors/123", false),
        ("/books/:id", "books/123", true),
        (
            "/.well-known/mercure/subscriptions/:match_type/:match/:subscriber",
            "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fe%2F1/urn%3Auuid%3Aab",
            true,
        ),
        (
            "/.well-known/mercure/subscriptions/exact/:match/:subscriber",
            "/.well-known/mercure/subscriptions/urlpattern/x/y",
            false,
        ),
        // Mixed relative and absolute only meet on the configured base, not the fallback.
        ("/books/:id", "https://example.com/books/123", false),
        ("https://example.com/books/:id", "/books/123", false),
        // Non-special schemes. The pattern's base (always given, as in the reference hub) turns
        // a pathname without a leading `/` into one under the base's path (URL Pattern's
        // "process a URLPatternInit"), so a pattern can't match an opaque path like a URN's.
        ("urn:*", "urn:example:book:1", false),
        ("urn:*", "urn:/example/1", true),
        ("foo://host/:id", "foo://host/1", true),
        ("foo://host/:id", "foo://other/1", false),
        // Topics that are no URL, even relative to the base, never match.
        ("*://*/*", "https://[::1", false),
        ("https://example.com/*", "https://exa mple.com/x", false),
        ("/books/:id", "http://[", false),
    ];

    #[test]
    fn url_patterns_with_the_fallback_base() {
        let c = SelectorCompiler::new(100);
        assert_eq!(c.url_pattern_base().as_str(), "http://mercure.invalid/");
        for &(pattern, topic, want) in FALLBACK_CASES {
            let s = match c.compile_matcher(MatchType::UrlPattern, pattern) {
                Ok(s) => s,
                Err(e) => panic!("{pattern}: {e}"),
            };
            assert_eq!(s.as_str(), pattern);
            assert_eq!(s.matches(topic), want, "{pattern} vs {topic}");
            // Same verdict as the crate's own `test`, which parses the topic itself.
            let Selector::UrlPattern(p) = &s else {
                panic!("{pattern}: not a URL pattern")
            };
            let reference = match c.url_pattern_base().join(topic) {
                Ok(u) => p.pattern.test(UrlPatternMatchInput::Url(u)).unwrap(),
                Err(_) => false,
            };
            assert_eq!(reference, want, "urlpattern's test: {pattern} vs {topic}");
        }
    }

    #[test]
    fn url_patterns_with_a_configured_base() {
        let base = url_pattern_base(Some("https://hub.example.com/.well-known/mercure"));
        let c = SelectorCompiler::with_base(100, base);
        let cases: &[(&str, &str, bool)] = &[
            ("/books/:id", "https://hub.example.com/books/123", true),
            ("/books/:id", "/books/123", true),
            ("https://hub.example.com/books/:id", "/books/123", true),
            ("/books/:id", "https://other.example.com/books/123", false),
            // Relative to the hub URL: a bare path segment replaces `mercure`.
            (
                "books/:id",
                "https://hub.example.com/.well-known/books/1",
                true,
            ),
            (
                "https://example.com/books/:id",
                "https://example.com/books/1",
                true,
            ),
        ];
        for &(pattern, topic, want) in cases {
            let s = c.compile_matcher(MatchType::UrlPattern, pattern).unwrap();
            assert_eq!(s.matches(topic), want, "{pattern} vs {topic}");
        }
    }

    #[test]
    fn pattern_bases() {
        let b = |s| url_pattern_base(Some(s)).map(|u| u.to_string());
        assert_eq!(
            b("https://hub.example.com/.well-known/mercure").as_deref(),
            Some("https://hub.example.com/.well-known/mercure")
        );
        assert_eq!(b("https://hub.example.com/other"), None);
        assert_eq!(b("/.well-known/mercure"), None);
        assert_eq!(b("urn:x:/.well-known/mercure"), None);
        assert_eq!(url_pattern_base(None), None);
    }

    #[test]
    fn invalid_url_patterns() {
        let c = SelectorCompiler::new(100);
        for bad in [
            "{unclosed",
            "https://example.com/books/(",
            "https://example.com/books/:",
            "https://example.com/(?=lookahead)",
            "https://example.com/books/(\\d+",
            "https://exa mple.com/:id",
            "https://example.com/\\",
        ] {
            match c.compile_matcher(MatchType::UrlPattern, bad) {
                Err(PatternError::InvalidUrlPattern(reason)) => assert!(!reason.is_empty()),
                Ok(s) => panic!("{bad:?} compiled: {s:?}"),
            }
            // The same text is a fine exact matcher.
            assert!(c.compile_matcher(MatchType::Exact, bad).is_ok());
        }
    }

    #[test]
    fn url_pattern_cache_is_bounded_and_shared() {
        let c = SelectorCompiler::new(2);
        let a = c.compile_matcher(MatchType::UrlPattern, "/a/:x").unwrap();
        let a2 = c.compile_matcher(MatchType::UrlPattern, "/a/:x").unwrap();
        match (&a, &a2) {
            (Selector::UrlPattern(x), Selector::UrlPattern(y)) => assert!(Arc::ptr_eq(x, y)),
            _ => panic!("not URL patterns"),
        }
        for i in 0..10 {
            c.compile_matcher(MatchType::UrlPattern, &format!("/p{i}/:x"))
                .unwrap();
            assert!(c.url_patterns.lock().len() <= 2);
        }
        let off = SelectorCompiler::new(0);
        off.compile_matcher(MatchType::UrlPattern, "/a/:x").unwrap();
        assert!(off.url_patterns.lock().is_empty());
    }
}
