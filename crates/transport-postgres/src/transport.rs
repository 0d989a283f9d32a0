//! [`PostgresTransport`]: the shared ordered log is one PostgreSQL table.
//!
//! Appending inserts rows (batched per node: whatever is queued while the previous inserts run
//! goes into one multi-row `INSERT`); the table's triggers serialise inserting transactions on
//! an advisory lock and `NOTIFY` the last sequence number. Every node tails the table from a
//! dedicated connection that `LISTEN`s, reading `seq > last` after each notification, on a
//! periodic timer and after every reconnection, so an outage or a lost notification loses
//! nothing. History reads the same table after the first row carrying an event id.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures::StreamExt;
use parking_lot::Mutex;
use quicksilver_hub::{
    EARLIEST, History, LogSink, Position, PresenceStore, Tail, Transport, TransportError, Update,
    UpdateData,
};
use rand::Rng;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{PostgresTransportError, is_unavailable, pool_error, timed_out, to_transport};
use crate::options::PostgresOptions;
use crate::presence::PostgresPresence;
use crate::retention;
use crate::schema::{self, Names};
use quicksilver_hub::health::BrokerHealth;

/// Rows per read of the tail and of history.
const BATCH: i64 = 500;

/// Updates per `INSERT` at most, and their data's total size: a node's queued appends are
/// written together, one transaction for many publishers.
const MAX_BATCH: usize = 256;
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Inserts a node runs at once. More than one, so the next insert is already waiting at the
/// server when the advisory lock is released, instead of a round trip later.
const WRITERS: usize = 4;

/// Queued appends per node before publishers wait for room.
const QUEUE: usize = 10_000;

/// Connections per node in the pool (writers, history, presence, retention, readiness).
const POOL_SIZE: usize = 16;

/// How long an insert may take, including waiting for other nodes' inserts (the lock).
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long any other statement may take.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an append waits for this node's tail to deliver the new row.
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

/// How long readiness waits for `SELECT 1`.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The tail reads the table at least this often, even without notifications: a safety net
/// for a lost notification, and a probe of the connection.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Tail reconnection backoff: first delay and cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The PostgreSQL transport of one node.
pub struct PostgresTransport {
    shared: Arc<Shared>,
    presence: Arc<PostgresPresence>,
    started: OnceLock<()>,
    writer: Mutex<Option<mpsc::Sender<Pending>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The SQL texts, built once from the names.
pub(crate) struct Sql {
    pub insert: String,
    pub read_after: String,
    pub read_range: String,
    pub find_id: String,
    pub last_row: String,
}

/// What the transport, its tasks, its history streams and its presence store share.
pub(crate) struct Shared {
    pub options: PostgresOptions,
    pub names: Names,
    pub sql: Sql,
    pub pool: Pool,
    tls: MakeRustlsConnect,
    closed: AtomicBool,
    pub health: BrokerHealth,
    /// The sequence number of the last row the tail delivered to the hub.
    delivered: tokio::sync::watch::Sender<Position>,
    /// Insert statements run and updates they carried (for the benchmark's batch sizes).
    inserts: AtomicU64,
    inserted: AtomicU64,
}

impl Shared {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// A pooled connection, recording the outcome for the health checks.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, TransportError> {
        if self.is_closed() {
            return Err(TransportError::Closed);
        }
        match self.pool.get().await {
            Ok(c) => Ok(c),
            Err(e) => {
                let e = pool_error(e);
                if matches!(e, TransportError::Unavailable(_)) {
                    self.health.commands_failed();
                }
                Err(e)
            }
        }
    }

