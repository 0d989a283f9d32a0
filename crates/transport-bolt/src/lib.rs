//! The embedded persistent transport of Quicksilver: `transport bolt`.
//!
//! One redb file holds the log of updates, so history survives restarts on a single node. It
//! keeps the reference hub's option names (`path`, `size`, `cleanup_frequency`,
//! `bucket_name`, plus `max_age`) but not its file format: the file is redb, not BoltDB.
//! What it fixes: the history is bounded by default and trimmed deterministically in every
//! commit, by count and by age, so the file stops growing; an update is acknowledged only once
//! fsync'd, with many concurrent publishers sharing one fsync (group commit); a second process
//! on the same file is refused; and a replay of any length streams with back-pressure.
//! `docs/bolt.md` has the design and the measured figures.

mod error;
mod format;
mod options;
mod store;
mod transport;

pub use error::BoltError;
pub use options::{
    BoltOptions, DEFAULT_BUCKET_NAME, DEFAULT_PATH, DEFAULT_SIZE, OPTION_NAMES, from_options,
};
pub use store::Stats;
pub use transport::{BoltTransport, MAX_BATCH, REPLAY_BATCH};
