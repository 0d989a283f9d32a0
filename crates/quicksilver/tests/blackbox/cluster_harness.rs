//! The multi-node harness: N real `quicksilver` processes on loopback ports sharing one real
//! broker, the way a cluster runs behind a load balancer.
//!
//! A [`Backend`] says how nodes reach a broker: a function from a stream (table, topic...) name
//! to the `transport ...` directive block, the addresses that must answer before a test starts
//! (and the command that starts them), and how to remove what a test left on the broker. Every
//! [`Cluster`] gets a unique stream name, so tests run in parallel without sharing state, and
//! removes its keys when dropped. A later transport (PostgreSQL, Kafka, NATS...) plugs in by
//! adding one constructor here; the checks in `cluster.rs` take a `Backend` and don't change.
//!
//! Tests that restart the broker itself never touch the shared brokers: they start their own
//! ([`Backend::own_broker`]), on its own port and data directory, stopped by PID.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

/// How long a silent node's subscriptions stay listed in these tests (the hub's default is 30 s).
pub const PRESENCE_TIMEOUT: Duration = Duration::from_secs(2);

/// What starts the shared test brokers.
const HOW: &str = "start the test brokers with ./scripts/brokers (Redis on 127.0.0.1:6379, Valkey on 127.0.0.1:16380, a Redis Cluster on 127.0.0.1:17000-17002; it installs what is missing)";

/// A stream name -> the `transport ...` block that reaches the broker with that name.
pub type TransportBlock = Arc<dyn Fn(&str) -> String + Send + Sync>;
/// Removes everything a test stored on the broker under a stream name.
pub type Cleanup = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;
/// Starts a private broker of this kind (for the tests that kill the broker).
pub type OwnBrokerFactory = Arc<dyn Fn() -> Box<dyn OwnBroker> + Send + Sync>;

/// How the nodes of a cluster reach a shared broker.
#[derive(Clone)]
pub struct Backend {
    /// Short name, used in stream names and messages.
    pub name: &'static str,
    /// `host:port` addresses that must accept TCP connections before a test starts.
    pub needs: Vec<String>,
    /// The command or setting that makes `needs` answer.
    pub how_to_start: String,
    transport: TransportBlock,
    cleanup: Cleanup,
    own: Option<OwnBrokerFactory>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

impl Backend {
    /// A `transport redis` over one server given as a URL (Redis or Valkey).
    fn redis_url(
        name: &'static str,
        url: String,
        how: &str,
        own: Option<OwnBrokerFactory>,
    ) -> Backend {
        let hostport = url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let block_url = url.clone();
        Backend {
            name,
            needs: vec![hostport],
            how_to_start: how.to_string(),
            transport: Arc::new(move |stream| {
                format!(
                    "transport redis {{\n\turl {block_url}\n\tstream {stream}\n\tpresence_timeout {}ms\n}}",
                    PRESENCE_TIMEOUT.as_millis()
                )
            }),
            cleanup: Arc::new(move |stream| {
                redis_cleanup(std::slice::from_ref(&url), false, stream)
            }),
            own,
        }
    }

    /// Redis 7 on `QS_REDIS_URL` (default `redis://127.0.0.1:6379`).
    pub fn redis() -> Backend {
        Backend::redis_url(
            "redis",
            env_or("QS_REDIS_URL", "redis://127.0.0.1:6379"),
            HOW,
            Some(Arc::new(|| {
                Box::new(OwnRedis::start("redis-server", false))
            })),
        )
    }

    /// Valkey 8 on `QS_VALKEY_URL` (default `redis://127.0.0.1:16380`).
    pub fn valkey() -> Backend {
        Backend::redis_url(
            "valkey",
            env_or("QS_VALKEY_URL", "redis://127.0.0.1:16380"),
            HOW,
            Some(Arc::new(|| {
                Box::new(OwnRedis::start("valkey-server", false))
            })),
        )
    }

