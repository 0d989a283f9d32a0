//! A Redis outage in the middle of a publish stream, with our own redis-server (AOF with
//! `appendfsync always` in a temporary directory, so a restart keeps what Redis acknowledged):
//! the cluster contract's outage scenario
//! (`quicksilver_hub::contract::cluster::outage_loses_nothing`). While it is down, publishing
//! fails with `Unavailable` (503) and readiness fails, liveness holds; after it comes back on the
//! same port, readiness recovers by itself, the tail resumes from the last entry it read (entries
//! written by another node before this one reconnected are delivered), subscribers get
//! everything published after the broker came back, history still works across the restart, and
//! presence too.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ping;
use quicksilver_hub::Transport;
use quicksilver_hub::contract::cluster::{self, Outage};
use quicksilver_hub::transport_options::OptionList;
use quicksilver_transport_redis::{Address, RedisOptions, RedisTransport, options::from_options};

/// A redis-server we start and stop by PID.
struct Server {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    fn start(port: u16, dir: tempfile::TempDir) -> Server {
        let addr = Address {
            host: "127.0.0.1".into(),
            port,
        };
        if ping(&addr).is_ok() {
            panic!(
                "something already answers on 127.0.0.1:{port}; stop it (the outage test starts its own redis-server there)"
            );
        }
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}): install it with ./scripts/brokers")
            });
        let server = Server {
            port,
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while ping(&addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// SIGKILL: no shutdown, no final save.
    fn kill(mut self) -> (u16, tempfile::TempDir) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let port = self.port;
        let dir = std::mem::replace(
            &mut self.dir,
            tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}")),
        );
        (port, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn options(port: u16) -> RedisOptions {
    let url = format!("redis://127.0.0.1:{port}");
    let list = OptionList::new(&[
        ("url", &[&url]),
        ("stream", &["outage"]),
        ("presence_timeout", &["2s"]),
    ]);
    from_options(list.at("test", 0)).unwrap_or_else(|e| panic!("{e}"))
}

/// The server of the outage scenario: killed, then started again on its port and directory.
struct Restartable {
    running: Option<Server>,
    stopped: Option<(u16, tempfile::TempDir)>,
}

impl Outage for Restartable {
    fn crash(&mut self) {
        if let Some(server) = self.running.take() {
            self.stopped = Some(server.kill());
        }
    }

    fn resume(&mut self) {
        if let Some((port, dir)) = self.stopped.take() {
            self.running = Some(Server::start(port, dir));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_loses_nothing_redis_kept() {
    let port: u16 = std::env::var("QS_OUTAGE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(16390);
    let mut server = Restartable {
        running: Some(Server::start(
            port,
            tempfile::TempDir::new().unwrap_or_else(|e| panic!("{e}")),
        )),
        stopped: None,
    };
    let nodes = move || {
        let t: Arc<dyn Transport> =
            Arc::new(RedisTransport::new(options(port)).unwrap_or_else(|e| panic!("{e}")));
        Box::pin(async move { t }) as Pin<Box<dyn Future<Output = _> + Send>>
    };
    let presence_timeout = options(port).presence_timeout;
    cluster::outage_loses_nothing(&nodes, Some(presence_timeout), "Redis", &mut server).await;
    drop(server);
}
