//! A subscriber connected to this node, and its bounded delivery queue.
//!
//! The queue is a mutex-guarded deque plus the waker of the task writing the stream: delivering
//! an update is a push and a wake, with no task, channel or timer per subscriber. A subscriber
//! whose queue is full is disconnected (the reference hub's policy, with its bound of 1000
//! updates), so one slow client never slows the others.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::topic::{MatchType, Selector, SelectorCompiler};
use crate::update::Update;

/// The reference hub's per-subscriber buffer.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1000;

/// Why a subscriber's stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue overflowed: it did not read fast enough.
    TooSlow,
    /// The hub is shutting down.
    Shutdown,
}

/// One subscription of a subscriber: a compiled selector, the draft-08 matcher type it was asked
/// with, and the payload shown for it in subscription documents.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub selector: Selector,
    /// `None` for a draft-07 `topic` selector.
    pub match_type: Option<MatchType>,
    /// The draft-08 per-subscription payload (from the first token `subscribe` grant matching
    /// the pattern). Ignored for draft-07 selectors, whose payload is the token-wide one.
    pub payload: Option<serde_json::Value>,
}

impl Matcher {
    /// A draft-08 subscription, its selector compiled by
    /// [`SelectorCompiler::compile_matcher`].
    pub fn new(
        match_type: MatchType,
        selector: Selector,
        payload: Option<serde_json::Value>,
    ) -> Matcher {
        Matcher {
            selector,
            match_type: Some(match_type),
            payload,
        }
    }

    /// The pattern as the client sent it.
    pub fn pattern(&self) -> &str {
        self.selector.as_str()
    }
}

/// What the HTTP layer learned from a subscribe request. A subscriber has one subscription per
/// `topics` entry (draft-07), then one per `matchers` entry (draft-08); its private-update
/// grants are the union of `private_topics` and `private_grants`.
#[derive(Debug, Clone, Default)]
pub struct SubscribeRequest {
    /// The draft-07 `topic` selectors, as sent (compiled by the hub).
    pub topics: Vec<String>,
    /// The draft-08 subscriptions (`match`, `match_exact`, `match_urlpattern`), compiled.
    pub matchers: Vec<Matcher>,
    /// The token's draft-07 `mercure.subscribe` selectors. With `private_grants`, `None` for
    /// anonymous subscribers and tokens without grants, who receive public updates only.
    pub private_topics: Option<Vec<String>>,
    /// The token's draft-08 `subscribe` grants, compiled with
    /// [`SelectorCompiler::compile_matcher`].
    pub private_grants: Option<Vec<Selector>>,
    /// The token's draft-07 `mercure.payload`, shown for every `topics` subscription.
    pub payload: Option<serde_json::Value>,
    /// The cursor sent as `Last-Event-ID` or `lastEventID`, if any.
    pub last_event_id: Option<String>,
}

/// One subscriber (one SSE connection).
#[derive(Debug)]
pub struct Subscriber {
    id: String,
    escaped_id: String,
    /// The pattern of each subscription, as sent (parallel to `matchers`).
    topics: Vec<String>,
    matchers: Vec<Matcher>,
    private_selectors: Option<Vec<Selector>>,
    payload: Option<serde_json::Value>,
    queue: Mutex<Queue>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Arc<Update>>,
    waker: Option<Waker>,
    closed: Option<CloseReason>,
}

impl Subscriber {
    pub fn new(req: &SubscribeRequest, compiler: &SelectorCompiler, capacity: usize) -> Subscriber {
        let id = format!("urn:uuid:{}", uuid::Uuid::new_v4());
        let matchers: Vec<Matcher> = req
            .topics
            .iter()
            .map(|t| Matcher {
                selector: compiler.compile(t),
                match_type: None,
                // Draft-07 subscriptions show the token-wide payload, kept once on the
                // subscriber rather than copied into each.
                payload: None,
            })
            .chain(req.matchers.iter().cloned())
            .collect();
        let private_selectors = match (&req.private_topics, &req.private_grants) {
            (None, None) => None,
            (topics, grants) => Some(
                topics
                    .iter()
                    .flat_map(|t| t.iter().map(|t| compiler.compile(t)))
                    .chain(grants.iter().flatten().cloned())
                    .collect(),
            ),
        };
        Subscriber {
            escaped_id: query_escape(&id),
            id,
            topics: matchers.iter().map(|m| m.pattern().to_string()).collect(),
            matchers,
            private_selectors,
            payload: req.payload.clone(),
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
        }
    }