    /// A three-master Redis Cluster on `QS_REDIS_CLUSTER_ADDRS` (default
    /// `127.0.0.1:17000 127.0.0.1:17001 127.0.0.1:17002`).
    pub fn redis_cluster() -> Backend {
        let addrs: Vec<String> = env_or(
            "QS_REDIS_CLUSTER_ADDRS",
            "127.0.0.1:17000 127.0.0.1:17001 127.0.0.1:17002",
        )
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
        Backend::redis_cluster_at(
            "redis-cluster",
            addrs,
            HOW,
            Some(Arc::new(|| Box::new(OwnRedis::start("redis-server", true)))),
        )
    }

    fn redis_cluster_at(
        name: &'static str,
        addrs: Vec<String>,
        how: &str,
        own: Option<OwnBrokerFactory>,
    ) -> Backend {
        let list = addrs.join(" ");
        let urls: Vec<String> = addrs.iter().map(|a| format!("redis://{a}")).collect();
        Backend {
            name,
            needs: addrs,
            how_to_start: how.to_string(),
            transport: Arc::new(move |stream| {
                format!(
                    "transport redis {{\n\taddresses {list}\n\tstream {stream}\n\tpresence_timeout {}ms\n}}",
                    PRESENCE_TIMEOUT.as_millis()
                )
            }),
            cleanup: Arc::new(move |stream| redis_cleanup(&urls, true, stream)),
            own,
        }
    }

    /// The `transport ...` block for a stream name.
    pub fn transport_block(&self, stream: &str) -> String {
        (self.transport)(stream)
    }

    /// Panics with the command to run unless every address of the broker accepts connections.
    pub fn require(&self) {
        for a in &self.needs {
            let ok = a
                .parse::<std::net::SocketAddr>()
                .ok()
                .and_then(|sa| TcpStream::connect_timeout(&sa, Duration::from_secs(1)).ok())
                .or_else(|| TcpStream::connect(a.as_str()).ok())
                .is_some();
            assert!(
                ok,
                "{}: nothing answers on {a}: {}",
                self.name, self.how_to_start
            );
        }
    }

