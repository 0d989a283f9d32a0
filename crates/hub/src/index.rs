//! The subscriber index: which local subscribers want which update.
//!
//! Fan-out must cost O(matching subscribers), not O(all subscribers): exact selectors are found
//! through a hash map keyed by topic, `*` subscribers are a list, and URI-template selectors are
//! grouped by their text so each distinct template is evaluated once per update however many
//! subscribers share it. Draft-08 URL patterns are grouped the same way and every group is
//! tested, against topics parsed once per update: a URL pattern's literal text says little
//! about the topics it matches (relative resolution, host and scheme case, default ports,
//! percent-encoding, `*` in the host), so no prefix bucketing would be obviously correct.

use std::collections::HashMap;
use std::sync::Arc;

use crate::subscriber::Subscriber;
use crate::topic::{CompiledUrlPattern, ParsedTopic, Selector};
use crate::update::Update;

type Key = u64;

/// A subscriber as stored in a selector list: the key orders and deduplicates, the `Arc` avoids
/// a second lookup on the hot path.
#[derive(Debug, Clone)]
struct Entry {
    key: Key,
    sub: Arc<Subscriber>,
}

/// The subscribers sharing one template selector.
#[derive(Debug)]
struct TemplateGroup {
    selector: Selector,
    entries: Vec<Entry>,
}

/// Local subscribers, indexed by selector.
#[derive(Debug, Default)]
pub struct SubscriberIndex {
    next_key: Key,
    subscribers: HashMap<Key, Arc<Subscriber>>,
    exact: HashMap<Arc<str>, Vec<Entry>>,
    any: Vec<Entry>,
    /// Template groups bucketed by their literal prefix cut after its last `/` (a topic can only
    /// match a template that it starts with the literal prefix of). An update looks up the
    /// buckets of its topics' prefixes ending at each `/`, so it evaluates only the templates
    /// that could match instead of every template of every subscriber.
    templates: HashMap<Arc<str>, HashMap<Arc<str>, TemplateGroup>>,
    /// URL-pattern groups keyed by [`pattern_key`].
    url_patterns: HashMap<Box<str>, UrlPatternGroup>,
}

/// The subscribers sharing one URL pattern.
#[derive(Debug)]
struct UrlPatternGroup {
    pattern: Arc<CompiledUrlPattern>,
    entries: Vec<Entry>,
}

/// A URL pattern's group key: its base and its text (a pattern means something else against
/// another base). A URL never contains NUL, so the key is unambiguous.
fn pattern_key(p: &CompiledUrlPattern) -> Box<str> {
    format!("{}\0{}", p.base(), p.as_str()).into_boxed_str()
}

/// A handle to remove a subscriber from the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexKey(Key);

/// The bucket of a template: its text before the first `{`, cut after the last `/`.
fn bucket_of(template: &str) -> &str {
    let literal = &template[..template.find('{').unwrap_or(template.len())];
    &literal[..literal.rfind('/').map_or(0, |i| i + 1)]
}

impl SubscriberIndex {
    pub fn new() -> SubscriberIndex {
        SubscriberIndex::default()
    }

    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    pub fn insert(&mut self, s: Arc<Subscriber>) -> IndexKey {
        let key = self.next_key;
        self.next_key += 1;
        let entry = Entry {
            key,
            sub: s.clone(),
        };
        for sel in s.matchers().iter().map(|m| &m.selector) {
            match sel {
                Selector::Any => self.any.push(entry.clone()),
                Selector::UrlPattern(p) => self
                    .url_patterns
                    .entry(pattern_key(p))
                    .or_insert_with(|| UrlPatternGroup {
                        pattern: p.clone(),
                        entries: Vec::new(),
                    })
                    .entries
                    .push(entry.clone()),
                Selector::Exact(t) => self.exact.entry(t.clone()).or_default().push(entry.clone()),
                Selector::Template(t) => {
                    self.templates
                        .entry(Arc::from(bucket_of(t.as_str())))
                        .or_default()
                        .entry(Arc::from(t.as_str()))
                        .or_insert_with(|| TemplateGroup {
                            selector: sel.clone(),
                            entries: Vec::new(),
                        })
                        .entries
                        .push(entry.clone());
                }
            }
        }
        self.subscribers.insert(key, s);
        IndexKey(key)
    }

