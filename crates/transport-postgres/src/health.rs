//! What readiness and liveness are computed from: since when pooled operations and the tail
//! have been failing, as seen by the operations themselves (the tail reads the table at least
//! every couple of seconds, so it probes PostgreSQL even when nothing is published).

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long PostgreSQL may be unreachable before liveness fails. Long enough that a database restart
/// or failover doesn't get every hub restarted by its orchestrator (that would drop every
/// subscriber for nothing: the hubs recover by themselves); short enough that a node stuck for
/// good is replaced.
pub const LIVENESS_GRACE: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Health {
    commands_down_since: Mutex<Option<Instant>>,
    tail: Mutex<TailState>,
}

/// The tail counts as not up until its first successful read.
#[derive(Default)]
struct TailState {
    up: bool,
    down_since: Option<Instant>,
}

impl Health {
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

    /// How long PostgreSQL has been failing continuously, if it has.
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
}
