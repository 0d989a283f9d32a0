//! The in-memory transport (`transport local`): one node, a bounded ring of recent updates.
//!
//! The reference hub's local transport keeps no history; ours keeps the last `size` updates so
//! `Last-Event-ID` works on one node without a disk. `size 0` keeps none. Appending and
//! delivering happen under one lock, so the delivery order is the log order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::transport::{History, LogSink, Position, Tail, Transport, TransportError};
use crate::update::{EARLIEST, Update};

/// The default number of updates kept by `transport local`.
pub const DEFAULT_LOCAL_HISTORY: usize = 1000;

/// The in-memory log.
pub struct LocalTransport {
    size: usize,
    state: Mutex<State>,
    sink: OnceLock<Arc<dyn LogSink>>,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// The kept updates; `ring[0]` is at position `first`.
    ring: VecDeque<Arc<Update>>,
    first: u128,
    next: u128,
    /// Event id -> (position of its first kept occurrence, kept occurrences).
    ids: HashMap<Arc<str>, (u128, u32)>,
}

impl LocalTransport {
    /// Keeps the last `size` updates (0: none).
    pub fn new(size: usize) -> LocalTransport {
        LocalTransport {
            size,
            state: Mutex::new(State {
                first: 1,
                next: 1,
                ..State::default()
            }),
            sink: OnceLock::new(),
        }
    }
}

impl State {
    fn push(&mut self, size: usize, update: &Arc<Update>, pos: u128) {
        if size == 0 {
            self.first = pos + 1;
            return;
        }
        let id: Arc<str> = Arc::from(update.id());
        self.ids
            .entry(id)
            .and_modify(|e| e.1 += 1)
            .or_insert((pos, 1));
        self.ring.push_back(update.clone());
        while self.ring.len() > size {
            let Some(old) = self.ring.pop_front() else {
                break;
            };
            let old_pos = self.first;
            self.first += 1;
            self.forget(old.id(), old_pos);
        }
    }

    fn forget(&mut self, id: &str, pos: u128) {
        let Some(entry) = self.ids.get_mut(id) else {
            return;
        };
        entry.1 -= 1;
        if entry.1 == 0 {
            self.ids.remove(id);
        } else if entry.0 == pos {
            // A duplicate id is still kept: its first occurrence is now a later one.
            let first = self.first;
            if let Some(i) = self.ring.iter().position(|u| u.id() == id) {
                entry.0 = first + i as u128;
            }
        }
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn name(&self) -> &str {
        "local"
    }

    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError> {
        self.sink
            .set(sink)
            .map_err(|_| TransportError::Backend("transport started twice".into()))?;
        // A new in-memory log is empty.
        Ok(Tail::default())
    }

    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError> {
        let sink = self
            .sink
            .get()
            .ok_or_else(|| TransportError::Backend("transport not started".into()))?;
        let mut st = self.state.lock();
        if st.closed {
            return Err(TransportError::Closed);
        }
        let pos = st.next;
        st.next += 1;
        st.push(self.size, &update, pos);
        // Delivered under the lock: the order subscribers see is the order of the log.
        sink.deliver(update, Position(pos));
        Ok(())
    }

    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError> {
        let st = self.state.lock();
        let start = if after_id == EARLIEST {
            st.first
        } else {
            match st.ids.get(after_id) {
                Some((pos, _)) => pos + 1,
                None => return Ok(History::empty(false)),
            }
        };
        let end = until.0.min(st.next.saturating_sub(1));
        let mut out = Vec::new();
        if end >= start {
            let from = (start - st.first) as usize;
            let to = (end - st.first) as usize;
            out.extend(
                st.ring
                    .range(from..=to.min(st.ring.len().saturating_sub(1)))
                    .cloned()
                    .map(Ok),
            );
        }
        Ok(History {
            found: true,
            updates: Box::pin(futures::stream::iter(out)),
        })
    }

    async fn close(&self) -> Result<(), TransportError> {
        self.state.lock().closed = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::UpdateData;
    use futures::StreamExt;

    struct Null;
    impl LogSink for Null {
        fn deliver(&self, _: Arc<Update>, _: Position) {}
    }

    fn upd(id: &str) -> Arc<Update> {
        Arc::new(Update::new(UpdateData {
            id: id.into(),
            topics: vec!["t".into()],
            data: String::new(),
            private: false,
            event_type: None,
            retry: None,
        }))
    }

    async fn ids(t: &LocalTransport, after: &str, until: u128) -> (bool, Vec<String>) {
        let h = t.history(after, Position(until)).await.unwrap();
        let v: Vec<_> = h
            .updates
            .map(|u| u.unwrap().id().to_string())
            .collect()
            .await;
        (h.found, v)
    }

    #[tokio::test]
    async fn ring_evicts_and_duplicates_resolve_to_first() {
        let t = LocalTransport::new(3);
        t.start(Arc::new(Null)).await.unwrap();
        for id in ["a", "b", "a", "c"] {
            t.append(upd(id)).await.unwrap();
        }
        // Kept: b(2) a(3) c(4). The first "a" was evicted, so "a" resolves to position 3.
        assert_eq!(
            ids(&t, "earliest", 4).await,
            (true, vec!["b".into(), "a".into(), "c".into()])
        );
        assert_eq!(ids(&t, "a", 4).await, (true, vec!["c".into()]));
        assert_eq!(ids(&t, "b", 3).await, (true, vec!["a".into()]));
        assert_eq!(ids(&t, "zz", 4).await, (false, vec![]));
        t.append(upd("d")).await.unwrap();
        assert!(!ids(&t, "b", 5).await.0);
    }

    #[tokio::test]
    async fn size_zero_keeps_nothing() {
        let t = LocalTransport::new(0);
        t.start(Arc::new(Null)).await.unwrap();
        t.append(upd("a")).await.unwrap();
        assert_eq!(ids(&t, "earliest", 1).await, (true, vec![]));
        assert_eq!(ids(&t, "a", 1).await, (false, vec![]));
    }
}