    /// The hub-generated `urn:uuid:` identifier.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id percent-encoded as a path segment.
    pub fn escaped_id(&self) -> &str {
        &self.escaped_id
    }

    /// The pattern of each subscription, as sent.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The subscriptions, in the order of [`Subscriber::topics`].
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The draft-07 token-wide payload.
    pub fn payload(&self) -> Option<&serde_json::Value> {
        self.payload.as_ref()
    }

    /// The payload shown for subscription `i`: its own for a draft-08 subscription, the
    /// token-wide one for a draft-07 selector.
    pub fn subscription_payload(&self, i: usize) -> Option<&serde_json::Value> {
        match self.matchers.get(i)? {
            Matcher {
                match_type: Some(_),
                payload,
                ..
            } => payload.as_ref(),
            Matcher {
                match_type: None, ..
            } => self.payload.as_ref(),
        }
    }

    /// Whether the update is for this subscriber: some selector matches some topic, and, for a
    /// private update, some granted selector matches some topic (not necessarily the same one).
    pub fn matches(&self, update: &Update) -> bool {
        let topics = update.topics();
        self.matchers.iter().any(|m| m.selector.matches_any(topics)) && self.can_receive(update)
    }

    /// The private-update rule alone (routing is checked by the index).
    pub fn can_receive(&self, update: &Update) -> bool {
        if !update.is_private() {
            return true;
        }
        match &self.private_selectors {
            Some(granted) => crate::topic::any_matches(granted, update.topics()),
            None => false,
        }
    }

