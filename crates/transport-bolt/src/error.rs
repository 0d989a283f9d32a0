//! What can go wrong with the file, and how the hub sees it.

use std::path::PathBuf;

use quicksilver_hub::TransportError;

/// A failure of the embedded transport.
#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    /// A `transport bolt` option is invalid.
    #[error("{at}: transport bolt: {message}")]
    Option { at: String, message: String },
    /// Another process (or another transport in this one) has the file open.
    #[error(
        "{}: the database is already open in another process; only one hub may use a history file at a time (stop the other hub or choose another `path`)",
        path.display()
    )]
    AlreadyOpen { path: PathBuf },
    /// The file exists but is not one of ours (e.g. the reference hub's BoltDB file).
    #[error(
        "{}: not a Quicksilver history file ({reason}); the file format is redb, not the reference hub's BoltDB, so its history can't be read: move the file away or choose another `path`",
        path.display()
    )]
    NotOurs { path: PathBuf, reason: String },
    /// The file can't be created or opened.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The storage engine failed.
    #[error("database error: {0}")]
    Database(String),
    /// A stored entry can't be decoded.
    #[error("corrupt entry {seq}: {reason}")]
    Corrupt { seq: u64, reason: String },
    /// The transport was closed.
    #[error("transport closed")]
    Closed,
    /// The writer thread stopped.
    #[error("the writer thread of the bolt transport stopped")]
    WriterGone,
}

impl From<BoltError> for TransportError {
    fn from(e: BoltError) -> TransportError {
        match e {
            BoltError::Corrupt { .. } => TransportError::Corrupt(e.to_string()),
            BoltError::Closed => TransportError::Closed,
            other => TransportError::Backend(other.to_string()),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for BoltError {
            fn from(e: $t) -> BoltError {
                BoltError::Database(e.to_string())
            }
        }
    )*};
}

from_redb!(
    redb::StorageError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError
);
