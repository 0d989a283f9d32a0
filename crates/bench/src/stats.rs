//! Counting what arrived: per-subscriber sequence sets, latency histograms, group totals.
//!
//! Histograms travel between shard processes as `(value, count)` pairs: simpler than the
//! HdrHistogram wire format and exact, because the pairs are the recorded buckets themselves.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency recorded, in ns (longer ones are clamped): far beyond any scenario timeout.
const MAX_NS: u64 = 600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants known to be valid; `new_with_bounds` only fails on invalid ones.
    Histogram::new_with_bounds(1, MAX_NS, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// Records `ns` (clamped into range).
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.clamp(1, MAX_NS));
}

/// A histogram as recorded buckets, for JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Buckets(pub Vec<(u64, u64)>);

impl Buckets {
    pub fn from_histogram(h: &Histogram<u64>) -> Buckets {
        Buckets(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub fn add_to(&self, h: &mut Histogram<u64>) {
        for &(v, n) in &self.0 {
            let _ = h.record_n(v.clamp(1, MAX_NS), n);
        }
    }
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// The sequence numbers one subscriber received.
#[derive(Debug, Default)]
pub struct SeqSet {
    bits: Vec<u64>,
}

impl SeqSet {
    /// Marks `seq`; `false` if it was already there (a duplicate). Sequences above `limit` are
    /// refused (`None`) so a corrupt payload cannot allocate gigabytes.
    pub fn insert(&mut self, seq: u64, limit: u64) -> Option<bool> {
        if seq >= limit {
            return None;
        }
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        let new = self.bits[word] & mask == 0;
        self.bits[word] |= mask;
        Some(new)
    }

    pub fn contains(&self, seq: u64) -> bool {
        self.bits
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1u64 << (seq % 64)) != 0)
    }

    /// Distinct sequences received.
    pub fn len(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one group of subscribers (one process, or part of one) saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupStats {
    pub subscribers: usize,
    pub connected: usize,
    pub connect_failures: usize,
    /// Streams the server ended (or broke) before the scenario finished.
    pub disconnected_early: usize,
    /// Deliveries that should have arrived.
    pub expected: u64,
    /// Expected deliveries that arrived (each counted once).
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Deliveries of updates a subscriber should not have got (or whose publish failed).
    pub unexpected: u64,
    /// Events whose data was not a benchmark payload.
    pub malformed: u64,
    pub latency: Buckets,
    /// The first few errors, for the report.
    pub errors: Vec<String>,
}

impl GroupStats {
    pub fn merge(&mut self, o: GroupStats) {
        self.subscribers += o.subscribers;
        self.connected += o.connected;
        self.connect_failures += o.connect_failures;
        self.disconnected_early += o.disconnected_early;
        self.expected += o.expected;
        self.delivered += o.delivered;
        self.missing += o.missing;
        self.duplicates += o.duplicates;
        self.unexpected += o.unexpected;
        self.malformed += o.malformed;
        self.latency.0.extend(o.latency.0);
        for e in o.errors {
            push_error(&mut self.errors, e);
        }
    }
}

/// Keeps the first few distinct errors.
pub fn push_error(errors: &mut Vec<String>, e: String) {
    if errors.len() < 8 && !errors.contains(&e) {
        errors.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqset() {
        let mut s = SeqSet::default();
        assert_eq!(s.insert(3, 100), Some(true));
        assert_eq!(s.insert(3, 100), Some(false));
        assert_eq!(s.insert(99, 100), Some(true));
        assert_eq!(s.insert(100, 100), None);
        assert!(s.contains(99) && !s.contains(4));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn buckets_round_trip() {
        let mut h = new_histogram();
        for v in [1_000, 2_000, 2_000, 5_000_000] {
            record(&mut h, v);
        }
        let mut h2 = new_histogram();
        Buckets::from_histogram(&h).add_to(&mut h2);
        assert_eq!(h2.len(), 4);
        assert_eq!(h.value_at_quantile(0.5), h2.value_at_quantile(0.5));
    }
}
