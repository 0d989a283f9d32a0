//! The one seam between a node and the outside world: an ordered log.
//!
//! Every transport is the same model. Each node appends updates to one shared, ordered log and
//! reads the whole log back, in order, into its [`LogSink`] (the hub), which fans them out to
//! local subscribers. History is a read of the same log after a given event id. A transport that
//! keeps nothing (memory with `size 0`) still has that shape: append delivers immediately.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::presence_store::PresenceStore;
use crate::update::Update;

/// A place in the log. Transports map their native cursor onto it (a sequence number, a stream
/// entry id, a partition offset...); the hub only compares positions and hands them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub u128);

impl Position {
    /// Before the first entry of the log.
    pub const START: Position = Position(0);
}

/// Where the log ended when a node started tailing it: entries up to `position` are history,
/// later ones are delivered to the sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// The position of the last entry already in the log ([`Position::START`] when empty).
    pub position: Position,
    /// The id of that entry, if any (the subscriptions API reports it as `lastEventID`).
    pub last_id: Option<String>,
}

/// Receives every entry of the log, exactly once and in log order.
pub trait LogSink: Send + Sync {
    fn deliver(&self, update: Arc<Update>, position: Position);
}

/// The result of a history lookup.
pub struct History {
    /// Whether the requested id was found in the log (always true for `earliest`).
    pub found: bool,
    /// The updates after the requested id, up to the requested position, in log order. Not yet
    /// filtered for the subscriber: the hub checks each one.
    pub updates: BoxStream<'static, Result<Arc<Update>, TransportError>>,
}

impl History {
    /// Nothing to replay.
    pub fn empty(found: bool) -> History {
        History {
            found,
            updates: Box::pin(futures::stream::empty()),
        }
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("found", &self.found)
            .finish()
    }
}

/// What can go wrong in a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The log can't be reached right now; retrying later may work (HTTP 503).
    #[error("transport unavailable: {0}")]
    Unavailable(String),
    /// The transport was closed (the hub is shutting down).
    #[error("transport closed")]
    Closed,
    /// A stored entry could not be decoded.
    #[error("corrupt log entry: {0}")]
    Corrupt(String),
    /// Any other failure of the backend.
    #[error("transport error: {0}")]
    Backend(String),
}

/// An ordered, shared log of updates.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// A short name for logs (`local`, `bolt`, `redis`...).
    fn name(&self) -> &str;

    /// Starts tailing the log into `sink`. Called once, before anything else. Entries already in
    /// the log before `start` are history, not delivered to the sink; the returned [`Tail`] says
    /// where they end.
    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError>;

    /// Appends an update. Returns once the log has accepted it (durably, for a persistent log)
    /// *and* this node has delivered it to its sink: a subscriber that connects after a publish
    /// returned must find the update in history, never miss it between history and live. A
    /// transport that tails a remote log waits for its own tail to read the entry back. An
    /// error means it was not appended.
    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError>;

    /// The updates after the event `after_id` (or all of them for `earliest`) up to and including
    /// `until`, the position the hub had delivered when the subscriber registered, so history
    /// and live delivery meet without gap or duplicate. When the id occurs several times, the
    /// first occurrence counts.
    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError>;

    /// The cluster-wide presence store, for transports shared by several nodes. `None` (one
    /// node): the subscriptions API lists the local subscribers.
    fn presence(&self) -> Option<Arc<dyn PresenceStore>> {
        None
    }

    /// Whether the node can serve traffic now (readiness).
    async fn ready(&self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Whether the node is healthy enough to keep running (liveness).
    async fn live(&self) -> Result<(), TransportError> {
        Ok(())
    }

    /// Stops tailing and releases resources. Later appends fail with [`TransportError::Closed`].
    async fn close(&self) -> Result<(), TransportError>;
}
