//! Shared helpers of the integration tests: where the real servers are, unique stream names,
//! and cleaning up after a test. The servers are started by `./scripts/brokers`; a missing one
//! fails the test with the command to run, never skips it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use quicksilver_hub::contract::cluster::{NodeFactory, PresenceBackend};
use quicksilver_hub::transport_options::OptionList;
use quicksilver_hub::{SubscriberRecord, Transport};
use quicksilver_transport_redis::{
    Address, Keys, RedisOptions, RedisTransport, options::from_options,
};

/// Which server a test talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redis,
    Valkey,
    Cluster,
}

const HOW: &str = "start the test brokers with ./scripts/brokers (it installs Redis and Valkey if needed, starts Valkey on 127.0.0.1:16380 and a Redis Cluster on 127.0.0.1:17000-17002, and checks Redis on 127.0.0.1:6379)";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl Backend {
    /// The `transport redis` options reaching this server, as a user would write them.
    fn raw_options(self) -> OptionList {
        match self {
            Backend::Redis => {
                OptionList::new(&[("url", &[&env_or("QS_REDIS_URL", "redis://127.0.0.1:6379")])])
            }
            Backend::Valkey => OptionList::new(&[(
                "url",
                &[&env_or("QS_VALKEY_URL", "redis://127.0.0.1:16380")],
            )]),
            Backend::Cluster => {
                let addresses = env_or(
                    "QS_REDIS_CLUSTER_ADDRS",
                    "127.0.0.1:17000 127.0.0.1:17001 127.0.0.1:17002",
                );
                let addresses: Vec<&str> = addresses
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .collect();
                OptionList::new(&[("addresses", &addresses)])
            }
        }
    }

    /// Options for a fresh, uniquely named stream on this server, plus `extra` options.
    pub fn options(self, extra: &[(&str, &[&str])]) -> RedisOptions {
        let mut raw = self.raw_options();
        raw.push("stream", &[&format!("qs-test-{}", uuid::Uuid::new_v4())]);
        for (n, a) in extra {
            raw.push(n, a);
        }
        let opts = match from_options(raw.at("test", 0)) {
            Ok(o) => o,
            Err(e) => panic!("test options: {e}"),
        };
        self.require(&opts.addresses);
        opts
    }

    /// Fails (with how to fix it) unless every address answers PING.
    fn require(self, addresses: &[Address]) {
        for a in addresses {
            if let Err(e) = ping(a) {
                panic!("{self:?} is not reachable at {a} ({e}): {HOW}");
            }
        }
    }
}

/// A raw PING, independent of the code under test.
pub fn ping(a: &Address) -> std::io::Result<()> {
    let addr = (a.host.as_str(), a.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    s.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf)?;
    if &buf == b"+PONG\r\n" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected answer {:?}",
            String::from_utf8_lossy(&buf)
        )))
    }
}

/// A plain redis-rs connection to the server of `opts`, for inspecting and cleaning up.
pub async fn inspector(opts: &RedisOptions) -> Inspector {
    let nodes: Vec<String> = opts
        .addresses
        .iter()
        .map(|a| format!("redis://{a}/{}", opts.db))
        .collect();
    if opts.is_cluster() {
        let client = redis::cluster::ClusterClient::new(nodes.clone())
            .unwrap_or_else(|e| panic!("cluster client for {nodes:?}: {e}"));
        Inspector::Cluster(
            client
                .get_async_connection()
                .await
                .unwrap_or_else(|e| panic!("connecting to {nodes:?}: {e}")),
        )
    } else {
        let client =
            redis::Client::open(nodes[0].as_str()).unwrap_or_else(|e| panic!("{}: {e}", nodes[0]));
        Inspector::Single(
            client
                .get_multiplexed_async_connection()
                .await
                .unwrap_or_else(|e| panic!("connecting to {}: {e}", nodes[0])),
        )
    }
}

