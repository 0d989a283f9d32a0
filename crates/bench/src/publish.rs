//! The publishers: P tasks, each with its own keep-alive connection, posting updates either
//! back-to-back or on a global schedule (update `seq` is due at `start + seq / rate`).
//!
//! Sequence numbers come from one shared counter, so they are dense: every number below the
//! final count was either published or reported as failed, which is what lets subscribers
//! compute exactly what they missed. Latency is measured from the actual send time, not the
//! scheduled one; a server that stalls the publisher therefore delays the schedule instead of
//! showing up as latency (coordinated omission), which the `lagged` count makes visible.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::http1::{self, Client};
use crate::payload;
use crate::stats::{self, push_error};
use crate::target::{Kind, Routing, Target};

/// What to publish.
#[derive(Debug, Clone)]
pub struct PublishPlan {
    pub target: Target,
    pub routing: Routing,
    pub total_subscribers: usize,
    pub publishers: usize,
    /// Stop after this many updates.
    pub messages: Option<u64>,
    /// Updates per second, all publishers together; back-to-back when `None`.
    pub rate: Option<f64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Payload size in bytes (at least the sequence and timestamp).
    pub payload_size: usize,
    pub private: bool,
    /// `Authorization: Bearer` for Mercure.
    pub token: Option<String>,
    pub request_timeout: Duration,
}

/// What the publishers did.
#[derive(Debug)]
pub struct PublishOutcome {
    /// Sequence numbers used (published or failed).
    pub total: u64,
    pub ok: u64,
    pub failed: Vec<u64>,
    /// Numbers taken but never sent because the duration ended first: not failures, but no
    /// subscriber may expect them.
    pub unused: Vec<u64>,
    pub errors: Vec<String>,
    /// Request round-trips of successful publishes, ns.
    pub round_trip: Histogram<u64>,
    pub elapsed: Duration,
    /// Updates sent more than 10 ms after they were due (rate mode).
    pub lagged: u64,
}

struct PublisherResult {
    ok: u64,
    failed: Vec<u64>,
    unused: Vec<u64>,
    errors: Vec<String>,
    round_trip: Histogram<u64>,
    lagged: u64,
}

/// Runs the publishers to completion.
pub async fn run(plan: PublishPlan) -> PublishOutcome {
    let plan = Arc::new(plan);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..plan.publishers.max(1) {
        tasks.push(tokio::spawn(publisher(
            plan.clone(),
            p,
            next.clone(),
            start,
        )));
    }
    let mut out = PublishOutcome {
        total: 0,
        ok: 0,
        failed: Vec::new(),
        unused: Vec::new(),
        errors: Vec::new(),
        round_trip: stats::new_histogram(),
        elapsed: Duration::ZERO,
        lagged: 0,
    };
    for t in tasks {
        match t.await {
            Ok(r) => {
                out.ok += r.ok;
                out.failed.extend(r.failed);
                out.unused.extend(r.unused);
                out.lagged += r.lagged;
                let _ = out.round_trip.add(&r.round_trip);
                for e in r.errors {
                    push_error(&mut out.errors, e);
                }
            }
            Err(e) => push_error(&mut out.errors, format!("publisher task failed: {e}")),
        }
    }
    out.elapsed = start.elapsed();
    // Every number a publisher took below the message limit was published, failed or recorded
    // as unused (publishers check the deadline before taking one), so they are exactly 0..total.
    out.total = out.ok + out.failed.len() as u64 + out.unused.len() as u64;
    out.failed.sort_unstable();
    out.unused.sort_unstable();
    out
}

async fn publisher(
    plan: Arc<PublishPlan>,
    p: usize,
    next: Arc<AtomicU64>,
    start: Instant,
) -> PublisherResult {
    let mut r = PublisherResult {
        ok: 0,
        failed: Vec::new(),
        unused: Vec::new(),
        errors: Vec::new(),
        round_trip: stats::new_histogram(),
        lagged: 0,
    };
    // Publishers use the last source addresses, away from the first subscribers'.
    let mut client = Client::new(
        plan.target.addr,
        plan.target.source_for(252usize.wrapping_sub(p)),
        plan.request_timeout,
    );
    let deadline = plan.duration.map(|d| start + d);
    let mut headers = Vec::new();
    if plan.target.kind == Kind::Mercure {
        headers.push("Content-Type: application/x-www-form-urlencoded".to_string());
        if let Some(t) = &plan.token {
            headers.push(format!("Authorization: Bearer {t}"));
        }
    }
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let seq = next.fetch_add(1, Ordering::AcqRel);
        if plan.messages.is_some_and(|m| seq >= m) {
            break;
        }
        if let Some(rate) = plan.rate {
            let due = start + Duration::from_secs_f64(seq as f64 / rate);
            if deadline.is_some_and(|d| due >= d) {
                r.unused.push(seq);
                break;
            }
            tokio::time::sleep_until(due).await;
            if Instant::now() > due + Duration::from_millis(10) {
                r.lagged += 1;
            }
        }
        let recipient = plan.routing.recipient(seq, plan.total_subscribers);
        let sent = payload::now_ns();
        let data = payload::encode(seq, sent, plan.payload_size);
        let (path, body) = plan.target.publish_request(recipient, plan.private, &data);
        let req = http1::request(
            "POST",
            &path,
            &plan.target.host(),
            &headers,
            body.as_bytes(),
        );
        let t0 = Instant::now();
        match client.send(&req).await {
            Ok(status) if (200..300).contains(&status) => {
                r.ok += 1;
                stats::record(&mut r.round_trip, t0.elapsed().as_nanos() as u64);
            }
            Ok(status) => {
                r.failed.push(seq);
                push_error(&mut r.errors, format!("publish: HTTP status {status}"));
            }
            Err(e) => {
                r.failed.push(seq);
                push_error(&mut r.errors, format!("publish: {e}"));
            }
        }
    }
    r
}
