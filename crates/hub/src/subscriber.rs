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

use crate::topic::{Selector, SelectorCompiler};
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

/// What the HTTP layer learned from a subscribe request.
#[derive(Debug, Clone, Default)]
pub struct SubscribeRequest {
    /// The `topic` selectors, as sent.
    pub topics: Vec<String>,
    /// The token's `mercure.subscribe` selectors; `None` for anonymous subscribers and tokens
    /// without the claim, who receive public updates only.
    pub private_topics: Option<Vec<String>>,
    /// The token's `mercure.payload`, shown in presence documents.
    pub payload: Option<serde_json::Value>,
    /// The cursor sent as `Last-Event-ID` or `lastEventID`, if any.
    pub last_event_id: Option<String>,
}

/// One subscriber (one SSE connection).
#[derive(Debug)]
pub struct Subscriber {
    id: String,
    escaped_id: String,
    topics: Vec<String>,
    selectors: Vec<Selector>,
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
        Subscriber {
            escaped_id: query_escape(&id),
            id,
            topics: req.topics.clone(),
            selectors: compiler.compile_all(&req.topics),
            private_selectors: req.private_topics.as_ref().map(|p| compiler.compile_all(p)),
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

    /// The subscribed selectors, as sent.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    pub(crate) fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    pub fn payload(&self) -> Option<&serde_json::Value> {
        self.payload.as_ref()
    }

    /// Whether the update is for this subscriber: some selector matches some topic, and, for a
    /// private update, some granted selector matches some topic (not necessarily the same one).
    pub fn matches(&self, update: &Update) -> bool {
        let topics = update.topics();
        self.selectors.iter().any(|s| s.matches_any(topics)) && self.can_receive(update)
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
/// everything else is `%XX`. The reference hub builds presence topics with it, and clients match
/// those topics byte for byte.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
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
}