    pub fn remove(&mut self, key: IndexKey) -> Option<Arc<Subscriber>> {
        let s = self.subscribers.remove(&key.0)?;
        for sel in s.matchers().iter().map(|m| &m.selector) {
            match sel {
                Selector::Any => self.any.retain(|e| e.key != key.0),
                Selector::UrlPattern(p) => {
                    let k = pattern_key(p);
                    if let Some(g) = self.url_patterns.get_mut(&k) {
                        g.entries.retain(|e| e.key != key.0);
                        if g.entries.is_empty() {
                            self.url_patterns.remove(&k);
                        }
                    }
                }
                Selector::Exact(t) => {
                    if let Some(v) = self.exact.get_mut(t) {
                        v.retain(|e| e.key != key.0);
                        if v.is_empty() {
                            self.exact.remove(t);
                        }
                    }
                }
                Selector::Template(t) => {
                    let bucket = bucket_of(t.as_str());
                    if let Some(groups) = self.templates.get_mut(bucket) {
                        if let Some(g) = groups.get_mut(t.as_str()) {
                            g.entries.retain(|e| e.key != key.0);
                            if g.entries.is_empty() {
                                groups.remove(t.as_str());
                            }
                        }
                        if groups.is_empty() {
                            self.templates.remove(bucket);
                        }
                    }
                }
            }
        }
        Some(s)
    }

    /// Calls `f` once for every subscriber that must receive `update` (routing and private
    /// authorization both checked), each subscriber at most once.
    pub fn for_each_match(&self, update: &Update, mut f: impl FnMut(&Arc<Subscriber>)) {
        let topics = update.topics();
        let mut found: Vec<&Entry> = Vec::new();
        found.extend(self.any.iter());
        for t in topics {
            if let Some(v) = self.exact.get(t.as_str()) {
                found.extend(v.iter());
            }
        }
        if !self.templates.is_empty() {
            // Distinct buckets can be reached from several topics; a template group is
            // evaluated once per bucket visit, which is cheap next to deduplicating groups.
            let mut visit = |bucket: &str| {
                if let Some(groups) = self.templates.get(bucket) {
                    for g in groups.values() {
                        if g.selector.matches_any(topics) {
                            found.extend(g.entries.iter());
                        }
                    }
                }
            };
            let mut seen: Vec<&str> = Vec::new();
            for t in topics {
                for (i, _) in t
                    .match_indices('/')
                    .chain(std::iter::once((usize::MAX, "")))
                {
                    let bucket = if i == usize::MAX { "" } else { &t[..=i] };
                    if !seen.contains(&bucket) {
                        seen.push(bucket);
                        visit(bucket);
                    }
                }
            }
        }
        if !self.url_patterns.is_empty() {
            // Topics are parsed once, against the base of the first pattern: every pattern of a
            // hub shares its compiler's base. A pattern with another base parses for itself.
            let mut parsed: Option<(&url::Url, Vec<Option<ParsedTopic>>)> = None;
            for g in self.url_patterns.values() {
                let base = g.pattern.base();
                let (parsed_base, topics_parsed) = parsed.get_or_insert_with(|| {
                    (
                        base,
                        topics.iter().map(|t| ParsedTopic::parse(base, t)).collect(),
                    )
                });
                let hit = if *parsed_base == base {
                    topics_parsed
                        .iter()
                        .flatten()
                        .any(|t| g.pattern.matches_parsed(t))
                } else {
                    topics.iter().any(|t| g.pattern.matches(t))
                };
                if hit {
                    found.extend(g.entries.iter());
                }
            }
        }
        // A subscriber with several matching selectors, or a topic listed twice, receives the
        // update once.
        found.sort_unstable_by_key(|e| e.key);
        found.dedup_by_key(|e| e.key);
        for e in found {
            if e.sub.can_receive(update) {
                f(&e.sub);
            }
        }
    }

    /// Every subscriber, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscriber>> {
        self.subscribers.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::{Matcher, SubscribeRequest};
    use crate::topic::{MatchType, SelectorCompiler};
    use crate::update::UpdateData;

