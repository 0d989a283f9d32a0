//! [`BoltTransport`]: the [`Transport`] over a [`Store`], with one writer thread.
//!
//! Publishers encode their update and hand it to the writer thread through a channel, then wait
//! for its answer. The writer takes everything pending (up to [`MAX_BATCH`]), writes it in one
//! transaction, trims, commits once with fsync (group commit: concurrent publishers share one
//! fsync), then delivers the batch to the hub in log order and only then answers each
//! publisher. History is read by a lazy stream, a batch per short read transaction, pulled by
//! the subscriber.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::StreamExt;
use parking_lot::{Mutex, RwLock};
use quicksilver_hub::{History, LogSink, Position, Tail, Transport, TransportError, Update};
use tokio::sync::oneshot;

use crate::error::BoltError;
use crate::format;
use crate::options::BoltOptions;
use crate::store::{Entry, LogState, Stats, Store};

/// The most appends written in one transaction.
pub const MAX_BATCH: usize = 4096;

/// Entries read per read transaction of a history replay.
pub const REPLAY_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<(), TransportError>>;

enum Command {
    Append {
        update: Arc<Update>,
        bytes: Vec<u8>,
        reply: Reply,
    },
    Close(oneshot::Sender<()>),
}

/// State shared by the transport, its writer thread and its history streams.
struct Shared {
    /// `None` once closed.
    store: RwLock<Option<Arc<Store>>>,
    closed: AtomicBool,
    writer_alive: AtomicBool,
    /// The error of the last failed commit, cleared by the next successful one.
    last_error: Mutex<Option<String>>,
    /// Successful commits of appends, and the appends they held (group commit figures).
    commits: AtomicU64,
    committed: AtomicU64,
}

impl Shared {
    fn store(&self) -> Result<Arc<Store>, TransportError> {
        self.store.read().clone().ok_or(TransportError::Closed)
    }
}

/// The embedded persistent transport (`transport bolt`).
pub struct BoltTransport {
    shared: Arc<Shared>,
    options: BoltOptions,
    tx: mpsc::Sender<Command>,
    /// Taken by `start`: the writer's end of the channel and the state of the log at open.
    pending: Mutex<Option<(mpsc::Receiver<Command>, LogState)>>,
    started: OnceLock<()>,
}

impl BoltTransport {
    /// Opens (or creates) the file. Fails at once if another process has it open, or if it is
    /// not a Quicksilver file. Blocks while redb opens the file (after a crash, that includes
    /// its repair).
    pub fn open(options: BoltOptions) -> Result<BoltTransport, BoltError> {
        let (store, state) = Store::open(&options)?;
        let (tx, rx) = mpsc::channel();
        Ok(BoltTransport {
            shared: Arc::new(Shared {
                store: RwLock::new(Some(Arc::new(store))),
                closed: AtomicBool::new(false),
                writer_alive: AtomicBool::new(false),
                last_error: Mutex::new(None),
                commits: AtomicU64::new(0),
                committed: AtomicU64::new(0),
            }),
            options,
            tx,
            pending: Mutex::new(Some((rx, state))),
            started: OnceLock::new(),
        })
    }

    /// The options the transport was opened with.
    pub fn options(&self) -> &BoltOptions {
        &self.options
    }

    /// Entry counts and bounds of the file (tests and diagnostics).
    pub async fn stats(&self) -> Result<Stats, TransportError> {
        let store = self.shared.store()?;
        blocking(move || store.stats()).await
    }

    /// Commits of appends since the file was opened, and the appends they held: their ratio is
    /// the mean group-commit batch (one fsync per commit).
    pub fn commit_counts(&self) -> (u64, u64) {
        (
            self.shared.commits.load(Ordering::Relaxed),
            self.shared.committed.load(Ordering::Relaxed),
        )
    }

