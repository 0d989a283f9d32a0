//! Retention: `max_length` (keep the updates among the last N sequence numbers) and `max_age`
//! (delete updates published longer ago). Deterministic, never a dice roll: every node runs a
//! trim every second, but only the one that wins `pg_try_advisory_xact_lock` deletes; the
//! others skip that round. Deletions go in chunks of [`CHUNK`] rows per transaction, so a
//! first trim of a large table (or a lowered limit) doesn't hold locks for long.

use std::sync::Arc;
use std::time::Duration;

use quicksilver_hub::TransportError;

use crate::transport::{QUERY_TIMEOUT, Shared};

/// How often each node tries to trim.
pub const TRIM_PERIOD: Duration = Duration::from_secs(1);

/// Rows deleted per transaction at most.
const CHUNK: i64 = 10_000;

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(TRIM_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.is_closed() {
            return;
        }
        match trim_once(&shared).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(table = %shared.names.channel, deleted = n, "trimmed the updates table")
            }
            Err(e) => {
                tracing::debug!(table = %shared.names.channel, error = %e, "trimming the updates table failed")
            }
        }
    }
}

/// One trim: returns the number of rows deleted (0 when another node holds the lock).
pub(crate) async fn trim_once(s: &Shared) -> Result<u64, TransportError> {
    let t = &s.names.updates;
    let by_length = format!(
        "DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} WHERE seq <= (SELECT max(seq) FROM {t}) - $1 ORDER BY seq LIMIT $2)"
    );
    let by_age = format!(
        "DELETE FROM {t} WHERE seq IN (SELECT seq FROM {t} WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)"
    );
    let max_length = i64::try_from(s.options.max_length).unwrap_or(i64::MAX);
    let mut total = 0;
    loop {
        let mut client = s.client().await?;
        let tx = s
            .timed("BEGIN", QUERY_TIMEOUT, client.transaction())
            .await?;
        let won: bool = s
            .timed(
                "the trim lock",
                QUERY_TIMEOUT,
                tx.query_one(
                    "SELECT pg_try_advisory_xact_lock($1)",
                    &[&s.names.trim_lock],
                ),
            )
            .await?
            .try_get(0)
            .map_err(|e| TransportError::Corrupt(e.to_string()))?;
        if !won {
            return Ok(total);
        }
        let mut deleted = 0;
        if max_length > 0 {
            deleted += s
                .timed(
                    "the trim by length",
                    QUERY_TIMEOUT,
                    tx.execute(&by_length, &[&max_length, &CHUNK]),
                )
                .await?;
        }
        if let Some(age) = s.options.max_age {
            deleted += s
                .timed(
                    "the trim by age",
                    QUERY_TIMEOUT,
                    tx.execute(&by_age, &[&age.as_secs_f64(), &CHUNK]),
                )
                .await?;
        }
        s.timed("COMMIT", QUERY_TIMEOUT, tx.commit()).await?;
        total += deleted;
        if deleted < CHUNK as u64 {
            return Ok(total);
        }
    }
}
