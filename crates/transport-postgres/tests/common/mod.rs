//! Shared helpers of the integration tests: where the real PostgreSQL is, unique table names,
//! and dropping the tables after a test. The server is the machine's PostgreSQL on
//! 127.0.0.1:5432, database `test` (`./scripts/brokers` starts it); `QS_POSTGRES_URL`
//! overrides it. A server that doesn't answer fails the test with the command to run, never
//! skips it.

#![allow(dead_code)]

pub mod server;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use quicksilver_hub::contract::cluster::{NodeFactory, PresenceBackend};
use quicksilver_hub::transport_options::OptionList;
use quicksilver_hub::{SubscriberRecord, Transport};
use quicksilver_transport_postgres::{Names, PostgresOptions, PostgresTransport, from_options};

const HOW: &str = "start the test database with ./scripts/brokers (it runs `pg_ctlcluster --skip-systemctl-redirect 15 main start` and creates the `test` database), or point QS_POSTGRES_URL at a PostgreSQL you can create tables in";

/// The server the tests talk to.
pub fn url() -> String {
    std::env::var("QS_POSTGRES_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_owned())
}

/// A fresh table name.
pub fn table_name() -> String {
    format!("qs_test_{}", uuid::Uuid::new_v4().simple())
}

/// Options for `url` with a fresh table, plus `extra` options.
pub fn options_for(url: &str, table: &str, extra: &[(&str, &[&str])]) -> PostgresOptions {
    let mut raw = OptionList::new(&[("url", &[url]), ("table", &[table])]);
    for (n, a) in extra {
        raw.push(n, a);
    }
    match from_options(raw.at("test", 0)) {
        Ok(o) => o,
        Err(e) => panic!("test options: {e}"),
    }
}

/// A plain tokio-postgres connection, independent of the code under test, for inspecting and
/// cleaning up. Fails the test with how to start the server when it doesn't answer.
pub async fn inspector_at(url: &str) -> tokio_postgres::Client {
    let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
    let (client, connection) = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("PostgreSQL is not reachable at {url} ({e}): {HOW}"),
        Err(_) => panic!("PostgreSQL did not answer at {url} within 5 s: {HOW}"),
    };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

pub async fn inspector() -> tokio_postgres::Client {
    inspector_at(&url()).await
}

/// Drops every object of a table: the updates table (with its triggers), the presence tables
/// and the trigger functions.
pub async fn drop_table(client: &tokio_postgres::Client, table: &str) {
    let sql = format!(
        "DROP TABLE IF EXISTS \"{table}\", \"{table}_nodes\", \"{table}_subscribers\";
         DROP FUNCTION IF EXISTS \"{table}_lock\"(), \"{table}_notify\"();"
    );
    if let Err(e) = client.batch_execute(&sql).await {
        panic!("dropping test table {table}: {e}");
    }
}

/// Opens transports for a test on fresh tables, and drops the tables at the end.
#[derive(Clone, Default)]
pub struct Tables {
    created: Arc<Mutex<Vec<(String, String)>>>,
}

impl Tables {
    /// Options for a new table on the test server.
    pub fn options(&self, extra: &[(&str, &[&str])]) -> PostgresOptions {
        self.options_at(&url(), extra)
    }

    pub fn options_at(&self, url: &str, extra: &[(&str, &[&str])]) -> PostgresOptions {
        let table = table_name();
        self.created.lock().push((url.to_owned(), table.clone()));
        options_for(url, &table, extra)
    }

    pub fn transport(&self, opts: PostgresOptions) -> Arc<PostgresTransport> {
        Arc::new(PostgresTransport::new(opts).unwrap_or_else(|e| panic!("transport: {e}")))
    }

    /// The nodes of the cluster contract: each call opens one more node on the table of `opts`.
    pub fn nodes(&self, opts: &PostgresOptions) -> Box<NodeFactory> {
        let (tables, opts) = (self.clone(), opts.clone());
        Box::new(move || {
            let t: Arc<dyn Transport> = tables.transport(opts.clone());
            Box::pin(async move { t })
        })
    }

    pub async fn cleanup(&self) {
        let all: Vec<(String, String)> = std::mem::take(&mut *self.created.lock());
        for (url, table) in all {
            let client = inspector_at(&url).await;
            drop_table(&client, &table).await;
        }
    }
}

/// Runs a test body, then drops the tables it created, even when the body panicked.
pub async fn with_cleanup<F, Fut>(body: F)
where
    F: FnOnce(Tables) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    // Fail fast, with the fix, when the server is down.
    drop(inspector().await);
    let tables = Tables::default();
    let outcome = std::panic::AssertUnwindSafe(body(tables.clone()))
        .catch_unwind()
        .await;
    tables.cleanup().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The presence tables of `opts`, reached with plain SQL for the cluster contract's presence
/// scenarios.
pub struct Presence {
    names: Names,
}

impl Presence {
    pub fn of(opts: &PostgresOptions) -> Presence {
        Presence {
            names: Names::from_options(opts),
        }
    }
}

#[async_trait::async_trait]
impl PresenceBackend for Presence {
    async fn lose(&self, node: &str) {
        let c = inspector().await;
        for table in [&self.names.subscribers, &self.names.nodes] {
            if let Err(e) = c
                .execute(&format!("DELETE FROM {table} WHERE node = $1"), &[&node])
                .await
            {
                panic!("deleting the presence rows of {node}: {e}");
            }
        }
    }

    /// The draft-08 fields are in the `subscriptions` column, NULL for a draft-07 record.
    async fn check_stored(&self, node: &str, records: &[SubscriberRecord]) {
        let c = inspector().await;
        let rows = c
            .query(
                &format!(
                    "SELECT subscriber_id, topics, payload, subscriptions FROM {} WHERE node = $1",
                    self.names.subscribers
                ),
                &[&node],
            )
            .await
            .unwrap_or_else(|e| panic!("reading the presence rows: {e}"));
        assert_eq!(rows.len(), records.len());
        for r in records {
            let Some(row) = rows.iter().find(|row| row.get::<_, String>(0) == r.id) else {
                panic!("no row for {}", r.id);
            };
            assert_eq!(row.get::<_, Vec<String>>(1), r.topics);
            assert_eq!(row.get::<_, Option<serde_json::Value>>(2), r.payload);
            let expected = (!r.match_types.is_empty() || !r.payloads.is_empty())
                .then(|| serde_json::json!({"match_types": r.match_types, "payloads": r.payloads}));
            assert_eq!(row.get::<_, Option<serde_json::Value>>(3), expected);
        }
    }
}
