//! The Redis / Valkey transport of Quicksilver (`transport redis`): several hub nodes share
//! one Redis stream and act as one hub.
//!
//! Every node appends updates to the stream and tails all of it, delivering entries to its
//! local subscribers in stream order, so every node delivers the same updates in the same
//! order. History (`Last-Event-ID`) is a read of the stream after the entry an id index points
//! to, kept beside the stream and trimmed with it. Presence (the subscriptions API across
//! nodes) lives in Redis too, under node heartbeats, so a dead node's subscriptions are
//! removed once, cluster-wide. Several addresses select Redis Cluster: every key carries the
//! hash tag `{stream}` and lives in one slot. Valkey speaks the same protocol and works the
//! same way. `docs/redis.md` is the user-facing description (options, key layout, entry
//! schema, failure behaviour).

mod codec;
mod conn;
mod error;
mod keys;
pub mod options;
mod presence;
mod scripts;
mod transport;

pub use codec::{FIELD_ENCODING, FIELD_UPDATE};
pub use error::RedisTransportError;
pub use keys::Keys;
pub use options::{Address, Encoding, RedisOptions, from_options};
pub use presence::RedisPresence;
pub use quicksilver_hub::health::LIVENESS_GRACE;
pub use transport::RedisTransport;
