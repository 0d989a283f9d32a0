//! What can go wrong, and how the hub sees it: an unreachable or restarting PostgreSQL is
//! [`TransportError::Unavailable`] (publishers get 503 + `Retry-After`), anything else is a
//! backend error.

use quicksilver_hub::TransportError;
use tokio_postgres::error::SqlState;

/// A failure of the PostgreSQL transport's set-up.
#[derive(Debug, thiserror::Error)]
pub enum PostgresTransportError {
    /// A `transport postgres` option is invalid.
    #[error("{at}: transport postgres: {message}")]
    Option { at: String, message: String },
    /// TLS could not be configured (unreadable root certificates...).
    #[error("transport postgres: TLS: {0}")]
    Tls(String),
    /// The connection pool could not be built.
    #[error("transport postgres: {0}")]
    Pool(String),
}

impl From<PostgresTransportError> for TransportError {
    fn from(e: PostgresTransportError) -> TransportError {
        TransportError::Backend(e.to_string())
    }
}

/// Whether a PostgreSQL error means "the server can't be reached or can't serve right now", as
/// opposed to a bug or a misconfiguration that retrying won't fix.
pub(crate) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No SQLSTATE: the socket, TLS, or a timeout failed.
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("53") // insufficient resources (too many connections, disk full)
                || c.starts_with("57P") // admin/crash shutdown, cannot connect now
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::QUERY_CANCELED
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        }
    }
}

/// How the hub sees a PostgreSQL error.
pub(crate) fn to_transport(e: tokio_postgres::Error) -> TransportError {
    let text = describe(&e);
    if is_unavailable(&e) {
        TransportError::Unavailable(format!("PostgreSQL: {text}"))
    } else {
        TransportError::Backend(format!("PostgreSQL: {text}"))
    }
}

/// The server's message with its SQLSTATE when there is one (tokio-postgres's `Display` only
/// says "db error"), else the client's error with its cause.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({}: {})", db.message(), db.severity(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// How the hub sees a failure to get a pooled connection.
pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> TransportError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => to_transport(e),
        PoolError::Timeout(kind) => TransportError::Unavailable(format!(
            "PostgreSQL: no connection available in time ({kind:?})"
        )),
        PoolError::Closed => TransportError::Closed,
        other => TransportError::Backend(format!("PostgreSQL connection pool: {other}")),
    }
}

/// An operation that did not finish in time.
pub(crate) fn timed_out(what: &str) -> TransportError {
    TransportError::Unavailable(format!("PostgreSQL did not answer {what} in time"))
}
