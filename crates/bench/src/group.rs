//! A group of subscribers in one process: connect them, read their streams, count what came.
//!
//! Each subscriber is one tokio task owning its socket, one read buffer, a chunked decoder, an
//! SSE parser and the set of sequence numbers it received. Latencies go to one histogram per
//! group, recorded in a batch per read so the lock is taken once per `read`, not per event.
//! The group is driven in two steps (connect, then finish) so the scenario can measure memory
//! between them and start publishing only once every subscriber is registered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, oneshot, watch};

use crate::http1::{self, ChunkedDecoder, Framing};
use crate::payload;
use crate::sse::SseParser;
use crate::stats::{self, Buckets, GroupStats, SeqSet, push_error};
use crate::target::{Kind, Routing, Target, template_of};

/// Everything a group needs; sent to shard processes as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupConfig {
    pub target: Target,
    /// Where subscribers connect, round-robin by index (several nodes of a cluster); empty means
    /// `target`. Publishers always use `target`.
    #[serde(default)]
    pub subscriber_addrs: Vec<std::net::SocketAddr>,
    pub routing: Routing,
    /// Subscribers in the whole scenario (for routing).
    pub total_subscribers: usize,
    /// Global index of this group's first subscriber.
    pub first: usize,
    pub count: usize,
    /// Per-subscriber tokens granting each subscriber its own template (S6, Mercure), minted
    /// with this key.
    pub subscriber_jwt_key: Option<String>,
    /// Connection attempts in flight at once: more would overflow the server's accept backlog.
    pub connect_concurrency: usize,
    pub connect_timeout_ms: u64,
    /// Read buffer per subscriber.
    pub read_buffer: usize,
}

/// The connect phase's outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Connected {
    pub ok: usize,
    pub failed: usize,
    pub errors: Vec<String>,
}

/// Sent once publishing is over: how many sequence numbers were used and which of them were
/// not published (their publish failed), so each subscriber's expectation is exact.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Finish {
    pub total: u64,
    pub failed: Vec<u64>,
    pub drain_timeout_ms: u64,
}

struct Shared {
    hist: parking_lot::Mutex<Histogram<u64>>,
    /// Distinct sequence numbers received, all subscribers together: the drain's progress.
    distinct: AtomicU64,
    connected: AtomicUsize,
    failed: AtomicUsize,
    progress: Notify,
    errors: parking_lot::Mutex<Vec<String>>,
    /// Upper bound for sequence numbers, fixed when publishing ends (u64::MAX before).
    seq_limit: AtomicU64,
}

struct SubResult {
    index: usize,
    connected: bool,
    /// The stream ended (or broke) before the group was told to stop.
    ended_early: bool,
    seqs: SeqSet,
    duplicates: u64,
    /// Above the sequence limit.
    out_of_range: u64,
    malformed: u64,
}