    /// Starts a private broker of this kind, for the tests that kill and restart the broker.
    pub fn own_broker(&self) -> Box<dyn OwnBroker> {
        let f = self
            .own
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no private broker defined for this backend", self.name));
        f()
    }
}

/// A broker a test starts for itself, killed (SIGKILL) and restarted on the same port(s) and
/// data directory, stopped when dropped.
pub trait OwnBroker: Send {
    /// The backend that reaches this broker.
    fn backend(&self) -> Backend;
    /// SIGKILL: no shutdown, no final save; the data directory stays.
    fn kill(&mut self);
    /// Starts it again on the same port(s) with the same data; returns once it serves.
    fn restart(&mut self);
}

/// A unique name for a test's stream: tests (and concurrent runs) never share one.
pub fn unique_stream(backend: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("qs-bb-{backend}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Deletes every key of the stream (`{NAME}`, `{NAME}:ids`, `{NAME}:nodes`,
/// `{NAME}:presence:*`...): they all carry the `{NAME}` hash tag.
fn redis_cleanup(urls: &[String], cluster: bool, stream: &str) -> Result<(), String> {
    use redis::Commands;
    let pattern = format!("{{{stream}}}*");
    let timeout = Some(Duration::from_secs(2));
    if cluster {
        let client = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let mut c = client.get_connection().map_err(|e| e.to_string())?;
        let keys: Vec<String> = c.keys(&pattern).map_err(|e| e.to_string())?;
        for k in keys {
            let _: () = c.del(&k).map_err(|e| e.to_string())?;
        }
    } else {
        let client = redis::Client::open(urls[0].as_str()).map_err(|e| e.to_string())?;
        let mut c = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        c.set_read_timeout(timeout).map_err(|e| e.to_string())?;
        let keys: Vec<String> = c.keys(&pattern).map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            let _: () = c.del(keys).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// The keys a test's stream left on the broker (for asserting the cleanup works).
pub fn redis_keys(urls: &[String], cluster: bool, stream: &str) -> Vec<String> {
    use redis::Commands;
    let pattern = format!("{{{stream}}}*");
    if cluster {
        let client = redis::cluster::ClusterClient::new(urls.to_vec()).expect("cluster client");
        let mut c = client.get_connection().expect("cluster connection");
        c.keys(&pattern).expect("KEYS")
    } else {
        let client = redis::Client::open(urls[0].as_str()).expect("client");
        let mut c = client.get_connection().expect("connection");
        c.keys(&pattern).expect("KEYS")
    }
}

/// N hub nodes sharing one stream of one broker. Dropping it kills the nodes and removes the
/// stream's keys from the broker.
pub struct Cluster {
    pub backend: Backend,
    pub stream: String,
    nodes: Vec<Option<Hub>>,
    ports: Vec<u16>,
    /// The directives before the transport block.
    head: String,
}

impl Cluster {
    /// Starts `n` nodes and waits until each is ready (`/health/ready` answers 200).
    pub async fn start(n: usize, backend: &Backend) -> Cluster {
        Cluster::start_with(n, backend, "anonymous\nsubscriptions").await
    }

    /// Same, the nodes running the directives `head` (instead of `anonymous` and
    /// `subscriptions`) before the transport block, e.g. `protocol draft-08`.
    pub async fn start_with(n: usize, backend: &Backend, head: &str) -> Cluster {
        backend.require();
        let mut c = Cluster {
            backend: backend.clone(),
            stream: unique_stream(backend.name),
            nodes: Vec::new(),
            ports: Vec::new(),
            head: head.to_string(),
        };
        for _ in 0..n {
            c.add_node().await;
        }
        c
    }

    /// The directives every node runs with.
    pub fn directives(&self) -> String {
        format!(
            "{}\n{}",
            self.head,
            self.backend.transport_block(&self.stream)
        )
    }

    fn spawn(&self, port: Option<u16>) -> Hub {
        let mut b = HubBuilder::new().directives(&self.directives());
        if let Some(p) = port {
            b = b.port(p);
        }
        match b.try_start() {
            Ok(h) => h,
            Err(e) => panic!(
                "{}: node did not start ({e}); is the broker up? {}",
                self.backend.name, self.backend.how_to_start
            ),
        }
    }

    /// Starts one more node (e.g. one that joins later); returns its index once it is ready.
    pub async fn add_node(&mut self) -> usize {
        let hub = self.spawn(None);
        self.ports.push(hub.port);
        self.nodes.push(Some(hub));
        let i = self.nodes.len() - 1;
        self.wait_ready(i, Duration::from_secs(15)).await;
        i
    }

    /// Node `i` (panics if it was killed).
    pub fn node(&self, i: usize) -> &Hub {
        self.nodes[i]
            .as_ref()
            .unwrap_or_else(|| panic!("node {i} is not running"))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Indices of the running nodes.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }

    /// `kill -9` node `i`: no goodbye to the broker, no graceful close of its connections.
    pub fn kill(&mut self, i: usize) {
        let mut hub = self.nodes[i]
            .take()
            .unwrap_or_else(|| panic!("node {i} is not running"));
        // `kill -KILL <pid>`, then reap it.
        let pid = hub.pid();
        assert!(
            hub.stop_with("KILL", Duration::from_secs(5)).is_some(),
            "node {i} (pid {pid}) survived kill -9"
        );
    }

    /// Starts node `i` again on its former port, and waits until it is ready.
    pub async fn restart(&mut self, i: usize) {
        if self.nodes[i].is_some() {
            self.kill(i);
        }
        let hub = self.spawn(Some(self.ports[i]));
        self.nodes[i] = Some(hub);
        self.wait_ready(i, Duration::from_secs(15)).await;
    }

    /// Polls `/health/ready` of node `i` until it answers 200.
    pub async fn wait_ready(&self, i: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let status = ready_status(self.node(i)).await;
            if status == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: node {i} not ready within {within:?} (last /health/ready: {status:?}); logs:\n{}",
                self.backend.name,
                self.node(i).logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything every node logged, for failure messages.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|h| format!("--- node {i}\n{}", h.logs())))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGKILL (the `Hub`'s drop): fast, and the key removal below takes what they left.
        self.nodes.clear();
        if let Err(e) = (self.backend.cleanup)(&self.stream) {
            // Not fatal (keys of a private broker vanish with it), but say so.
            eprintln!(
                "{}: cleanup of stream {} failed: {e}",
                self.backend.name, self.stream
            );
        }
    }
}

/// The status of `GET /health/ready` (None if the node does not answer).
pub async fn ready_status(hub: &Hub) -> Option<u16> {
    client()
        .get(hub.url("/health/ready"))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

// ---------------------------------------------------------------------------------------------
// Private Redis/Valkey servers (and a private three-master Redis Cluster) for the tests that
// kill the broker.

/// Ports for private brokers: 16391 upwards, skipping ports something already listens on.
fn private_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(16391);
    loop {
        let p = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(
            p < 16500,
            "no free port for a private broker in 16391-16499"
        );
        let busy = TcpStream::connect(("127.0.0.1", p)).is_ok();
        // The cluster bus listens on port + 10000: it must be free too.
        let bus_busy = TcpStream::connect(("127.0.0.1", p + 10000)).is_ok();
        if !busy && !bus_busy && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

fn answers_ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// `redis-cli`, or Valkey's `valkey-cli` when only Valkey's tools are installed.
fn cli() -> &'static str {
    static CLI: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    CLI.get_or_init(|| {
        let works = |c: &str| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if works("redis-cli") || !works("valkey-cli") {
            "redis-cli"
        } else {
            "valkey-cli"
        }
    })
}

/// One server process of a private broker.
struct Server {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    fn spawn(bin: &str, port: u16, dir: &Path, cluster: bool) -> Child {
        let mut cmd = Command::new(bin);
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir);
        if cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {bin} ({e}): install it with ./scripts/brokers")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(port) {
            assert!(
                Instant::now() < deadline,
                "{bin} did not answer on 127.0.0.1:{port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private Redis or Valkey server (or three-master Redis Cluster) with `appendonly yes`,
/// `appendfsync always` in a temporary directory, so what it acknowledged survives a SIGKILL.
pub struct OwnRedis {
    bin: &'static str,
    cluster: bool,
    servers: Vec<Server>,
}

impl OwnRedis {
    pub fn start(bin: &'static str, cluster: bool) -> OwnRedis {
        let n = if cluster { 3 } else { 1 };
        let mut servers = Vec::new();
        for _ in 0..n {
            let port = private_port();
            let dir = tempfile::Builder::new()
                .prefix("quicksilver-own-broker-")
                .tempdir()
                .expect("temporary directory");
            let child = Server::spawn(bin, port, dir.path(), cluster);
            servers.push(Server {
                port,
                dir,
                child: Some(child),
            });
        }
        let own = OwnRedis {
            bin,
            cluster,
            servers,
        };
        if cluster {
            own.form_cluster();
        }
        own
    }

    fn addrs(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect()
    }

    /// `redis-cli --cluster create` over the servers, then waits until every node says ok.
    fn form_cluster(&self) {
        let out = Command::new(cli())
            .arg("--cluster")
            .arg("create")
            .args(self.addrs())
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-cli ({e}): install it with ./scripts/brokers")
            });
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_cluster_ok();
    }

    fn wait_cluster_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let ok = self.servers.iter().all(|s| {
                Command::new(cli())
                    .args(["-p", &s.port.to_string(), "cluster", "info"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "private Redis Cluster on {:?} not ok within 15 s",
                self.addrs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl OwnBroker for OwnRedis {
    fn backend(&self) -> Backend {
        let how = format!(
            "a private {} the test starts itself (is {} installed? ./scripts/brokers installs it)",
            self.bin, self.bin
        );
        if self.cluster {
            Backend::redis_cluster_at("own-redis-cluster", self.addrs(), &how, None)
        } else {
            Backend::redis_url(
                if self.bin == "valkey-server" {
                    "own-valkey"
                } else {
                    "own-redis"
                },
                format!("redis://127.0.0.1:{}", self.servers[0].port),
                &how,
                None,
            )
        }
    }

    fn kill(&mut self) {
        for s in &mut self.servers {
            s.kill();
        }
    }

    fn restart(&mut self) {
        for s in &mut self.servers {
            s.kill();
            s.child = Some(Server::spawn(self.bin, s.port, s.dir.path(), self.cluster));
        }
        if self.cluster {
            self.wait_cluster_ok();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: each stream is a table (`-` becomes `_`), dropped with psql at the end.

const HOW_PG: &str = "start the test database with ./scripts/brokers (PostgreSQL on 127.0.0.1:5432 with a `test` database), or set QS_POSTGRES_URL";

/// The table of a stream name (table names are letters, digits and underscores).
pub fn pg_table(stream: &str) -> String {
    stream.replace(['-', '.'], "_")
}

impl Backend {
    /// `transport postgres` on `QS_POSTGRES_URL` (default the machine's PostgreSQL,
    /// `postgres://postgres@127.0.0.1:5432/test`).
    pub fn postgres() -> Backend {
        Backend::postgres_url(
            "postgres",
            env_or(
                "QS_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
            ),
            HOW_PG,
            Some(Arc::new(|| Box::new(OwnPostgres::start()))),
        )
    }

    fn postgres_url(
        name: &'static str,
        url: String,
        how: &str,
        own: Option<OwnBrokerFactory>,
    ) -> Backend {
        let hostport = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .split(['/', '?'])
            .next()
            .unwrap_or_default()
            .to_string();
        let block_url = url.clone();
        Backend {
            name,
            needs: vec![hostport],
            how_to_start: how.to_string(),
            transport: Arc::new(move |stream| {
                format!(
                    "transport postgres {{\n\turl {block_url}\n\ttable {}\n\tpresence_timeout {}ms\n}}",
                    pg_table(stream),
                    PRESENCE_TIMEOUT.as_millis()
                )
            }),
            cleanup: Arc::new(move |stream| {
                let t = pg_table(stream);
                let out = Command::new("psql")
                    .arg(&url)
                    .args(["-q", "-c"])
                    .arg(format!(
                        "DROP TABLE IF EXISTS \"{t}\", \"{t}_nodes\", \"{t}_subscribers\"; DROP FUNCTION IF EXISTS \"{t}_lock\"(), \"{t}_notify\"();"
                    ))
                    .output()
                    .map_err(|e| format!("psql: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&out.stderr).into_owned())
                }
            }),
            own,
        }
    }
}

/// A private PostgreSQL 15 (`initdb` as user `postgres` in a temporary directory, a private
/// port), "killed" with `pg_ctl stop -m immediate` (every connection cut, no checkpoint;
/// committed data survives in the WAL) and started again on the same port and data.
pub struct OwnPostgres {
    port: u16,
    dir: tempfile::TempDir,
}

fn pg_bin(name: &str) -> std::path::PathBuf {
    Path::new(&env_or("QS_PGBIN", "/usr/lib/postgresql/15/bin")).join(name)
}

fn as_postgres(bin: &str) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut c = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_bin(bin));
        c
    } else {
        Command::new(pg_bin(bin))
    };
    c.stdin(Stdio::null());
    c
}

impl OwnPostgres {
    pub fn start() -> OwnPostgres {
        let port = private_port();
        let dir = tempfile::Builder::new()
            .prefix("qs-bb-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status();
        let out = as_postgres("initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run initdb ({e}): install postgresql-15 or set QS_PGBIN")
            });
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = OwnPostgres { port, dir };
        pg.resume();
        pg
    }

    fn resume(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let out = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("pg.log"))
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .unwrap_or_else(|e| panic!("pg_ctl start: {e}"));
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
        );
    }

    fn stop(&self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl OwnBroker for OwnPostgres {
    fn backend(&self) -> Backend {
        Backend::postgres_url(
            "own-postgres",
            format!(
                "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
                self.port
            ),
            "a private PostgreSQL the test starts itself (is postgresql-15 installed?)",
            None,
        )
    }

    fn kill(&mut self) {
        self.stop();
    }

    fn restart(&mut self) {
        self.stop();
        self.resume();
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
