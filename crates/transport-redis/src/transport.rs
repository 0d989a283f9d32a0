//! [`RedisTransport`]: the shared ordered log is one Redis stream.
//!
//! Appending runs one Lua script (XADD + id index, trimmed together). Every node tails the
//! whole stream with `XREAD BLOCK` on its own connection, from the last entry it read, and
//! delivers entries to its hub in stream order; after a failure it reconnects with capped,
//! jittered exponential backoff and resumes from that entry, so an outage loses nothing Redis
//! kept. History is `XRANGE` (exclusive start, read lazily in batches) after the entry the id
//! index points to: one `HGET`, never a scan.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use parking_lot::Mutex;
use quicksilver_hub::{
    EARLIEST, History, LogSink, Position, PresenceStore, Tail, Transport, TransportError, Update,
};
use rand::Rng;
use redis::streams::{StreamRangeReply, StreamReadReply};
use redis::{FromRedisValue, RedisResult};
use tokio::task::JoinHandle;

use crate::codec::{decode_fields, encode, entry_position, position_entry};
use crate::conn::{BLOCK, COMMAND_TIMEOUT, CONNECT_TIMEOUT, Conn, Connector};
use crate::error::{RedisTransportError, is_unavailable, timed_out, to_transport};
use crate::keys::Keys;
use crate::options::RedisOptions;
use crate::presence::RedisPresence;
use crate::scripts::Scripts;
use quicksilver_hub::health::BrokerHealth;

/// Entries per `XREAD` / `XRANGE` round trip.
const BATCH: usize = 1000;

/// How long an append waits for this node's tail to deliver the new entry.
const DELIVERY_WAIT: Duration = Duration::from_secs(5);

/// How long readiness waits for `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// Tail reconnection backoff: first delay and cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The Redis/Valkey transport of one node.
pub struct RedisTransport {
    shared: Arc<Shared>,
    presence: Arc<RedisPresence>,
    started: OnceLock<()>,
    tail: Mutex<Option<JoinHandle<()>>>,
}

/// What the transport, its tail task, its history streams and its presence store share.
pub(crate) struct Shared {
    pub options: RedisOptions,
    pub keys: Keys,
    pub scripts: Scripts,
    connector: Connector,
    commands: tokio::sync::OnceCell<Conn>,
    closed: AtomicBool,
    health: BrokerHealth,
    /// The position of the last entry the tail delivered to the hub.
    delivered: tokio::sync::watch::Sender<Position>,
}

