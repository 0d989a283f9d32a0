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

/// Local subscribers, indexed by selector.
#[derive(Debug, Default)]
pub struct SubscriberIndex {
    next_key: Key,
    subscribers: HashMap<Key, Arc<Subscriber>>,
    exact: HashMap<Arc<str>, Vec<Key>>,
    any: Vec<Key>,
    templates: HashMap<Arc<str>, (Selector, Vec<Key>)>,
}

/// A handle to remove a subscriber from the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexKey(Key);

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
        for sel in s.selectors() {
            match sel {
                Selector::Any => self.any.push(key),
                Selector::Exact(t) => self.exact.entry(t.clone()).or_default().push(key),
                Selector::Template(t) => {
                    self.templates
                        .entry(Arc::from(t.as_str()))
                        .or_insert_with(|| (sel.clone(), Vec::new()))
                        .1
                        .push(key);
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
                Selector::Any => self.any.retain(|k| *k != key.0),
                Selector::Exact(t) => {
                    if let Some(v) = self.exact.get_mut(t) {
                        v.retain(|k| *k != key.0);
                        if v.is_empty() {
                            self.exact.remove(t);
                        }
                    }
                }
                Selector::Template(t) => {
                    if let Some((_, v)) = self.templates.get_mut(t.as_str()) {
                        v.retain(|k| *k != key.0);
                        if v.is_empty() {
                            self.templates.remove(t.as_str());
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
        let mut keys: Vec<Key> = Vec::new();
        keys.extend_from_slice(&self.any);
        for t in topics {
            if let Some(v) = self.exact.get(t.as_str()) {
                keys.extend_from_slice(v);
            }
        }
        for (sel, v) in self.templates.values() {
            if sel.matches_any(topics) {
                keys.extend_from_slice(v);
            }
        }
        // A subscriber with several matching selectors, or a topic listed twice, receives the
        // update once.
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            if let Some(s) = self.subscribers.get(&k)
                && s.can_receive(update)
            {
                f(s);
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
}
