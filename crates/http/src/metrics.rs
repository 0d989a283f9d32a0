//! Prometheus metrics at `/metrics`: the reference hub's `mercure_*` series plus the process
//! series (CPU, memory, file descriptors) that operators expect next to them.

use std::sync::Arc;

use metrics::{Counter, Gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Handles to the hub's series, cheap to clone and to update.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    handle: Option<PrometheusHandle>,
    process: metrics_process::Collector,
    subscribers_connected: Gauge,
    subscribers_total: Counter,
    updates_total: Counter,
}

impl Metrics {
    /// Installs the process-wide Prometheus recorder. A second call in the same process (tests)
    /// gets working handles without an exporter.
    pub fn install() -> Metrics {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let handle = metrics::set_global_recorder(recorder).ok().map(|_| handle);
        let process = metrics_process::Collector::default();
        process.describe();
        metrics::describe_gauge!(
            "mercure_subscribers_connected",
            "The number of connected subscribers"
        );
        metrics::describe_counter!(
            "mercure_subscribers_total",
            "The total number of subscribers that have connected"
        );
        metrics::describe_counter!(
            "mercure_updates_total",
            "The total number of updates published"
        );
        Metrics {
            inner: Arc::new(Inner {
                handle,
                process,
                subscribers_connected: metrics::gauge!("mercure_subscribers_connected"),
                subscribers_total: metrics::counter!("mercure_subscribers_total"),
                updates_total: metrics::counter!("mercure_updates_total"),
            }),
        }
    }

    pub fn subscriber_connected(&self) {
        self.inner.subscribers_connected.increment(1.0);
        self.inner.subscribers_total.increment(1);
    }

    pub fn subscriber_disconnected(&self) {
        self.inner.subscribers_connected.decrement(1.0);
    }

    pub fn update_published(&self) {
        self.inner.updates_total.increment(1);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        self.inner.process.collect();
        self.inner
            .handle
            .as_ref()
            .map(|h| h.render())
            .unwrap_or_default()
    }
}
