//! The Mercure protocol core of Quicksilver.
//!
//! Everything here is independent of HTTP, brokers and files: updates and their SSE encoding,
//! topic selectors, the subscriber index that finds who wants an update, the [`Transport`] trait
//! every log backend implements, the in-memory transport, and the transport contract suite that
//! every transport must pass.

pub mod health;
pub mod hub;
pub mod index;
pub mod local;
pub mod presence;
pub mod presence_store;
pub mod shared_log;
pub mod subscriber;
pub mod topic;
pub mod transport;
pub mod update;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use hub::{Hub, HubOptions, PublishError, SubscribeError, Subscription};
pub use local::LocalTransport;
pub use presence_store::{MemoryPresence, PresenceStore, SubscriberRecord};
pub use subscriber::{CloseReason, SubscribeRequest, Subscriber};
pub use transport::{History, LogSink, Position, Tail, Transport, TransportError};
pub use update::{EARLIEST, Update, UpdateData, generate_id};