    /// Runs one database operation bounded in time, recording the outcome for the health
    /// checks.
    pub(crate) async fn timed<T>(
        &self,
        what: &str,
        limit: Duration,
        op: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, TransportError> {
        match tokio::time::timeout(limit, op).await {
            Ok(Ok(v)) => {
                self.health.commands_ok();
                Ok(v)
            }
            Ok(Err(e)) => {
                if is_unavailable(&e) {
                    self.health.commands_failed();
                }
                Err(to_transport(e))
            }
            Err(_) => {
                self.health.commands_failed();
                Err(timed_out(what))
            }
        }
    }
}

/// An append waiting for its batch.
struct Pending {
    update: Arc<Update>,
    retry: Option<i64>,
    done: oneshot::Sender<Result<i64, TransportError>>,
}

impl PostgresTransport {
    /// A transport for these options. Nothing is connected until [`Transport::start`]: this
    /// validates the TLS settings and builds the (lazy) connection pool.
    pub fn new(options: PostgresOptions) -> Result<PostgresTransport, PostgresTransportError> {
        let tls = crate::tls::connector(&options)?;
        let manager = Manager::from_config(
            options.connection.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let connect_wait = options
            .connection
            .get_connect_timeout()
            .copied()
            .unwrap_or(crate::options::DEFAULT_CONNECT_TIMEOUT)
            + Duration::from_secs(1);
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(APPEND_TIMEOUT))
            .create_timeout(Some(connect_wait))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .map_err(|e| PostgresTransportError::Pool(e.to_string()))?;
        let names = Names::from_options(&options);
        let sql = Sql {
            insert: names.insert(),
            read_after: names.read_after(),
            read_range: names.read_range(),
            find_id: names.find_id(),
            last_row: names.last_row(),
        };
        let shared = Arc::new(Shared {
            names,
            sql,
            pool,
            tls,
            closed: AtomicBool::new(false),
            health: BrokerHealth::default(),
            delivered: tokio::sync::watch::Sender::new(Position::START),
            inserts: AtomicU64::new(0),
            inserted: AtomicU64::new(0),
            options,
        });
        Ok(PostgresTransport {
            presence: Arc::new(PostgresPresence::new(shared.clone())),
            shared,
            started: OnceLock::new(),
            writer: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
        })
    }

    pub fn options(&self) -> &PostgresOptions {
        &self.shared.options
    }

    /// The names of this transport's tables and channel.
    pub fn names(&self) -> &Names {
        &self.shared.names
    }

    /// How long a silent node's subscriptions stay listed: give it to the hub
    /// (`HubOptions::presence_timeout`), which heartbeats every third of it.
    pub fn presence_timeout(&self) -> Duration {
        self.shared.options.presence_timeout
    }

    /// The PostgreSQL presence store, for direct use (the hub gets it through
    /// [`Transport::presence`]).
    pub fn presence_store(&self) -> Arc<PostgresPresence> {
        self.presence.clone()
    }

    /// Applies `max_length` / `max_age` now (normally done every second by one node at a
    /// time); returns how many rows were deleted, 0 when another node holds the trim lock.
    pub async fn trim(&self) -> Result<u64, TransportError> {
        retention::trim_once(&self.shared).await
    }

    /// How many insert statements this node ran, and how many updates they carried: their
    /// ratio is the batch size.
    pub fn insert_counts(&self) -> (u64, u64) {
        (
            self.shared.inserts.load(Ordering::Relaxed),
            self.shared.inserted.load(Ordering::Relaxed),
        )
    }

