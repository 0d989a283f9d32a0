//! A PostgreSQL restart in the middle of a publish stream, with our own server (initdb in a
//! temporary directory, port 15433 or `QS_PG_OUTAGE_PORT`), stopped with
//! `pg_ctl stop -m immediate`: the cluster contract's outage scenario
//! (`quicksilver_hub::contract::cluster::outage_loses_nothing`). While it is down, publishing
//! fails with `Unavailable` (503) and readiness fails, liveness holds; after it comes back on the
//! same port, readiness recovers by itself, the tail catches up from the last row it read (rows
//! written by another node before this one reconnected are delivered), subscribers get
//! everything published after the restart, history still works across it, and presence too.

mod common;

use std::sync::Arc;

use common::server::OwnServer;
use quicksilver_hub::Transport;
use quicksilver_hub::contract::cluster::{self, Outage};
use quicksilver_transport_postgres::PostgresTransport;

impl Outage for OwnServer {
    fn crash(&mut self) {
        OwnServer::crash(self);
    }

    fn resume(&mut self) {
        OwnServer::resume(self);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_restart_loses_nothing() {
    let port: u16 = std::env::var("QS_PG_OUTAGE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(15433);
    let mut server = OwnServer::start(port, &[]);
    let url = format!("{}?sslmode=disable", server.url("postgres"));
    let opts = common::options_for(&url, "outage", &[("presence_timeout", &["2s"])]);
    let presence_timeout = opts.presence_timeout;
    let nodes = move || {
        let t: Arc<dyn Transport> =
            Arc::new(PostgresTransport::new(opts.clone()).unwrap_or_else(|e| panic!("{e}")));
        Box::pin(async move { t }) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>
    };
    cluster::outage_loses_nothing(&nodes, Some(presence_timeout), "PostgreSQL", &mut server).await;
    drop(server);
}
