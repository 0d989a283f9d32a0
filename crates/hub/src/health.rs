//! Readiness and liveness of a transport that talks to a broker, computed from what its own
//! operations see: since when the command path and the tail have been failing. The tail of every
//! broker transport reads at least every few seconds, so it probes the broker even when nothing
//! is published. Shared by the broker transports so they all answer `/health/*` the same way.

use std::future::Future;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::transport::TransportError;

/// How long a broker may be unreachable before liveness fails. Long enough that a broker restart
/// or failover doesn't get every hub restarted by its orchestrator (that would drop every
/// subscriber for nothing: the hubs recover by themselves); short enough that a node stuck for
/// good is replaced.
pub const LIVENESS_GRACE: Duration = Duration::from_secs(60);

/// Failure tracking of one transport's command path and tail.
#[derive(Debug, Default)]
pub struct BrokerHealth {
    commands_down_since: Mutex<Option<Instant>>,
    tail: Mutex<TailState>,
}

/// The tail counts as not up until its first successful read.
#[derive(Debug, Default)]
struct TailState {
    up: bool,
    down_since: Option<Instant>,
}

impl BrokerHealth {
    pub fn commands_ok(&self) {
        *self.commands_down_since.lock() = None;
    }

    pub fn commands_failed(&self) {
        self.commands_down_since
            .lock()
            .get_or_insert_with(Instant::now);
    }

    pub fn tail_ok(&self) {
        let mut t = self.tail.lock();
        t.up = true;
        t.down_since = None;
    }

    pub fn tail_failed(&self) {
        let mut t = self.tail.lock();
        t.up = false;
        t.down_since.get_or_insert_with(Instant::now);
    }

    /// Whether the tail's last read succeeded.
    pub fn tail_up(&self) -> bool {
        self.tail.lock().up
    }

    /// How long the broker has been failing continuously, if it has.
    pub fn down_for(&self) -> Option<Duration> {
        let since = [
            *self.commands_down_since.lock(),
            self.tail.lock().down_since,
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(since.elapsed())
    }

    /// The transport's readiness: `probe`, a round trip to the broker named `probe_name` in
    /// messages, must answer within `timeout` (a timeout counts as a failed command); and once
    /// the tail has been started (`tail_started`) its last read must have succeeded, else the
    /// error says the node is reconnecting to `broker` to do `tail_job` ("read stream x").
    pub async fn ready<T>(
        &self,
        broker: &str,
        probe_name: &str,
        probe: impl Future<Output = Result<T, TransportError>>,
        timeout: Duration,
        tail_started: bool,
        tail_job: impl FnOnce() -> String,
    ) -> Result<(), TransportError> {
        match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                self.commands_failed();
                return Err(TransportError::Unavailable(format!(
                    "{broker} did not answer {probe_name} in time"
                )));
            }
        }
        if tail_started && !self.tail_up() {
            return Err(TransportError::Unavailable(format!(
                "reconnecting to {broker} to {}",
                tail_job()
            )));
        }
        Ok(())
    }

    /// The transport's liveness: failing once `broker` (its name in the message) has been
    /// unreachable for [`LIVENESS_GRACE`].
    pub fn live(&self, broker: &str) -> Result<(), TransportError> {
        match self.down_for() {
            Some(d) if d >= LIVENESS_GRACE => Err(TransportError::Unavailable(format!(
                "{broker} unreachable for {} s",
                d.as_secs()
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_since_the_earliest_failure_until_both_recover() {
        let h = BrokerHealth::default();
        assert!(!h.tail_up());
        assert_eq!(h.down_for(), None);
        h.tail_failed();
        h.commands_failed();
        assert!(h.down_for().is_some());
        h.commands_ok();
        assert!(h.down_for().is_some(), "the tail is still down");
        h.tail_ok();
        assert!(h.tail_up());
        assert_eq!(h.down_for(), None);
    }

    #[test]
    fn liveness_fails_after_the_grace_period_only() {
        let h = BrokerHealth::default();
        assert!(h.live("Redis").is_ok());
        h.commands_failed();
        assert!(
            h.live("Redis").is_ok(),
            "a short outage keeps the node alive"
        );
        // Down since the grace period ago (a monotonic clock younger than that can't say).
        let Some(long_ago) = Instant::now().checked_sub(LIVENESS_GRACE) else {
            return;
        };
        *h.commands_down_since.lock() = Some(long_ago);
        match h.live("Redis") {
            Err(TransportError::Unavailable(m)) => {
                assert!(m.starts_with("Redis unreachable for "), "{m}")
            }
            other => panic!("{other:?}"),
        }
        h.commands_ok();
        assert!(h.live("Redis").is_ok());
    }
}