    fn stop(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.writer.lock().take();
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

impl Drop for PostgresTransport {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A stored field the database can't hold (PostgreSQL text has no NUL character) is refused
/// before it reaches a batch, so it can't fail anyone else's publish.
fn storable(update: &Update) -> Result<Option<i64>, TransportError> {
    let d = update.data();
    let nul = d.id.contains('\0')
        || d.data.contains('\0')
        || d.topics.iter().any(|t| t.contains('\0'))
        || d.event_type.as_deref().is_some_and(|t| t.contains('\0'));
    if nul {
        return Err(TransportError::Backend(
            "PostgreSQL text cannot contain NUL (U+0000) characters; the update was not stored"
                .into(),
        ));
    }
    match d.retry {
        None => Ok(None),
        Some(r) => i64::try_from(r).map(Some).map_err(|_| {
            TransportError::Backend(format!("retry {r} does not fit PostgreSQL's bigint"))
        }),
    }
}

#[async_trait]
impl Transport for PostgresTransport {
    fn name(&self) -> &str {
        "postgres"
    }

    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError> {
        self.started
            .set(())
            .map_err(|_| TransportError::Backend("transport started twice".into()))?;
        let s = &self.shared;
        let mut client = s.client().await?;
        match tokio::time::timeout(
            schema::MIGRATION_TIMEOUT,
            schema::migrate(&mut client, &s.names),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(timed_out("the schema migration")),
        }
        let row = s
            .timed(
                "reading the last update",
                QUERY_TIMEOUT,
                client.query_opt(&s.sql.last_row, &[]),
            )
            .await?;
        drop(client);
        let tail = match row {
            None => Tail::default(),
            Some(row) => {
                let seq: i64 = row.try_get(0).map_err(corrupt)?;
                let last_id: Option<String> = row.try_get(1).ok();
                Tail {
                    position: position(seq),
                    last_id,
                }
            }
        };
        s.delivered.send_replace(tail.position);
        // The LISTEN connection is open before returning, so that a publish right after start
        // already waits for its row to be read back (see `append`).
        let listener = match tokio::time::timeout(connect_wait(s), Listener::connect(s)).await {
            Ok(r) => r?,
            Err(_) => return Err(timed_out("the LISTEN connection")),
        };
        s.health.tail_ok();
        let last = i64::try_from(tail.position.0).unwrap_or(i64::MAX);
        let (tx, rx) = mpsc::channel(QUEUE);
        *self.writer.lock() = Some(tx);
        let mut tasks = self.tasks.lock();
        tasks.push(tokio::spawn(run_tail(
            self.shared.clone(),
            sink,
            last,
            listener,
        )));
        tasks.push(tokio::spawn(run_writer(self.shared.clone(), rx)));
        if s.options.max_length > 0 || s.options.max_age.is_some() {
            tasks.push(tokio::spawn(retention::run(self.shared.clone())));
        }
        Ok(tail)
    }

    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError> {
        let s = &self.shared;
        if s.is_closed() {
            return Err(TransportError::Closed);
        }
        let retry = storable(&update)?;
        let writer = self.writer.lock().clone().ok_or_else(|| {
            TransportError::Backend("the transport must be started before appending".into())
        })?;
        let (done, result) = oneshot::channel();
        writer
            .send(Pending {
                update,
                retry,
                done,
            })
            .await
            .map_err(|_| TransportError::Closed)?;
        let seq = match tokio::time::timeout(APPEND_TIMEOUT + QUERY_TIMEOUT, result).await {
            Ok(Ok(r)) => r?,
            Ok(Err(_)) => return Err(TransportError::Closed),
            Err(_) => return Err(timed_out("the insert")),
        };
        // Read-your-writes: return once this node has delivered the row, so a subscriber that
        // connects after a publish returned sees it in its history, not live, and the id is a
        // valid cursor on this node. Bounded: the insert itself committed, so a lagging or
        // reconnecting tail only delays the answer.
        if s.health.tail_up() {
            let target = position(seq);
            let mut delivered = s.delivered.subscribe();
            let caught_up = delivered.wait_for(|p| *p >= target);
            if tokio::time::timeout(DELIVERY_WAIT, caught_up)
                .await
                .is_err()
            {
                tracing::warn!(table = %s.names.channel, seq, "the update was stored but this node has not read it back yet");
            }
        }
        Ok(())
    }

    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError> {
        let s = &self.shared;
        if s.is_closed() {
            return Err(TransportError::Closed);
        }
        let from: i64 = if after_id == EARLIEST {
            0
        } else {
            let client = s.client().await?;
            let row = s
                .timed(
                    "the event id lookup",
                    QUERY_TIMEOUT,
                    client.query_one(&s.sql.find_id, &[&after_id]),
                )
                .await?;
            match row.try_get::<_, Option<i64>>(0).map_err(corrupt)? {
                Some(seq) => seq,
                None => return Ok(History::empty(false)),
            }
        };
        let until = i64::try_from(until.0).unwrap_or(i64::MAX);
        if until <= from {
            return Ok(History::empty(true));
        }
        let shared = self.shared.clone();
        let batches = futures::stream::unfold(Some(from), move |next| {
            let shared = shared.clone();
            async move {
                let after = next?;
                match read_range(&shared, after, until).await {
                    Err(e) => Some((vec![Err(e)], None)),
                    Ok((updates, last, full)) => {
                        let more = if full { last } else { None };
                        Some((updates.into_iter().map(Ok).collect::<Vec<_>>(), more))
                    }
                }
            }
        });
        Ok(History {
            found: true,
            updates: Box::pin(batches.flat_map(futures::stream::iter)),
        })
    }

    fn presence(&self) -> Option<Arc<dyn PresenceStore>> {
        Some(self.presence.clone())
    }

    async fn ready(&self) -> Result<(), TransportError> {
        let s = &self.shared;
        if s.is_closed() {
            return Err(TransportError::Closed);
        }
        let probe = async {
            let client = s.client().await?;
            s.timed("SELECT 1", READY_TIMEOUT, client.query_one("SELECT 1", &[]))
                .await
        };
        let tail_started = self.started.get().is_some();
        s.health
            .ready(
                "PostgreSQL",
                "SELECT 1",
                probe,
                READY_TIMEOUT,
                tail_started,
                || format!("follow table {}", s.names.channel),
            )
            .await
    }

    async fn live(&self) -> Result<(), TransportError> {
        self.shared.health.live("PostgreSQL")
    }

    async fn close(&self) -> Result<(), TransportError> {
        self.stop();
        self.shared.pool.close();
        Ok(())
    }
}

/// A sequence number as a hub position (sequence numbers start at 1).
pub(crate) fn position(seq: i64) -> Position {
    Position(u128::from(u64::try_from(seq).unwrap_or(0)))
}

fn corrupt(e: tokio_postgres::Error) -> TransportError {
    TransportError::Corrupt(format!("PostgreSQL: {}", crate::error::describe(&e)))
}

fn connect_wait(s: &Shared) -> Duration {
    s.options
        .connection
        .get_connect_timeout()
        .copied()
        .unwrap_or(crate::options::DEFAULT_CONNECT_TIMEOUT)
        * 2
}

/// Builds the update of a row (`seq, event_id, topics, data, private, type, retry`).
pub(crate) fn decode_update(row: &Row) -> Result<Arc<Update>, String> {
    let id: String = row.try_get(1).map_err(|e| format!("event_id: {e}"))?;
    let topics: Vec<String> = row.try_get(2).map_err(|e| format!("topics: {e}"))?;
    if topics.is_empty() {
        return Err("no topic".into());
    }
    let data: String = row.try_get(3).map_err(|e| format!("data: {e}"))?;
    let private: bool = row.try_get(4).map_err(|e| format!("private: {e}"))?;
    let event_type: Option<String> = row.try_get(5).map_err(|e| format!("type: {e}"))?;
    let retry: Option<i64> = row.try_get(6).map_err(|e| format!("retry: {e}"))?;
    let retry = match retry {
        None => None,
        Some(r) => Some(u64::try_from(r).map_err(|_| format!("retry: negative ({r})"))?),
    };
    Ok(Arc::new(Update::new(UpdateData {
        id,
        topics,
        data,
        private,
        event_type,
        retry,
    })))
}

/// One batch of history: rows in `(after, until]`; returns the decodable updates, the last
/// sequence number read and whether the batch was full (more may follow).
async fn read_range(
    s: &Shared,
    after: i64,
    until: i64,
) -> Result<(Vec<Arc<Update>>, Option<i64>, bool), TransportError> {
    let client = s.client().await?;
    let stmt = s
        .timed(
            "preparing a history read",
            QUERY_TIMEOUT,
            client.prepare_cached(&s.sql.read_range),
        )
        .await?;
    let rows = s
        .timed(
            "a history read",
            QUERY_TIMEOUT,
            client.query(&stmt, &[&after, &until, &BATCH]),
        )
        .await?;
    let full = rows.len() as i64 == BATCH;
    let mut last = None;
    let mut updates = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get(0).map_err(corrupt)?;
        match decode_update(row) {
            Ok(u) => updates.push(u),
            Err(m) => {
                tracing::error!(table = %s.names.channel, seq, "skipping an undecodable row in history: {m}")
            }
        }
        last = Some(seq);
    }
    Ok((updates, last, full))
}

/// Takes queued appends in batches and inserts each batch, up to [`WRITERS`] at once.
async fn run_writer(shared: Arc<Shared>, mut queue: mpsc::Receiver<Pending>) {
    let permits = Arc::new(Semaphore::new(WRITERS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut bytes = first.update.data().data.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(p) => {
                    bytes += p.update.data().data.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let result = insert(&shared, &batch).await;
            for p in batch {
                let r = match &result {
                    Ok(seq) => Ok(*seq),
                    Err(e) => Err(clone_error(e)),
                };
                // The publisher may have given up waiting; nothing to do then.
                let _ = p.done.send(r);
            }
            drop(permit);
        });
    }
}

fn clone_error(e: &TransportError) -> TransportError {
    match e {
        TransportError::Unavailable(m) => TransportError::Unavailable(m.clone()),
        TransportError::Closed => TransportError::Closed,
        TransportError::Corrupt(m) => TransportError::Corrupt(m.clone()),
        TransportError::Backend(m) => TransportError::Backend(m.clone()),
    }
}

/// One multi-row `INSERT` (one transaction); returns the batch's last sequence number.
async fn insert(s: &Shared, batch: &[Pending]) -> Result<i64, TransportError> {
    let mut topics = Vec::with_capacity(batch.len());
    for p in batch {
        topics.push(
            serde_json::to_string(p.update.topics())
                .map_err(|e| TransportError::Backend(format!("encoding topics: {e}")))?,
        );
    }
    let ids: Vec<&str> = batch.iter().map(|p| p.update.id()).collect();
    let data: Vec<&str> = batch
        .iter()
        .map(|p| p.update.data().data.as_str())
        .collect();
    let private: Vec<bool> = batch.iter().map(|p| p.update.is_private()).collect();
    let types: Vec<Option<&str>> = batch
        .iter()
        .map(|p| p.update.data().event_type.as_deref())
        .collect();
    let retries: Vec<Option<i64>> = batch.iter().map(|p| p.retry).collect();
    let client = s.client().await?;
    let stmt = s
        .timed(
            "preparing the insert",
            QUERY_TIMEOUT,
            client.prepare_cached(&s.sql.insert),
        )
        .await?;
    let row = s
        .timed(
            "the insert",
            APPEND_TIMEOUT,
            client.query_one(&stmt, &[&ids, &topics, &data, &private, &types, &retries]),
        )
        .await?;
    s.inserts.fetch_add(1, Ordering::Relaxed);
    s.inserted.fetch_add(batch.len() as u64, Ordering::Relaxed);
    let last: Option<i64> = row.try_get(0).map_err(corrupt)?;
    last.ok_or_else(|| TransportError::Backend("the insert returned no sequence number".into()))
}

/// The tail's dedicated connection: it `LISTEN`s (notifications only reach a connection whose
/// messages we poll ourselves, which a pooled one does not) and reads the table.
struct Listener {
    client: tokio_postgres::Client,
    read: tokio_postgres::Statement,
    /// Woken by each notification on the channel (several coalesce into one wake-up).
    wake: Arc<Notify>,
    /// Woken once when the connection ends.
    lost: Arc<Notify>,
    driver: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Listener {
    async fn connect(s: &Shared) -> Result<Listener, TransportError> {
        let (client, mut connection) = s
            .options
            .connection
            .connect(s.tls.clone())
            .await
            .map_err(to_transport)?;
        let wake = Arc::new(Notify::new());
        let lost = Arc::new(Notify::new());
        let driver = {
            let (wake, lost) = (wake.clone(), lost.clone());
            let channel = s.names.channel.clone();
            tokio::spawn(async move {
                loop {
                    match futures::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(n))) => {
                            if n.channel() == channel {
                                wake.notify_one();
                            }
                        }
                        Some(Ok(AsyncMessage::Notice(n))) => {
                            tracing::debug!(table = %channel, "PostgreSQL notice: {}", n.message())
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::debug!(table = %channel, error = %crate::error::describe(&e), "the LISTEN connection failed");
                            break;
                        }
                        None => break,
                    }
                }
                lost.notify_one();
            })
        };
        // LISTEN before reading: a row committed after this is notified, one committed before
        // is found by the catch-up read that follows.
        client
            .batch_execute(&s.names.listen())
            .await
            .map_err(to_transport)?;
        let read = client
            .prepare(&s.sql.read_after)
            .await
            .map_err(to_transport)?;
        Ok(Listener {
            client,
            read,
            wake,
            lost,
            driver,
        })
    }

