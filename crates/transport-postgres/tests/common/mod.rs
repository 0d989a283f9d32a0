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
use quicksilver_transport_postgres::{PostgresOptions, PostgresTransport, from_options};

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
    let mut raw: Vec<(String, Vec<String>)> = vec![
        ("url".into(), vec![url.to_owned()]),
        ("table".into(), vec![table.to_owned()]),
    ];
    for (n, a) in extra {
        raw.push((n.to_string(), a.iter().map(|s| s.to_string()).collect()));
    }
    match from_options(
        raw.iter()
            .map(|(n, a)| (n.as_str(), a.as_slice(), 0, "test")),
    ) {
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