    fn sub(c: &SelectorCompiler, topics: &[&str], private: Option<&[&str]>) -> Arc<Subscriber> {
        Arc::new(Subscriber::new(
            &SubscribeRequest {
                topics: topics.iter().map(|s| s.to_string()).collect(),
                private_topics: private.map(|p| p.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            c,
            100,
        ))
    }

    fn upd(topics: &[&str], private: bool) -> Update {
        Update::new(UpdateData {
            id: "x".into(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            data: String::new(),
            private,
            event_type: None,
            retry: None,
        })
    }

    fn matched(ix: &SubscriberIndex, u: &Update) -> Vec<String> {
        let mut v = Vec::new();
        ix.for_each_match(u, |s| v.push(s.id().to_string()));
        v.sort();
        v
    }

    #[test]
    fn finds_exact_any_and_templates_once() {
        let c = SelectorCompiler::new(100);
        let mut ix = SubscriberIndex::new();
        let a = sub(&c, &["https://e/1", "https://e/{id}"], None);
        let b = sub(&c, &["*"], None);
        let d = sub(&c, &["https://other"], None);
        let p = sub(&c, &["https://e/{id}"], Some(&["https://e/1"]));
        let ka = ix.insert(a.clone());
        ix.insert(b.clone());
        ix.insert(d.clone());
        ix.insert(p.clone());
        let mut want = vec![a.id().to_string(), b.id().to_string(), p.id().to_string()];
        want.sort();
        assert_eq!(matched(&ix, &upd(&["https://e/1"], false)), want);
        // Private: only the granted subscriber.
        assert_eq!(
            matched(&ix, &upd(&["https://e/1"], true)),
            vec![p.id().to_string()]
        );
        ix.remove(ka);
        assert_eq!(ix.len(), 3);
        assert!(!matched(&ix, &upd(&["https://e/1"], false)).contains(&a.id().to_string()));
        assert!(!ix.exact.contains_key("https://e/1"));
    }

    #[test]
    fn template_buckets() {
        assert_eq!(bucket_of("https://e/users/{id}"), "https://e/users/");
        assert_eq!(bucket_of("https://e/users/u{id}"), "https://e/users/");
        assert_eq!(bucket_of("{+any}"), "");
        assert_eq!(
            bucket_of("/.well-known/mercure/subscriptions{/topic}{/subscriber}"),
            "/.well-known/mercure/"
        );
        let c = SelectorCompiler::new(100);
        let mut ix = SubscriberIndex::new();
        let deep = sub(&c, &["https://e/users/{id}/books/{b}"], None);
        let root = sub(&c, &["{+url}"], None);
        let other = sub(&c, &["https://f/{x}"], None);
        let prefix_mid = sub(&c, &["https://e/users/u{id}"], None);
        for s in [&deep, &root, &other, &prefix_mid] {
            ix.insert(s.clone());
        }
        let mut want = vec![deep.id().to_string(), root.id().to_string()];
        want.sort();
        assert_eq!(
            matched(&ix, &upd(&["https://e/users/7/books/9"], false)),
            want
        );
        let mut want = vec![root.id().to_string(), prefix_mid.id().to_string()];
        want.sort();
        assert_eq!(matched(&ix, &upd(&["https://e/users/u7"], false)), want);
        // A topic without any slash still reaches the templates of the empty bucket.
        assert_eq!(
            matched(&ix, &upd(&["plain"], false)),
            vec![root.id().to_string()]
        );
    }

    /// A draft-08 subscriber: `(type, pattern)` matchers, compiled grants.
    fn sub08(
        c: &SelectorCompiler,
        matchers: &[(MatchType, &str)],
        grants: Option<&[(MatchType, &str)]>,
    ) -> Arc<Subscriber> {
        let compile = |&(t, p): &(MatchType, &str)| c.compile_matcher(t, p).unwrap();
        Arc::new(Subscriber::new(
            &SubscribeRequest {
                matchers: matchers
                    .iter()
                    .map(|m| Matcher::new(m.0, compile(m), None))
                    .collect(),
                private_grants: grants.map(|g| g.iter().map(compile).collect()),
                ..Default::default()
            },
            c,
            100,
        ))
    }

    #[test]
    fn url_patterns_are_routed() {
        use MatchType::{Exact, UrlPattern};
        let c = SelectorCompiler::new(100);
        let mut ix = SubscriberIndex::new();
        let books = sub08(&c, &[(UrlPattern, "https://e/books/:id")], None);
        let books_too = sub08(&c, &[(UrlPattern, "https://e/books/:id")], None);
        let any_host = sub08(&c, &[(UrlPattern, "https://*/books/*")], None);
        let relative = sub08(&c, &[(UrlPattern, "/books/:id")], None);
        // Exact in draft-08 never expands braces.
        let braces = sub08(&c, &[(Exact, "https://e/books/{id}")], None);
        let both = sub08(
            &c,
            &[(Exact, "https://e/books/1"), (UrlPattern, "https://e/*")],
            None,
        );
        let star = sub08(&c, &[(UrlPattern, "*")], None);
        let kb = ix.insert(books.clone());
        for s in [&books_too, &any_host, &relative, &braces, &both, &star] {
            ix.insert(s.clone());
        }
        let ids = |subs: &[&Arc<Subscriber>]| {
            let mut v: Vec<String> = subs.iter().map(|s| s.id().to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(
            matched(&ix, &upd(&["https://e/books/1"], false)),
            ids(&[&books, &books_too, &any_host, &both, &star])
        );
        assert_eq!(
            matched(&ix, &upd(&["https://f/books/1/2"], false)),
            ids(&[&any_host, &star])
        );
        assert_eq!(
            matched(&ix, &upd(&["/books/1"], false)),
            ids(&[&relative, &star])
        );
        assert_eq!(
            matched(&ix, &upd(&["https://e/books/{id}"], false)),
            ids(&[&books, &books_too, &any_host, &braces, &both, &star])
        );
        // An unparsable topic reaches only `*`; an alternate topic still routes.
        assert_eq!(
            matched(&ix, &upd(&["http://[", "/books/2"], false)),
            ids(&[&relative, &star])
        );
        assert_eq!(matched(&ix, &upd(&["http://["], false)), ids(&[&star]));
        // Removal keeps the group while another subscriber shares it, then drops it.
        ix.remove(kb);
        assert_eq!(ix.url_patterns.len(), 4);
        assert_eq!(
            matched(&ix, &upd(&["https://e/books/7"], false)),
            ids(&[&books_too, &any_host, &both, &star])
        );
    }

    #[test]
    fn url_pattern_groups_are_dropped_when_empty() {
        let c = SelectorCompiler::new(100);
        let mut ix = SubscriberIndex::new();
        let a = sub08(&c, &[(MatchType::UrlPattern, "/a/:x")], None);
        let b = sub08(&c, &[(MatchType::UrlPattern, "/a/:x")], None);
        let ka = ix.insert(a);
        let kb = ix.insert(b);
        assert_eq!(ix.url_patterns.len(), 1);
        ix.remove(ka);
        assert_eq!(ix.url_patterns.len(), 1);
        ix.remove(kb);
        assert!(ix.url_patterns.is_empty());
        assert!(matched(&ix, &upd(&["/a/1"], false)).is_empty());
    }

    #[test]
    fn url_patterns_under_another_base_are_separate_groups() {
        let fallback = SelectorCompiler::new(100);
        let hub = SelectorCompiler::with_base(
            100,
            crate::topic::url_pattern_base(Some("https://hub.example/.well-known/mercure")),
        );
        let mut ix = SubscriberIndex::new();
        let on_fallback = sub08(&fallback, &[(MatchType::UrlPattern, "/b/:x")], None);
        let on_hub = sub08(&hub, &[(MatchType::UrlPattern, "/b/:x")], None);
        ix.insert(on_fallback.clone());
        ix.insert(on_hub.clone());
        assert_eq!(ix.url_patterns.len(), 2);
        assert_eq!(
            matched(&ix, &upd(&["https://hub.example/b/1"], false)),
            vec![on_hub.id().to_string()]
        );
        let mut both = vec![on_fallback.id().to_string(), on_hub.id().to_string()];
        both.sort();
        assert_eq!(matched(&ix, &upd(&["/b/1"], false)), both);
    }

    #[test]
    fn private_updates_need_a_compiled_grant() {
        use MatchType::{Exact, UrlPattern};
        let c = SelectorCompiler::new(100);
        let mut ix = SubscriberIndex::new();
        let anon = sub08(&c, &[(UrlPattern, "https://e/books/:id")], None);
        let user42 = sub08(
            &c,
            &[(UrlPattern, "https://e/books/:id")],
            Some(&[(UrlPattern, "https://e/users/42/*")]),
        );
        let exact = sub08(
            &c,
            &[(Exact, "https://e/books/1")],
            Some(&[(Exact, "https://e/books/1")]),
        );
        let no_grants = sub08(&c, &[(UrlPattern, "*")], Some(&[]));
        for s in [&anon, &user42, &exact, &no_grants] {
            ix.insert(s.clone());
        }
        // Routed by the canonical topic, authorized by the alternate one.
        assert_eq!(
            matched(
                &ix,
                &upd(&["https://e/books/1", "https://e/users/42/books/1"], true)
            ),
            {
                let mut v = vec![user42.id().to_string(), exact.id().to_string()];
                v.sort();
                v
            }
        );
        assert_eq!(
            matched(
                &ix,
                &upd(&["https://e/books/2", "https://e/users/7/books/2"], true)
            ),
            Vec::<String>::new()
        );
        assert_eq!(matched(&ix, &upd(&["https://e/books/2"], false)).len(), 3);
    }
}