    /// Delivers every row after `last`, in sequence order, advancing `last`.
    async fn catch_up(
        &self,
        s: &Shared,
        sink: &dyn LogSink,
        last: &mut i64,
    ) -> Result<(), TransportError> {
        loop {
            let rows = match tokio::time::timeout(
                QUERY_TIMEOUT,
                self.client.query(&self.read, &[&*last, &BATCH]),
            )
            .await
            {
                Ok(r) => r.map_err(to_transport)?,
                Err(_) => return Err(timed_out("a read of the table")),
            };
            let n = rows.len();
            for row in rows {
                let seq: i64 = row.try_get(0).map_err(corrupt)?;
                match decode_update(&row) {
                    Ok(update) => sink.deliver(update, position(seq)),
                    Err(m) => {
                        tracing::error!(table = %s.names.channel, seq, "skipping an undecodable row: {m}")
                    }
                }
                *last = seq;
            }
            if n > 0 {
                s.delivered.send_replace(position(*last));
            }
            if (n as i64) < BATCH {
                return Ok(());
            }
        }
    }
}

/// Capped, jittered exponential backoff: spreads the reconnections of many nodes after a
/// database restart.
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let exp = BACKOFF_MIN.saturating_mul(1 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        exp.min(BACKOFF_MAX)
            .mul_f64(rand::rng().random_range(0.5..1.0))
    }
}

