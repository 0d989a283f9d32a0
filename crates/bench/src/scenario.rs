//! The scenarios (S1-S6 of issue 3) and the run of one scenario against one server.
//!
//! A run is: read the server's memory, connect every subscriber (possibly in several shard
//! processes), let it settle and read the memory again, snapshot the server's CPU time, publish,
//! wait until every subscriber has what it should (or the drain timeout passes), snapshot CPU
//! again. Everything happens under one hard timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::time::Instant;

use crate::group::{Connected, Finish, GroupConfig};
use crate::procfs::ServerProcs;
use crate::publish::{self, PublishPlan};
use crate::report::{Report, ServerReport};
use crate::shard::Group;
use crate::stats::{self, GroupStats, Percentiles, push_error};
use crate::target::{Kind, Routing, Target};

/// One scenario's shape; every field can be overridden from the command line.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub subscribers: usize,
    pub publishers: usize,
    pub messages: Option<u64>,
    pub rate: Option<f64>,
    pub duration: Option<Duration>,
    pub payload_size: usize,
    pub routing: Routing,
    /// Private updates, and subscribers holding tokens for their own topic (S6).
    pub private: bool,
    /// Idle scenario (S4): hold the connections this long, publish nothing.
    pub idle_hold: Option<Duration>,
    /// Pause after connecting, before measuring memory and publishing.
    pub settle: Duration,
    pub drain_timeout: Duration,
    pub timeout: Duration,
}

impl Spec {
    /// The defaults of a named scenario.
    pub fn named(name: &str) -> Option<Spec> {
        let base = Spec {
            name: name.to_string(),
            subscribers: 1000,
            publishers: 1,
            messages: None,
            rate: None,
            duration: None,
            payload_size: 100,
            routing: Routing::OneTopic,
            private: false,
            idle_hold: None,
            settle: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(10),
            timeout: Duration::ZERO,
        };
        let spec = match name {
            "s1" => Spec {
                messages: Some(1000),
                ..base
            },
            "s2" => Spec {
                rate: Some(20.0),
                duration: Some(Duration::from_secs(30)),
                ..base
            },
            "s3" => Spec {
                subscribers: 10_000,
                rate: Some(5.0),
                duration: Some(Duration::from_secs(30)),
                ..base
            },
            "s4" => Spec {
                subscribers: 10_000,
                idle_hold: Some(Duration::from_secs(5)),
                settle: Duration::from_secs(2),
                ..base
            },
            "s5" => Spec {
                subscribers: 0,
                publishers: 64,
                duration: Some(Duration::from_secs(10)),
                ..base
            },
            "s6" => Spec {
                subscribers: 10_000,
                publishers: 8,
                messages: Some(10_000),
                routing: Routing::PerSubscriber,
                private: true,
                ..base
            },
            _ => return None,
        };
        Some(spec)
    }

    /// A timeout generous enough for the scenario's own durations, unless one was given.
    pub fn with_default_timeout(mut self) -> Spec {
        if self.timeout.is_zero() {
            let work = self.duration.unwrap_or(Duration::from_secs(60))
                + self.idle_hold.unwrap_or_default()
                + self.settle
                + self.drain_timeout;
            // Connecting 10k+ subscribers on a loaded machine takes a while.
            self.timeout = work + Duration::from_secs(60 + self.subscribers as u64 / 500);
        }
        self
    }

    /// One line saying what the scenario does.
    pub fn describe(&self) -> String {
        let what = if let Some(h) = self.idle_hold {
            format!("{} idle subscribers held {:?}", self.subscribers, h)
        } else {
            let pace = match self.rate {
                Some(r) => format!("at {r} updates/s"),
                None => "back-to-back".to_string(),
            };
            let amount = match (self.messages, self.duration) {
                (Some(m), Some(d)) => format!("{m} updates (at most {d:?})"),
                (Some(m), None) => format!("{m} updates"),
                (None, Some(d)) => format!("for {d:?}"),
                (None, None) => "until stopped".to_string(),
            };
            let routing = match self.routing {
                Routing::OneTopic => "one topic".to_string(),
                Routing::PerSubscriber => {
                    "one selector per subscriber, each update to one".to_string()
                }
            };
            format!(
                "{} subscribers, {} publisher(s), {amount} {pace}, {routing}{}, {}-byte payloads",
                self.subscribers,
                self.publishers,
                if self.private { ", private" } else { "" },
                self.payload_size
            )
        };
        format!("{}: {what}", self.name)
    }
}

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub target: Target,
    /// Nodes the subscribers are spread over (empty: `target`), for cluster scenarios.
    pub subscriber_addrs: Vec<std::net::SocketAddr>,
    /// Publisher token (Mercure); minted from `publisher_key` when absent.
    pub publisher_token: Option<String>,
    pub publisher_key: String,
    pub subscriber_key: String,
    pub server: ServerProcs,
    pub max_per_process: usize,
    pub client_threads: usize,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    pub read_buffer: usize,
}

