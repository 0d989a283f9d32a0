//! The result of one scenario run: JSON for scripts, a short summary for people.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::Percentiles;
use crate::target::Kind;

/// Figures read from the server's processes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerReport {
    pub pids: Vec<u32>,
    /// utime + stime from the first publish to the last delivery.
    pub cpu_s: f64,
    pub cpu_us_per_delivery: Option<f64>,
    pub cpu_us_per_publish: Option<f64>,
    pub rss_before_kib: u64,
    pub rss_connected_kib: u64,
    pub rss_after_hold_kib: Option<u64>,
    pub peak_rss_kib: u64,
    /// (RSS with every subscriber connected − RSS before) / subscribers.
    pub rss_per_subscriber_bytes: Option<f64>,
    /// The same from PSS, for multi-process servers (shared memory counted once).
    pub pss_per_subscriber_bytes: Option<f64>,
}

/// One scenario run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub kind: Kind,
    pub target: String,
    pub subscribers: usize,
    pub connected: usize,
    pub connect_failures: usize,
    pub disconnected_early: usize,
    pub connect_s: f64,
    pub publishers: usize,
    pub published_ok: u64,
    pub publish_failed: u64,
    pub publish_lagged: u64,
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    pub malformed: u64,
    pub elapsed_s: f64,
    pub publish_elapsed_s: f64,
    pub deliveries_per_s: f64,
    pub publishes_per_s: f64,
    pub latency: Percentiles,
    pub publish_rtt: Percentiles,
    pub server: Option<ServerReport>,
    pub errors: Vec<String>,
    pub notes: Vec<String>,
}

impl Report {
    /// Every subscriber connected and stayed, every update published and delivered once.
    pub fn clean(&self) -> bool {
        self.connect_failures == 0
            && self.disconnected_early == 0
            && self.publish_failed == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.unexpected == 0
            && self.malformed == 0
    }

    /// A few lines for a terminal.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let kind = match self.kind {
            Kind::Mercure => "mercure",
            Kind::Nchan => "nchan",
        };
        let _ = writeln!(s, "{} [{kind} {}]", self.description, self.target);
        let _ = writeln!(
            s,
            "  subscribers  {} connected, {} failed, {} closed early (connecting took {:.1} s)",
            self.connected, self.connect_failures, self.disconnected_early, self.connect_s
        );
        if self.published_ok + self.publish_failed > 0 {
            let _ = writeln!(
                s,
                "  publishes    {} ok, {} failed, {} late; {:.0}/s over {:.2} s; round-trip p50 {:.0} µs, p99 {:.0} µs",
                self.published_ok,
                self.publish_failed,
                self.publish_lagged,
                self.publishes_per_s,
                self.publish_elapsed_s,
                self.publish_rtt.p50_us,
                self.publish_rtt.p99_us
            );
        }
        if self.expected > 0 || self.delivered > 0 {
            let _ = writeln!(
                s,
                "  deliveries   {} expected, {} delivered, {} missing, {} duplicate, {} unexpected, {} malformed; {:.0}/s",
                self.expected,
                self.delivered,
                self.missing,
                self.duplicates,
                self.unexpected,
                self.malformed,
                self.deliveries_per_s
            );
            let l = &self.latency;
            let _ = writeln!(
                s,
                "  latency      p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us
            );
        }
        if let Some(sv) = &self.server {
            let mut line = format!("  server       cpu {:.2} s", sv.cpu_s);
            if let Some(d) = sv.cpu_us_per_delivery {
                let _ = write!(line, ", {d:.2} µs/delivery");
            }
            if let Some(p) = sv.cpu_us_per_publish {
                let _ = write!(line, ", {p:.1} µs/publish");
            }
            let _ = write!(
                line,
                "; peak RSS {:.1} MiB",
                sv.peak_rss_kib as f64 / 1024.0
            );
            if let Some(b) = sv.rss_per_subscriber_bytes {
                let _ = write!(line, "; {:.1} KB RSS/subscriber", b / 1000.0);
            }
            if let Some(b) = sv.pss_per_subscriber_bytes {
                let _ = write!(line, " ({:.1} KB PSS)", b / 1000.0);
            }
            let _ = writeln!(s, "{line}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "  note         {n}");
        }
        for e in &self.errors {
            let _ = writeln!(s, "  error        {e}");
        }
        s
    }
}