/// Runs a group: reports on `ready` once every subscriber connected (or failed), then waits for
/// `finish`, drains, and returns the counts.
pub async fn run_group(
    cfg: GroupConfig,
    ready: oneshot::Sender<Connected>,
    finish: oneshot::Receiver<Finish>,
) -> GroupStats {
    let shared = Arc::new(Shared {
        hist: parking_lot::Mutex::new(stats::new_histogram()),
        distinct: AtomicU64::new(0),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        progress: Notify::new(),
        errors: parking_lot::Mutex::new(Vec::new()),
        seq_limit: AtomicU64::new(u64::MAX),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let cfg = Arc::new(cfg);
    let mut tasks = Vec::with_capacity(cfg.count);
    for k in 0..cfg.count {
        let index = cfg.first + k;
        tasks.push(tokio::spawn(subscriber(
            cfg.clone(),
            index,
            shared.clone(),
            permits.clone(),
            stop_rx.clone(),
        )));
    }

    // Connect phase.
    let attempts_done =
        || shared.connected.load(Ordering::Acquire) + shared.failed.load(Ordering::Acquire);
    let connect_deadline = tokio::time::Instant::now()
        + Duration::from_millis(cfg.connect_timeout_ms)
        + Duration::from_millis(500);
    while attempts_done() < cfg.count {
        let notified = shared.progress.notified();
        if attempts_done() >= cfg.count {
            break;
        }
        if tokio::time::timeout_at(connect_deadline, notified)
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = ready.send(Connected {
        ok: shared.connected.load(Ordering::Acquire),
        failed: cfg.count - shared.connected.load(Ordering::Acquire),
        errors: shared.errors.lock().clone(),
    });

    // Drain phase: wait until every expected delivery arrived or the drain timeout passed.
    let fin = finish.await.unwrap_or_default();
    shared.seq_limit.store(fin.total, Ordering::Release);
    let expected_total: u64 = (0..cfg.count)
        .map(|k| expected_for(&cfg, cfg.first + k, fin.total, &fin.failed))
        .sum();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(fin.drain_timeout_ms);
    while shared.distinct.load(Ordering::Acquire) < expected_total
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop_tx.send(true);

    let mut out = GroupStats {
        subscribers: cfg.count,
        ..GroupStats::default()
    };
    let mut failed_sorted = fin.failed.clone();
    failed_sorted.sort_unstable();
    for t in tasks {
        let r = match t.await {
            Ok(r) => r,
            Err(e) => {
                push_error(&mut out.errors, format!("subscriber task failed: {e}"));
                continue;
            }
        };
        if !r.connected {
            out.connect_failures += 1;
            continue;
        }
        out.connected += 1;
        if r.ended_early {
            out.disconnected_early += 1;
        }
        out.duplicates += r.duplicates;
        out.malformed += r.malformed;
        out.unexpected += r.out_of_range;
        let mut expected_here = 0u64;
        let mut got = 0u64;
        for_each_expected(&cfg, r.index, fin.total, |seq| {
            if failed_sorted.binary_search(&seq).is_ok() {
                return;
            }
            expected_here += 1;
            if r.seqs.contains(seq) {
                got += 1;
            }
        });
        out.expected += expected_here;
        out.delivered += got;
        out.missing += expected_here - got;
        out.unexpected += r.seqs.len() - got;
    }
    out.latency = Buckets::from_histogram(&shared.hist.lock());
    for e in shared.errors.lock().drain(..) {
        push_error(&mut out.errors, e);
    }
    out
}

/// Calls `f` with every sequence number below `total` meant for subscriber `index`.
fn for_each_expected(cfg: &GroupConfig, index: usize, total: u64, mut f: impl FnMut(u64)) {
    match cfg.routing {
        Routing::OneTopic => (0..total).for_each(f),
        Routing::PerSubscriber => {
            let n = cfg.total_subscribers.max(1) as u64;
            let mut s = index as u64;
            while s < total {
                f(s);
                s += n;
            }
        }
    }
}

fn expected_for(cfg: &GroupConfig, index: usize, total: u64, failed: &[u64]) -> u64 {
    let mut n = 0;
    for_each_expected(cfg, index, total, |s| {
        if !failed.contains(&s) {
            n += 1;
        }
    });
    n
}

/// The node subscriber `index` connects to.
fn subscriber_addr(cfg: &GroupConfig, index: usize) -> std::net::SocketAddr {
    match cfg.subscriber_addrs.len() {
        0 => cfg.target.addr,
        n => cfg.subscriber_addrs[index % n],
    }
}

fn subscribe_request(cfg: &GroupConfig, index: usize) -> Result<Vec<u8>, String> {
    let path = cfg.target.subscribe_path(cfg.routing, index);
    let mut headers = vec!["Accept: text/event-stream".to_string()];
    if cfg.target.kind == Kind::Mercure
        && let Some(key) = &cfg.subscriber_jwt_key
    {
        let token = quicksilver_auth::mint(&quicksilver_auth::MintOptions {
            key: key.clone(),
            alg: String::new(),
            publish: None,
            subscribe: Some(vec![template_of(index)]),
            payload: None,
            ttl: None,
            kid: None,
            extra_claims: Default::default(),
        })
        .map_err(|e| format!("minting a subscriber token: {e}"))?;
        headers.push(format!("Authorization: Bearer {token}"));
    }
    Ok(http1::request(
        "GET",
        &path,
        &subscriber_addr(cfg, index).to_string(),
        &headers,
        b"",
    ))
}

async fn subscriber(
    cfg: Arc<GroupConfig>,
    index: usize,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) -> SubResult {
    let mut r = SubResult {
        index,
        connected: false,
        ended_early: false,
        seqs: SeqSet::default(),
        duplicates: 0,
        out_of_range: 0,
        malformed: 0,
    };
    let fail = |shared: &Shared, e: String| {
        push_error(&mut shared.errors.lock(), e);
        shared.failed.fetch_add(1, Ordering::AcqRel);
        shared.progress.notify_one();
    };

    // Connect, send the request and read the response head, holding a permit.
    let permit = permits.acquire_owned().await;
    let req = match subscribe_request(&cfg, index) {
        Ok(r) => r,
        Err(e) => {
            fail(&shared, e);
            return r;
        }
    };
    let mut buf = Vec::with_capacity(1024);
    let source = cfg.target.source_for(index);
    let opened = tokio::time::timeout(Duration::from_millis(cfg.connect_timeout_ms), async {
        let mut stream = http1::connect(subscriber_addr(&cfg, index), source).await?;
        stream.write_all(&req).await?;
        let head = http1::read_head(&mut stream, &mut buf).await?;
        Ok::<_, http1::HttpError>((stream, head))
    })
    .await;
    drop(permit);
    let (mut stream, (head, used)) = match opened {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            fail(&shared, format!("subscribe (from {source:?}): {e}"));
            return r;
        }
        Err(_) => {
            fail(&shared, "subscribe: timed out".to_string());
            return r;
        }
    };
    if head.status != 200 {
        fail(&shared, format!("subscribe: HTTP status {}", head.status));
        return r;
    }
    r.connected = true;
    shared.connected.fetch_add(1, Ordering::AcqRel);
    shared.progress.notify_one();

    let mut chunked = ChunkedDecoder::default();
    let mut parser = SseParser::default();
    let mut batch: Vec<u64> = Vec::new();
    let mut read_buf = vec![0u8; cfg.read_buffer.max(512)];
    let mut leftover = buf.split_off(used);
    loop {
        let n = if !leftover.is_empty() {
            let n = leftover.len().min(read_buf.len());
            read_buf[..n].copy_from_slice(&leftover[..n]);
            leftover.drain(..n);
            n
        } else {
            tokio::select! {
                biased;
                _ = stop.wait_for(|s| *s) => break,
                res = stream.read(&mut read_buf) => match res {
                    Ok(0) => {
                        r.ended_early = true;
                        push_error(&mut shared.errors.lock(), "a stream was closed by the server".into());
                        break;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        r.ended_early = true;
                        push_error(&mut shared.errors.lock(), format!("stream read: {e}"));
                        break;
                    }
                },
            }
        };
        let now = payload::now_ns();
        let limit = shared.seq_limit.load(Ordering::Acquire);
        let mut new = 0u64;
        let mut on_event = |data: &[u8]| match payload::decode(data) {
            Some((seq, sent)) => match r.seqs.insert(seq, limit) {
                Some(true) => {
                    new += 1;
                    batch.push(now.saturating_sub(sent));
                }
                Some(false) => r.duplicates += 1,
                None => r.out_of_range += 1,
            },
            None => r.malformed += 1,
        };
        let input = &read_buf[..n];
        let res = match head.framing {
            Framing::Chunked => {
                let mut sse_err = None;
                let done = chunked.decode(input, &mut |body| {
                    if let Err(e) = parser.feed(body, &mut on_event) {
                        sse_err = Some(e.to_string());
                    }
                });
                match (done, sse_err) {
                    (Err(e), _) => Err(e.to_string()),
                    (_, Some(e)) => Err(e),
                    (Ok(true), None) => Err("the server ended the chunked stream".to_string()),
                    (Ok(false), None) => Ok(()),
                }
            }
            Framing::Length(_) | Framing::Close => {
                parser.feed(input, &mut on_event).map_err(|e| e.to_string())
            }
        };
        if !batch.is_empty() {
            let mut h = shared.hist.lock();
            for ns in batch.drain(..) {
                stats::record(&mut h, ns);
            }
        }
        if new > 0 {
            shared.distinct.fetch_add(new, Ordering::AcqRel);
        }
        if let Err(e) = res {
            r.ended_early = true;
            push_error(&mut shared.errors.lock(), format!("stream: {e}"));
            break;
        }
    }
    r
}