/// Runs `spec` under its hard timeout.
pub async fn run(spec: &Spec, opts: &RunOptions) -> anyhow::Result<Report> {
    tokio::time::timeout(spec.timeout, run_inner(spec, opts))
        .await
        .map_err(|_| {
            anyhow!(
                "scenario {} exceeded its hard timeout of {:?} (raise it with --timeout)",
                spec.name,
                spec.timeout
            )
        })?
}

async fn run_inner(spec: &Spec, opts: &RunOptions) -> anyhow::Result<Report> {
    let procs = opts.server.clone();
    let mut notes = Vec::new();
    match (opts.target.kind, spec.routing, spec.publishers) {
        (Kind::Nchan, Routing::PerSubscriber, _) => notes.push(
            "nchan has no topic selectors or authorization: each subscriber gets its own channel \
             (the nearest equivalent), updates are not private"
                .to_string(),
        ),
        (Kind::Nchan, _, _) if spec.subscribers == 0 => {
            notes.push("nchan has no JWT: publishes are unauthenticated".to_string())
        }
        _ => {}
    }

    // Memory before any subscriber, and a sampler for the peak (100 ms).
    let rss_before = procs.rss_kib();
    let pss_before = procs.pss_kib();
    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let procs = procs.clone();
        let peak = peak.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                peak.fetch_max(procs.rss_kib(), Ordering::Relaxed);
            }
        })
    };
    let _stop_sampler = AbortOnDrop(sampler);

    // Connect.
    let t_connect = Instant::now();
    let mut groups = Vec::new();
    let shards = spec
        .subscribers
        .div_ceil(opts.max_per_process.max(1))
        .max(1);
    let per_shard = spec.subscribers.div_ceil(shards);
    let mut first = 0;
    while first < spec.subscribers {
        let count = per_shard.min(spec.subscribers - first);
        let cfg = GroupConfig {
            target: opts.target.clone(),
            subscriber_addrs: opts.subscriber_addrs.clone(),
            routing: spec.routing,
            total_subscribers: spec.subscribers,
            first,
            count,
            subscriber_jwt_key: spec.private.then(|| opts.subscriber_key.clone()),
            connect_concurrency: opts.connect_concurrency,
            connect_timeout_ms: opts.connect_timeout.as_millis() as u64,
            read_buffer: opts.read_buffer,
        };
        groups.push(if shards == 1 {
            Group::local(cfg)
        } else {
            Group::child(cfg, opts.client_threads, spec.timeout).await?
        });
        first += count;
    }
    let mut connected = Connected::default();
    for g in &mut groups {
        let c = g.ready().await?;
        connected.ok += c.ok;
        connected.failed += c.failed;
        for e in c.errors {
            push_error(&mut connected.errors, e);
        }
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    tokio::time::sleep(spec.settle).await;
    let rss_connected = procs.rss_kib();
    let pss_connected = procs.pss_kib();

    let cpu0 = procs.cpu_seconds();
    let t0 = Instant::now();
    let (outcome, hold_rss) = if let Some(hold) = spec.idle_hold {
        tokio::time::sleep(hold).await;
        (None, Some(procs.rss_kib()))
    } else {
        let token = match &opts.publisher_token {
            Some(t) => Some(t.clone()),
            None if opts.target.kind == Kind::Mercure => Some(
                quicksilver_auth::mint(&quicksilver_auth::MintOptions {
                    key: opts.publisher_key.clone(),
                    alg: String::new(),
                    publish: Some(vec!["*".to_string()]),
                    subscribe: None,
                    payload: None,
                    ttl: None,
                    kid: None,
                    extra_claims: Default::default(),
                })
                .context("minting the publisher token")?,
            ),
            None => None,
        };
        let plan = PublishPlan {
            target: opts.target.clone(),
            routing: spec.routing,
            total_subscribers: spec.subscribers,
            publishers: spec.publishers,
            messages: spec.messages,
            rate: spec.rate,
            duration: spec.duration,
            payload_size: spec.payload_size,
            private: spec.private,
            token,
            request_timeout: Duration::from_secs(10),
        };
        (Some(publish::run(plan).await), None)
    };
    let fin = Finish {
        total: outcome.as_ref().map_or(0, |o| o.total),
        failed: outcome.as_ref().map_or_else(Vec::new, |o| {
            let mut f = o.failed.clone();
            f.extend(&o.unused);
            f.sort_unstable();
            f
        }),
        drain_timeout_ms: spec.drain_timeout.as_millis() as u64,
    };
    let results =
        futures::future::join_all(groups.into_iter().map(|g| g.finish(fin.clone()))).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = procs.cpu_seconds();

    let mut subs = GroupStats::default();
    for r in results {
        subs.merge(r?);
    }
    let mut latency = stats::new_histogram();
    subs.latency.add_to(&mut latency);
    let mut errors = connected.errors.clone();
    for e in subs.errors.drain(..) {
        push_error(&mut errors, e);
    }

    let (published_ok, publish_failed, publish_elapsed, rtt, lagged) = match &outcome {
        Some(o) => {
            for e in &o.errors {
                push_error(&mut errors, e.clone());
            }
            (
                o.ok,
                o.failed.len() as u64,
                o.elapsed.as_secs_f64(),
                Percentiles::of(&o.round_trip),
                o.lagged,
            )
        }
        None => (0, 0, 0.0, Percentiles::default(), 0),
    };

    let server = (!procs.is_empty()).then(|| {
        let cpu_s = (cpu1 - cpu0).max(0.0);
        let per = |n: u64| (n > 0).then(|| cpu_s * 1e6 / n as f64);
        let peak_kib = if procs.pids.len() == 1 {
            procs.hwm_kib().max(peak.load(Ordering::Relaxed))
        } else {
            peak.load(Ordering::Relaxed)
        };
        let per_sub = |after: u64, before: u64| {
            (connected.ok > 0)
                .then(|| (after as f64 - before as f64) * 1024.0 / connected.ok as f64)
        };
        ServerReport {
            pids: procs.pids.clone(),
            cpu_s,
            cpu_us_per_delivery: per(subs.delivered),
            cpu_us_per_publish: per(published_ok),
            rss_before_kib: rss_before,
            rss_connected_kib: rss_connected,
            rss_after_hold_kib: hold_rss,
            peak_rss_kib: peak_kib,
            rss_per_subscriber_bytes: per_sub(rss_connected, rss_before),
            pss_per_subscriber_bytes: (procs.pids.len() > 1)
                .then(|| per_sub(pss_connected, pss_before))
                .flatten(),
        }
    });

    let rate = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(Report {
        scenario: spec.name.clone(),
        description: spec.describe(),
        kind: opts.target.kind,
        target: format!("http://{}", opts.target.addr),
        subscribers: spec.subscribers,
        connected: connected.ok,
        connect_failures: connected.failed,
        disconnected_early: subs.disconnected_early,
        connect_s,
        publishers: spec.publishers,
        published_ok,
        publish_failed,
        publish_lagged: lagged,
        expected: subs.expected,
        delivered: subs.delivered,
        missing: subs.missing,
        duplicates: subs.duplicates,
        unexpected: subs.unexpected,
        malformed: subs.malformed,
        elapsed_s: elapsed,
        publish_elapsed_s: publish_elapsed,
        deliveries_per_s: rate(subs.delivered, elapsed),
        publishes_per_s: rate(published_ok, publish_elapsed),
        latency: Percentiles::of(&latency),
        publish_rtt: rtt,
        server,
        errors,
        notes,
    })
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
