//! Topic selectors (draft-07): `*`, exact strings, and RFC 6570 URI templates.
//!
//! A selector is compiled once when a subscriber connects or a token is read; compiled templates
//! are cached by their text because the same few selectors come back on every connection.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use quicksilver_uritemplate::UriTemplate;

/// A compiled topic selector.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `*`: every topic.
    Any,
    /// Byte-for-byte equality.
    Exact(Arc<str>),
    /// An RFC 6570 template; the topic must be one of its expansions.
    Template(Arc<UriTemplate>),
}

impl Selector {
    /// The selector text as the client sent it.
    pub fn as_str(&self) -> &str {
        match self {
            Selector::Any => "*",
            Selector::Exact(s) => s,
            Selector::Template(t) => t.as_str(),
        }
    }

    /// Whether `topic` is selected. An exact match always counts, even for a template selector,
    /// as in the reference hub.
    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Selector::Any => true,
            Selector::Exact(s) => &**s == topic,
            Selector::Template(t) => t.as_str() == topic || t.is_match(topic),
        }
    }

    /// Whether any of `topics` is selected.
    pub fn matches_any(&self, topics: &[String]) -> bool {
        topics.iter().any(|t| self.matches(t))
    }
}

/// Compiles selectors, caching compiled templates. Selectors that contain `{` but are not valid
/// templates fall back to exact matching, as in the reference hub.
#[derive(Debug)]
pub struct SelectorCompiler {
    templates: Mutex<HashMap<Arc<str>, Option<Arc<UriTemplate>>>>,
    capacity: usize,
}

impl SelectorCompiler {
    /// `capacity` bounds the number of cached templates (`topic_selector_cache`); 0 disables it.
    pub fn new(capacity: usize) -> SelectorCompiler {
        SelectorCompiler {
            templates: Mutex::new(HashMap::new()),
            capacity,
        }
    }

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
}