    /// Queues a live update. Returns false (and closes the stream) when the queue is full.
    pub fn push(&self, update: Arc<Update>) -> bool {
        let waker = {
            let mut q = self.queue.lock();
            if q.closed.is_some() {
                return false;
            }
            if q.items.len() >= self.capacity {
                q.closed = Some(CloseReason::TooSlow);
                q.items.clear();
                tracing::info!(subscriber = %self.id, "subscriber unable to receive updates fast enough, disconnected");
            } else {
                q.items.push_back(update);
            }
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        true
    }

    /// Ends the stream after what is already queued has been written (for `Shutdown`).
    pub fn close(&self, reason: CloseReason) {
        let waker = {
            let mut q = self.queue.lock();
            if q.closed.is_none() {
                q.closed = Some(reason);
            }
            q.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the stream was closed, and why.
    pub fn closed(&self) -> Option<CloseReason> {
        self.queue.lock().closed
    }

    /// The next queued update, `Ready(None)` once closed and drained (a too-slow subscriber is
    /// not drained: its queue was dropped), or `Pending` with the waker registered.
    pub fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Arc<Update>>> {
        let mut q = self.queue.lock();
        if let Some(u) = q.items.pop_front() {
            return Poll::Ready(Some(u));
        }
        if q.closed.is_some() {
            return Poll::Ready(None);
        }
        match &q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The number of queued updates (for tests and metrics).
    pub fn queued(&self) -> usize {
        self.queue.lock().items.len()
    }
}

/// Percent-encodes like Go's `url.QueryEscape`: unreserved characters stay, a space becomes `+`,
/// everything else is `%XX`. The reference hub builds draft-07 presence topics with it, and
/// clients match those topics byte for byte.
pub fn query_escape(s: &str) -> String {
    escape(s, "+")
}

/// The draft-08 path-segment encoding: [`query_escape`] with a space as `%20` (a `+` in the
/// input is already `%2B`), so only RFC 3986 unreserved characters stay literal.
pub fn path_escape(s: &str) -> String {
    escape(s, "%20")
}

fn escape(s: &str, space: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push_str(space),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::UpdateData;

    fn upd(topics: &[&str], private: bool) -> Update {
        Update::new(UpdateData {
            id: "i".into(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            data: String::new(),
            private,
            event_type: None,
            retry: None,
        })
    }

    #[test]
    fn escape_like_go() {
        assert_eq!(query_escape("urn:uuid:abc"), "urn%3Auuid%3Aabc");
        assert_eq!(
            query_escape("https://example.com/{selector} x"),
            "https%3A%2F%2Fexample.com%2F%7Bselector%7D+x"
        );
        assert_eq!(
            path_escape("https://example.com/:id a+b"),
            "https%3A%2F%2Fexample.com%2F%3Aid%20a%2Bb"
        );
        assert_eq!(path_escape("urn:uuid:abc"), "urn%3Auuid%3Aabc");
        assert_eq!(path_escape("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[test]
    fn private_rule() {
        let c = SelectorCompiler::new(10);
        let anon = Subscriber::new(
            &SubscribeRequest {
                topics: vec!["*".into()],
                ..Default::default()
            },
            &c,
            10,
        );
        assert!(anon.matches(&upd(&["a"], false)));
        assert!(!anon.matches(&upd(&["a"], true)));
        let granted = Subscriber::new(
            &SubscribeRequest {
                topics: vec!["https://e/books/{id}".into()],
                private_topics: Some(vec!["https://e/users/42/{+rest}".into()]),
                ..Default::default()
            },
            &c,
            10,
        );
        // Routed by the first topic, authorized by the alternate one.
        assert!(granted.matches(&upd(
            &["https://e/books/1", "https://e/users/42/books/1"],
            true
        )));
        assert!(!granted.matches(&upd(
            &["https://e/books/1", "https://e/users/7/books/1"],
            true
        )));
    }

    #[test]
    fn overflow_closes() {
        let c = SelectorCompiler::new(10);
        let s = Subscriber::new(&SubscribeRequest::default(), &c, 2);
        let u = Arc::new(upd(&["a"], false));
        assert!(s.push(u.clone()));
        assert!(s.push(u.clone()));
        assert_eq!(s.closed(), None);
        s.push(u);
        assert_eq!(s.closed(), Some(CloseReason::TooSlow));
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn draft08_subscriptions_and_grants() {
        let c = SelectorCompiler::new(10);
        let m = |t, p: &str| c.compile_matcher(t, p).unwrap();
        let s = Subscriber::new(
            &SubscribeRequest {
                topics: vec!["https://e/{id}".into()],
                matchers: vec![
                    Matcher::new(
                        MatchType::UrlPattern,
                        m(MatchType::UrlPattern, "https://e/books/:id"),
                        Some(serde_json::json!(1)),
                    ),
                    Matcher::new(MatchType::Exact, m(MatchType::Exact, "*"), None),
                ],
                private_topics: Some(vec!["https://e/users/{u}".into()]),
                private_grants: Some(vec![m(MatchType::UrlPattern, "https://e/admin/*")]),
                payload: Some(serde_json::json!("token")),
                ..Default::default()
            },
            &c,
            10,
        );
        assert_eq!(s.topics(), ["https://e/{id}", "https://e/books/:id", "*"]);
        let types: Vec<_> = s.matchers().iter().map(|m| m.match_type).collect();
        assert_eq!(
            types,
            [None, Some(MatchType::UrlPattern), Some(MatchType::Exact)]
        );
        // Draft-07 selectors show the token-wide payload, draft-08 ones their own.
        assert_eq!(s.subscription_payload(0), Some(&serde_json::json!("token")));
        assert_eq!(s.subscription_payload(1), Some(&serde_json::json!(1)));
        assert_eq!(s.subscription_payload(2), None);
        assert_eq!(s.subscription_payload(3), None);
        // Grants are the union of both kinds.
        assert!(s.matches(&upd(&["https://e/users/1"], true)));
        assert!(s.matches(&upd(&["https://e/admin/x/y"], true)));
        assert!(!s.matches(&upd(&["https://e/other"], true)));
        // Draft-08 grants alone, even empty, are "a token without grants".
        let none = Subscriber::new(
            &SubscribeRequest {
                matchers: vec![Matcher::new(MatchType::Exact, Selector::Any, None)],
                private_grants: Some(vec![]),
                ..Default::default()
            },
            &c,
            10,
        );
        assert!(none.matches(&upd(&["a"], false)));
        assert!(!none.matches(&upd(&["a"], true)));
    }
}
