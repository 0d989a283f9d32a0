//! The Mercure protocol core of Quicksilver.
//!
//! Everything here is independent of HTTP, brokers and files: updates and their SSE encoding,
//! topic selectors (draft-07 selectors and draft-08 matchers), the subscriber index that finds
//! who wants an update, presence documents of both drafts, the draft-08 input rules, the
//! [`Transport`] trait every log backend implements, the in-memory transport, the transport
//! contract suite that every transport must pass, and what the configuration and the
//! transports' options share (the duration syntax, option-parsing helpers).

pub mod duration;
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
pub mod transport_options;
pub mod update;
pub mod validate;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

pub use hub::{Hub, HubOptions, Protocol, PublishError, SubscribeError, Subscription};
pub use local::LocalTransport;
pub use presence_store::{MemoryPresence, PresenceStore, SubscriberRecord};
pub use subscriber::{CloseReason, Matcher, SubscribeRequest, Subscriber};
pub use topic::{MatchType, PatternError, Selector, SelectorCompiler};
pub use transport::{History, LogSink, Position, Tail, Transport, TransportError};
pub use update::{EARLIEST, Update, UpdateData, generate_id};