    /// Writes raw bytes under a sequence number, bypassing the format: for corruption tests.
    #[doc(hidden)]
    pub async fn put_raw(&self, seq: u64, bytes: Vec<u8>) -> Result<(), TransportError> {
        let store = self.shared.store()?;
        blocking(move || store.put_raw(seq, &bytes)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BoltError> + Send + 'static,
) -> Result<T, TransportError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(TransportError::from),
        Err(e) => Err(TransportError::Backend(format!(
            "bolt: a blocking task failed: {e}"
        ))),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[async_trait]
impl Transport for BoltTransport {
    fn name(&self) -> &str {
        "bolt"
    }

    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError> {
        let (rx, state) = self
            .pending
            .lock()
            .take()
            .ok_or_else(|| TransportError::Backend("transport started twice".into()))?;
        let store = self.shared.store()?;
        let tail = Tail {
            position: Position(u128::from(state.last_seq)),
            last_id: state.last_id.clone(),
        };
        let sweep = self
            .options
            .max_age
            .map(|age| (age / 16).clamp(Duration::from_millis(100), Duration::from_secs(60)));
        let shared = self.shared.clone();
        shared.writer_alive.store(true, Ordering::SeqCst);
        std::thread::Builder::new()
            .name("quicksilver-bolt-writer".into())
            .spawn(move || {
                Writer {
                    store,
                    state,
                    sink,
                    shared,
                    sweep,
                }
                .run(rx)
            })
            .map_err(|e| TransportError::Backend(format!("cannot start the writer thread: {e}")))?;
        let _ = self.started.set(());
        Ok(tail)
    }

    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Closed);
        }
        if self.started.get().is_none() {
            return Err(TransportError::Backend("transport not started".into()));
        }
        // Encoded here, on the publisher's task: the writer thread only writes.
        let bytes = format::encode(&update, now_ms())?;
        let (reply, answer) = oneshot::channel();
        let gone = || {
            if self.shared.closed.load(Ordering::SeqCst) {
                TransportError::Closed
            } else {
                BoltError::WriterGone.into()
            }
        };
        self.tx
            .send(Command::Append {
                update,
                bytes,
                reply,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError> {
        let store = self.shared.store()?;
        let until = u64::try_from(until.0).unwrap_or(u64::MAX);
        let id = after_id.to_owned();
        let Some(after) = blocking(move || store.resolve(&id)).await? else {
            return Ok(History::empty(false));
        };
        let replay = Replay {
            shared: self.shared.clone(),
            after,
            until,
            // After a found id, the next entry must be the one right after it: anything else
            // means trimming overtook the replay.
            expect: (after > 0).then_some(after + 1),
            buf: VecDeque::new(),
            done: false,
        };
        Ok(History {
            found: true,
            updates: futures::stream::unfold(replay, Replay::next).boxed(),
        })
    }

    async fn ready(&self) -> Result<(), TransportError> {
        self.live().await?;
        match self.shared.last_error.lock().as_ref() {
            Some(e) => Err(TransportError::Unavailable(format!(
                "bolt: the last commit failed: {e}"
            ))),
            None => Ok(()),
        }
    }

    async fn live(&self) -> Result<(), TransportError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Closed);
        }
        if self.started.get().is_some() && !self.shared.writer_alive.load(Ordering::SeqCst) {
            return Err(BoltError::WriterGone.into());
        }
        Ok(())
    }

    async fn close(&self) -> Result<(), TransportError> {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // The writer commits what it already took, then stops and drops its handle.
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Command::Close(done)).is_ok() && self.started.get().is_some() {
            let _ = stopped.await;
        }
        self.pending.lock().take();
        let store = self.shared.store.write().take();
        // Wait for in-flight history reads (short) so the file is closed, and its lock
        // released, when this returns.
        if let Some(mut store) = store {
            tokio::task::spawn_blocking(move || {
                for _ in 0..500 {
                    match Arc::try_unwrap(store) {
                        Ok(s) => {
                            drop(s);
                            return;
                        }
                        Err(back) => {
                            store = back;
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                tracing::warn!("bolt: history reads still hold the file after 5 s; closing later");
            })
            .await
            .map_err(|e| TransportError::Backend(format!("closing the file: {e}")))?;
        }
        Ok(())
    }
}

/// The writer thread.
struct Writer {
    store: Arc<Store>,
    state: LogState,
    sink: Arc<dyn LogSink>,
    shared: Arc<Shared>,
    /// How often to look for expired entries while idle (`max_age` only).
    sweep: Option<Duration>,
}

/// Marks the writer dead when its thread ends, including by a panic.
struct AliveGuard(Arc<Shared>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.writer_alive.store(false, Ordering::SeqCst);
    }
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let _alive = AliveGuard(self.shared.clone());
        loop {
            let first = match self.sweep {
                Some(period) => match rx.recv_timeout(period) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => {
                        self.sweep_expired();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(c) => c,
                    Err(_) => return,
                },
            };
            let mut batch = Vec::new();
            let mut close = None;
            let mut next = Some(first);
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Append {
                        update,
                        bytes,
                        reply,
                    } => batch.push((update, bytes, reply)),
                    Command::Close(done) => {
                        close = Some(done);
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !batch.is_empty() {
                self.commit(batch);
            }
            if let Some(done) = close {
                drop(self.store);
                let _ = done.send(());
                return;
            }
        }
    }

    fn commit(&mut self, batch: Vec<(Arc<Update>, Vec<u8>, Reply)>) {
        let entries: Vec<(&str, &[u8])> = batch
            .iter()
            .map(|(u, bytes, _)| (u.id(), bytes.as_slice()))
            .collect();
        let first_seq = self.state.last_seq + 1;
        match self.store.commit_batch(&self.state, &entries, now_ms()) {
            Ok(state) => {
                self.state = state;
                *self.shared.last_error.lock() = None;
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
                self.shared
                    .committed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                // Delivered before the publishers are answered: once a publish returns, every
                // subscriber of this node has it queued.
                for (i, (update, _, reply)) in batch.into_iter().enumerate() {
                    self.sink
                        .deliver(update, Position(u128::from(first_seq) + i as u128));
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, updates = batch.len(), "bolt: commit failed");
                *self.shared.last_error.lock() = Some(e.to_string());
                // Unavailable (503 with Retry-After): a full disk or an I/O error may pass.
                let msg = format!("bolt: commit failed: {e}");
                for (_, _, reply) in batch {
                    let _ = reply.send(Err(TransportError::Unavailable(msg.clone())));
                }
            }
        }
    }

    fn sweep_expired(&mut self) {
        let now = now_ms();
        match self.store.has_expired(now) {
            Ok(false) => {}
            Ok(true) => match self.store.commit_batch(&self.state, &[], now) {
                Ok(state) => self.state = state,
                Err(e) => tracing::warn!(error = %e, "bolt: removing expired updates failed"),
            },
            Err(e) => tracing::warn!(error = %e, "bolt: checking for expired updates failed"),
        }
    }
}

