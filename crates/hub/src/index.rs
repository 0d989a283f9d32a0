//! The subscriber index: which local subscribers want which update.
//!
//! Fan-out must cost O(matching subscribers), not O(all subscribers): exact selectors are found
//! through a hash map keyed by topic, `*` subscribers are a list, and URI-template selectors are
//! grouped by their text so each distinct template is evaluated once per update however many
//! subscribers share it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::subscriber::Subscriber;
use crate::topic::Selector;
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
        for sel in s.selectors() {
            match sel {
                Selector::Any => self.any.push(entry.clone()),
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
        for sel in s.selectors() {
            match sel {
                Selector::Any => self.any.retain(|e| e.key != key.0),
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
    use crate::subscriber::SubscribeRequest;
    use crate::topic::SelectorCompiler;
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
}