impl Shared {
    /// The shared command connection, opened on first use (and reopened by redis-rs itself
    /// after failures).
    async fn conn(&self) -> Result<Conn, TransportError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(TransportError::Closed);
        }
        let open = self.commands.get_or_try_init(|| self.connector.commands());
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, open).await {
            Ok(Ok(c)) => Ok(c.clone()),
            Ok(Err(e)) => {
                self.note(&e);
                Err(to_transport(e))
            }
            Err(_) => {
                self.health.commands_failed();
                Err(timed_out("the connection"))
            }
        }
    }

    fn note(&self, e: &redis::RedisError) {
        if is_unavailable(e) {
            self.health.commands_failed();
        }
    }

    /// Runs one command (or script) on the shared connection, bounded in time, and records
    /// the outcome for the health checks.
    pub(crate) async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, TransportError>
    where
        F: Fn(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let mut retried = false;
        loop {
            let conn = self.conn().await?;
            match tokio::time::timeout(COMMAND_TIMEOUT + Duration::from_secs(1), f(conn)).await {
                Ok(Ok(v)) => {
                    self.health.commands_ok();
                    return Ok(v);
                }
                // The connection manager reports its last failed reconnection once more even
                // when the server is back (and reconnects on that report). The command was
                // never sent, so sending it again is safe, and saves a publisher a 503.
                Ok(Err(e)) if !retried && e.is_connection_refusal() => retried = true,
                Ok(Err(e)) => {
                    self.note(&e);
                    return Err(to_transport(e));
                }
                Err(_) => {
                    self.health.commands_failed();
                    return Err(timed_out(what));
                }
            }
        }
    }

    /// One plain command.
    pub(crate) async fn query<T: FromRedisValue>(
        &self,
        what: &str,
        cmd: redis::Cmd,
    ) -> Result<T, TransportError> {
        let cmd = &cmd;
        self.call(what, |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl RedisTransport {
    /// A transport for these options. Nothing is connected until [`Transport::start`] (or the
    /// first command): this only validates the client settings.
    pub fn new(options: RedisOptions) -> Result<RedisTransport, RedisTransportError> {
        let connector = Connector::new(&options)?;
        let shared = Arc::new(Shared {
            keys: Keys::new(&options.stream),
            scripts: Scripts::new(),
            connector,
            commands: tokio::sync::OnceCell::new(),
            closed: AtomicBool::new(false),
            health: BrokerHealth::default(),
            delivered: tokio::sync::watch::Sender::new(Position::START),
            options,
        });
        Ok(RedisTransport {
            presence: Arc::new(RedisPresence::new(shared.clone())),
            shared,
            started: OnceLock::new(),
            tail: Mutex::new(None),
        })
    }

    pub fn options(&self) -> &RedisOptions {
        &self.shared.options
    }

    /// How long a silent node's subscriptions stay listed: give it to the hub
    /// (`HubOptions::presence_timeout`), which heartbeats every third of it.
    pub fn presence_timeout(&self) -> Duration {
        self.shared.options.presence_timeout
    }

    /// The key names of this transport's stream.
    pub fn keys(&self) -> &Keys {
        &self.shared.keys
    }

    /// The Redis presence store, for direct use (the hub gets it through
    /// [`Transport::presence`]).
    pub fn presence_store(&self) -> Arc<RedisPresence> {
        self.presence.clone()
    }

    fn stop_tail(&self) {
        if let Some(task) = self.tail.lock().take() {
            task.abort();
        }
    }
}

impl Drop for RedisTransport {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.stop_tail();
    }
}

#[async_trait]
impl Transport for RedisTransport {
    fn name(&self) -> &str {
        "redis"
    }

    async fn start(&self, sink: Arc<dyn LogSink>) -> Result<Tail, TransportError> {
        self.started
            .set(())
            .map_err(|_| TransportError::Backend("transport started twice".into()))?;
        let s = &self.shared;
        let last: StreamRangeReply = s
            .query(
                "XREVRANGE",
                redis::cmd("XREVRANGE")
                    .arg(&s.keys.stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .to_owned(),
            )
            .await?;
        let (tail, cursor) = match last.ids.first() {
            None => (Tail::default(), "0-0".to_owned()),
            Some(entry) => {
                let position = entry_position(&entry.id).ok_or_else(|| {
                    TransportError::Corrupt(format!(
                        "stream {}: unexpected entry id {:?}",
                        s.keys.stream, entry.id
                    ))
                })?;
                // An undecodable last entry still ends the history; it just has no id to report.
                let last_id = decode_fields(&entry.map).ok().map(|u| u.id().to_string());
                (Tail { position, last_id }, entry.id.clone())
            }
        };
        s.delivered.send_replace(tail.position);
        // The tail's connection is opened before returning, so that a publish right after
        // start already waits for its entry to be read back (see `append`).
        let conn = match tokio::time::timeout(CONNECT_TIMEOUT * 2, s.connector.tail()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(to_transport(e)),
            Err(_) => return Err(timed_out("the stream connection")),
        };
        s.health.tail_ok();
        let task = tokio::spawn(run_tail(self.shared.clone(), sink, cursor, conn));
        *self.tail.lock() = Some(task);
        Ok(tail)
    }

    async fn append(&self, update: Arc<Update>) -> Result<(), TransportError> {
        let s = &self.shared;
        if s.is_closed() {
            return Err(TransportError::Closed);
        }
        let encoding = s.options.encoding;
        let payload = encode(update.data(), encoding)?;
        let max_length = s.options.max_length;
        let (update, payload) = (&update, &payload);
        let entry: String = s
            .call("the append script", |mut c| async move {
                s.scripts
                    .append
                    .key(&s.keys.stream)
                    .key(&s.keys.ids)
                    .key(&s.keys.id_order)
                    .arg(update.id())
                    .arg(encoding.tag())
                    .arg(payload)
                    .arg(max_length)
                    .invoke_async::<String>(&mut c)
                    .await
            })
            .await?;
        // Read-your-writes: return once this node has delivered the entry, so a subscriber
        // that connects after a publish returned sees it in its history, not live, and the
        // id is a valid cursor on this node. Bounded: the write itself succeeded, so a lagging
        // or reconnecting tail only delays the answer.
        if let Some(position) = entry_position(&entry)
            && self.started.get().is_some()
            && s.health.tail_up()
        {
            let mut delivered = s.delivered.subscribe();
            let caught_up = delivered.wait_for(|p| *p >= position);
            if tokio::time::timeout(DELIVERY_WAIT, caught_up)
                .await
                .is_err()
            {
                tracing::warn!(stream = %s.keys.stream, entry = %entry, "the update was appended but this node has not read it back yet");
            }
        }
        Ok(())
    }

    async fn history(&self, after_id: &str, until: Position) -> Result<History, TransportError> {
        let s = &self.shared;
        if s.is_closed() {
            return Err(TransportError::Closed);
        }
        let start = if after_id == EARLIEST {
            "-".to_owned()
        } else {
            let entry: Option<String> = s
                .query(
                    "HGET",
                    redis::cmd("HGET").arg(&s.keys.ids).arg(after_id).to_owned(),
                )
                .await?;
            match entry {
                Some(e) => format!("({e}"),
                None => return Ok(History::empty(false)),
            }
        };
        if until == Position::START {
            return Ok(History::empty(true));
        }
        let end = position_entry(until);
        let shared = self.shared.clone();
        let batches = futures::stream::unfold(Some(start), move |next| {
            let shared = shared.clone();
            let end = end.clone();
            async move {
                let start = next?;
                let s = &shared;
                let cmd = redis::cmd("XRANGE")
                    .arg(&s.keys.stream)
                    .arg(&start)
                    .arg(&end)
                    .arg("COUNT")
                    .arg(BATCH)
                    .to_owned();
                match s.query::<StreamRangeReply>("XRANGE", cmd).await {
                    Err(e) => Some((vec![Err(e)], None)),
                    Ok(reply) => {
                        let more = (reply.ids.len() == BATCH)
                            .then(|| reply.ids.last().map(|e| format!("({}", e.id)))
                            .flatten();
                        let updates = reply
                            .ids
                            .iter()
                            .filter_map(|e| match decode_fields(&e.map) {
                                Ok(u) => Some(Ok(u)),
                                Err(m) => {
                                    tracing::error!(stream = %s.keys.stream, entry = %e.id, "skipping an undecodable entry in history: {m}");
                                    None
                                }
                            })
                            .collect::<Vec<_>>();
                        Some((updates, more))
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
        let ping = s.query::<String>("PING", redis::cmd("PING"));
        let tail_started = self.started.get().is_some();
        s.health
            .ready("Redis", "PING", ping, READY_TIMEOUT, tail_started, || {
                format!("read stream {}", s.keys.stream)
            })
            .await
    }

    async fn live(&self) -> Result<(), TransportError> {
        self.shared.health.live("Redis")
    }

    async fn close(&self) -> Result<(), TransportError> {
        self.shared.closed.store(true, Ordering::Release);
        self.stop_tail();
        Ok(())
    }
}

/// Capped, jittered exponential backoff: spreads the reconnections of many nodes after a
/// broker restart.
struct Backoff {
    attempt: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let exp = BACKOFF_MIN.saturating_mul(1 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        let capped = exp.min(BACKOFF_MAX);
        capped.mul_f64(rand::rng().random_range(0.5..1.0))
    }
}

/// Reads the stream from `cursor` (exclusive) into `sink` until the transport closes, on a
/// dedicated connection, reconnecting as needed.
async fn run_tail(shared: Arc<Shared>, sink: Arc<dyn LogSink>, mut cursor: String, first: Conn) {
    let mut backoff = Backoff { attempt: 0 };
    let block_ms = BLOCK.as_millis() as u64;
    let mut first = Some(first);
    while !shared.is_closed() {
        let connect = async {
            match first.take() {
                Some(c) => Ok(c),
                None => shared.connector.tail().await,
            }
        };
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT * 2, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                shared.health.tail_failed();
                tracing::warn!(stream = %shared.keys.stream, error = %e, "cannot connect to Redis to read the stream; retrying");
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
            Err(_) => {
                shared.health.tail_failed();
                tracing::warn!(stream = %shared.keys.stream, "connecting to Redis to read the stream timed out; retrying");
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        if !shared.health.tail_up() {
            tracing::info!(stream = %shared.keys.stream, after = %cursor, "connected to Redis again; resuming the stream");
        }
        // Up as soon as connected: appends wait for their entries again (see `append`), and
        // readiness recovers without waiting for the first blocking read to return.
        shared.health.tail_ok();
        loop {
            let cmd = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(block_ms)
                .arg("STREAMS")
                .arg(&shared.keys.stream)
                .arg(&cursor)
                .to_owned();
            let read = tokio::time::timeout(
                BLOCK + COMMAND_TIMEOUT + Duration::from_secs(1),
                cmd.query_async::<Option<StreamReadReply>>(&mut conn),
            )
            .await;
            let reply = match read {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => {
                    shared.health.tail_failed();
                    tracing::warn!(stream = %shared.keys.stream, error = %e, after = %cursor, "reading the stream failed; reconnecting");
                    break;
                }
                Err(_) => {
                    shared.health.tail_failed();
                    tracing::warn!(stream = %shared.keys.stream, after = %cursor, "Redis did not answer a stream read in time; reconnecting");
                    break;
                }
            };
            shared.health.tail_ok();
            backoff.attempt = 0;
            let mut last = None;
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                let Some(position) = entry_position(&entry.id) else {
                    tracing::error!(stream = %shared.keys.stream, entry = %entry.id, "skipping an entry with an unexpected id");
                    continue;
                };
                match decode_fields(&entry.map) {
                    Ok(update) => {
                        sink.deliver(update, position);
                        last = Some(position);
                    }
                    Err(m) => {
                        tracing::error!(stream = %shared.keys.stream, entry = %entry.id, "skipping an undecodable entry: {m}")
                    }
                }
                cursor = entry.id;
            }
            if let Some(p) = last {
                shared.delivered.send_replace(p);
            }
        }
        tokio::time::sleep(backoff.next()).await;
    }
}