/// A history replay in progress: reads a batch when its buffer runs dry, so the subscriber's
/// pace drives the reads and memory stays bounded by [`REPLAY_BATCH`].
struct Replay {
    shared: Arc<Shared>,
    /// The last sequence number read.
    after: u64,
    until: u64,
    /// The sequence number the next batch must start with, when known.
    expect: Option<u64>,
    buf: VecDeque<Entry>,
    done: bool,
}

impl Replay {
    async fn next(mut self) -> Option<(Result<Arc<Update>, TransportError>, Replay)> {
        loop {
            if let Some((_, item)) = self.buf.pop_front() {
                return match item {
                    Ok(u) => Some((Ok(u), self)),
                    Err(e) => {
                        // A corrupt entry ends the replay: the hub ends the stream, the client
                        // reconnects from the last id it got.
                        self.done = true;
                        self.buf.clear();
                        Some((Err(e.into()), self))
                    }
                };
            }
            if self.done || self.after >= self.until {
                return None;
            }
            let (after, until) = (self.after, self.until);
            let read = match self.shared.store() {
                Ok(store) => blocking(move || store.read_batch(after, until, REPLAY_BATCH)).await,
                Err(e) => Err(e),
            };
            let batch = match read {
                Ok(b) => b,
                Err(e) => {
                    self.done = true;
                    return Some((Err(e), self));
                }
            };
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return None;
            };
            if let Some(expect) = self.expect
                && first.0 != expect
            {
                self.done = true;
                return Some((
                    Err(TransportError::Backend(format!(
                        "bolt: updates {expect} to {} were trimmed while they were being replayed (the subscriber fell more than `size` updates behind)",
                        first.0 - 1
                    ))),
                    self,
                ));
            }
            self.after = if batch.len() < REPLAY_BATCH {
                until
            } else {
                last.0
            };
            self.expect = Some(last.0 + 1);
            self.buf = batch.into();
        }
    }
}