#[derive(Clone)]
pub enum Inspector {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Inspector {
    pub async fn query<T: redis::FromRedisValue>(&mut self, cmd: &redis::Cmd) -> T {
        let r = match self {
            Inspector::Single(c) => cmd.query_async(c).await,
            Inspector::Cluster(c) => cmd.query_async(c).await,
        };
        r.unwrap_or_else(|e| panic!("inspecting Redis: {e}"))
    }

    /// Deletes every key of a stream: the fixed ones and the presence hashes of its nodes.
    pub async fn delete_stream(&mut self, stream: &str) {
        let keys = Keys::new(stream);
        let nodes: Vec<String> = self
            .query(::redis::cmd("ZRANGE").arg(&keys.nodes).arg(0).arg(-1))
            .await;
        for node in nodes {
            let _: i64 = self
                .query(::redis::cmd("DEL").arg(keys.presence(&node)))
                .await;
        }
        for k in keys.fixed() {
            let _: i64 = self.query(::redis::cmd("DEL").arg(k)).await;
        }
    }
}

/// Opens transports for a test and deletes their streams' keys at the end.
#[derive(Clone, Default)]
pub struct Streams {
    created: Arc<Mutex<Vec<RedisOptions>>>,
}

impl Streams {
    pub fn transport(&self, opts: RedisOptions) -> Arc<RedisTransport> {
        self.created.lock().push(opts.clone());
        Arc::new(RedisTransport::new(opts).unwrap_or_else(|e| panic!("transport: {e}")))
    }

    /// The nodes of the cluster contract: each call opens one more node on the stream of
    /// `opts`.
    pub fn nodes(&self, opts: &RedisOptions) -> Box<NodeFactory> {
        let (streams, opts) = (self.clone(), opts.clone());
        Box::new(move || {
            let t: Arc<dyn Transport> = streams.transport(opts.clone());
            Box::pin(async move { t })
        })
    }

    pub async fn cleanup(&self) {
        let all: Vec<RedisOptions> = std::mem::take(&mut *self.created.lock());
        for o in all {
            inspector(&o).await.delete_stream(&o.stream).await;
        }
    }
}

/// Runs a test body, then deletes the keys it created, even when the body panicked.
pub async fn with_cleanup<F, Fut>(body: F)
where
    F: FnOnce(Streams) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    let streams = Streams::default();
    let outcome = std::panic::AssertUnwindSafe(body(streams.clone()))
        .catch_unwind()
        .await;
    streams.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The presence keys of `opts`, reached with plain commands for the cluster contract's
/// presence scenarios.
pub struct Presence {
    opts: RedisOptions,
}

impl Presence {
    pub fn of(opts: &RedisOptions) -> Presence {
        Presence { opts: opts.clone() }
    }
}

#[async_trait::async_trait]
impl PresenceBackend for Presence {
    async fn lose(&self, node: &str) {
        let keys = Keys::new(&self.opts.stream);
        let mut ins = inspector(&self.opts).await;
        let _: i64 = ins
            .query(::redis::cmd("DEL").arg(keys.presence(node)))
            .await;
        let _: i64 = ins
            .query(::redis::cmd("ZREM").arg(&keys.nodes).arg(node))
            .await;
    }

    /// Each record is a JSON document in the node's hash; a draft-07 one has no draft-08 field.
    async fn check_stored(&self, node: &str, records: &[SubscriberRecord]) {
        let keys = Keys::new(&self.opts.stream);
        let mut ins = inspector(&self.opts).await;
        for r in records {
            let stored: String = ins
                .query(::redis::cmd("HGET").arg(keys.presence(node)).arg(&r.id))
                .await;
            let back: SubscriberRecord = serde_json::from_str(&stored)
                .unwrap_or_else(|e| panic!("{stored:?} is not a record: {e}"));
            assert_eq!(&back, r);
            let draft08 = !r.match_types.is_empty();
            assert_eq!(stored.contains("\"match_types\""), draft08, "{stored}");
            assert_eq!(stored.contains("\"payloads\""), draft08, "{stored}");
        }
    }
}
