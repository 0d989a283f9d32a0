//! What can go wrong, and how the hub sees it: an unreachable Redis is
//! [`TransportError::Unavailable`] (publishers get 503 + `Retry-After`), anything else is a
//! backend error.

use quicksilver_hub::TransportError;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// A failure of the Redis transport.
#[derive(Debug, thiserror::Error)]
pub enum RedisTransportError {
    /// A `transport redis` option is invalid.
    #[error("{at}: transport redis: {message}")]
    Option { at: String, message: String },
    /// The client could not be built from the options.
    #[error("transport redis: {0}")]
    Client(String),
}

impl From<RedisTransportError> for TransportError {
    fn from(e: RedisTransportError) -> TransportError {
        TransportError::Backend(e.to_string())
    }
}

/// Whether a Redis error means "the server can't be reached or can't serve right now", as
/// opposed to a bug or a misconfiguration that retrying won't fix.
pub(crate) fn is_unavailable(e: &RedisError) -> bool {
    // Wrong credentials are a configuration mistake, not an outage: retrying won't fix them, so
    // they must not become a 503 with Retry-After.
    if matches!(e.kind(), ErrorKind::AuthenticationFailed) {
        return false;
    }
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_unrecoverable_error()
    {
        return true;
    }
    match e.kind() {
        ErrorKind::ClusterConnectionNotFound => true,
        ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        ) => true,
        // A full Redis refuses writes (`OOM command not allowed`): retrying later may work.
        _ => e.code() == Some("OOM"),
    }
}

/// How the hub sees a Redis error.
pub(crate) fn to_transport(e: RedisError) -> TransportError {
    if is_unavailable(&e) {
        TransportError::Unavailable(format!("Redis: {e}"))
    } else {
        TransportError::Backend(format!("Redis: {e}"))
    }
}

/// A command that did not answer in time.
pub(crate) fn timed_out(what: &str) -> TransportError {
    TransportError::Unavailable(format!("Redis did not answer {what} in time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_credentials_are_not_an_outage() {
        let e = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        assert!(!is_unavailable(&e));
        assert!(matches!(to_transport(e), TransportError::Backend(_)));
        let io = RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert!(is_unavailable(&io));
    }
}