/// Follows the table from `last` (exclusive) into `sink` until the transport closes,
/// reconnecting as needed; every (re)connection starts with a catch-up read.
async fn run_tail(shared: Arc<Shared>, sink: Arc<dyn LogSink>, mut last: i64, first: Listener) {
    let mut backoff = Backoff { attempt: 0 };
    let mut first = Some(first);
    while !shared.is_closed() {
        let listener = match first.take() {
            Some(l) => l,
            None => match tokio::time::timeout(connect_wait(&shared), Listener::connect(&shared))
                .await
            {
                Ok(Ok(l)) => {
                    tracing::info!(table = %shared.names.channel, after = last, "connected to PostgreSQL again; catching up");
                    l
                }
                Ok(Err(e)) => {
                    shared.health.tail_failed();
                    tracing::warn!(table = %shared.names.channel, error = %e, "cannot connect to PostgreSQL to follow the table; retrying");
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
                Err(_) => {
                    shared.health.tail_failed();
                    tracing::warn!(table = %shared.names.channel, "connecting to PostgreSQL timed out; retrying");
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            },
        };
        shared.health.tail_ok();
        loop {
            if let Err(e) = listener.catch_up(&shared, &*sink, &mut last).await {
                shared.health.tail_failed();
                tracing::warn!(table = %shared.names.channel, error = %e, after = last, "reading the table failed; reconnecting");
                break;
            }
            shared.health.tail_ok();
            backoff.attempt = 0;
            tokio::select! {
                _ = listener.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                _ = listener.lost.notified() => {
                    shared.health.tail_failed();
                    tracing::warn!(table = %shared.names.channel, after = last, "lost the LISTEN connection; reconnecting");
                    break;
                }
            }
        }
        drop(listener);
        tokio::time::sleep(backoff.next()).await;
    }
}
