//! The PostgreSQL transport of Quicksilver (`transport postgres`): several hub nodes share one
//! PostgreSQL table and act as one hub.
//!
//! Every update is a row of a documented table (`docs/postgres.md`) that users can query with
//! SQL: a sequence number, the event id, topics as an array (GIN-indexed), data, private, type,
//! retry and the publication time. Every node appends rows and follows the whole table from a
//! dedicated `LISTEN` connection, reading `seq > last` whenever a `NOTIFY` (which carries only
//! the sequence number, so updates of any size work) says something was committed, on a timer,
//! and after every reconnection: an outage loses nothing the table kept.
//!
//! Sequence numbers are drawn when a row is inserted but become visible when its transaction
//! commits, so under concurrent writers they can appear out of order and a reader following
//! `seq > last` would skip the late one forever. A statement-level trigger on the table makes
//! every inserting transaction take one advisory lock, so transactions draw numbers and commit
//! one at a time: commit order is sequence order, for our nodes and for anyone inserting with
//! plain SQL. Each node batches its queued appends into one multi-row insert, so the lock is
//! taken once per batch, not once per update.
//!
//! Presence (the subscriptions API across nodes) lives in two more tables with node heartbeat
//! deadlines on the database's clock; a dead node's subscriptions are taken by exactly one
//! node, with one `DELETE ... RETURNING` statement. Retention (`max_length`, `max_age`) is a
//! periodic trim run by one node at a time.

mod error;
pub mod options;
mod presence;
mod retention;
pub mod schema;
mod tls;
mod transport;

pub use error::PostgresTransportError;
pub use options::{PostgresOptions, RootCerts, SslMode, from_options};
pub use presence::PostgresPresence;
pub use quicksilver_hub::health::LIVENESS_GRACE;
pub use retention::TRIM_PERIOD;
pub use schema::{Names, SCHEMA_VERSION};
pub use transport::PostgresTransport;
