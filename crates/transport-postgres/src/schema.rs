//! The SQL schema: names, the idempotent start-up migration, and the statements the transport
//! runs. `docs/postgres.md` documents the schema for users; keep them in step.
//!
//! The ordering guarantee lives here, in two statement-level triggers on the updates table:
//! `BEFORE INSERT` takes a transaction-scoped advisory lock (so inserting transactions draw
//! their sequence numbers one at a time and commit before the next one draws), and
//! `AFTER INSERT` sends `pg_notify(channel, max(seq))`. Because the lock is in a trigger, every
//! writer honours it, including users inserting rows with plain SQL. A lock is released only
//! after its transaction's commit became visible, so when a reader sees sequence `n`, every
//! transaction that drew a smaller sequence has finished: `seq > last` never skips a row that
//! commits later.

use std::time::Duration;

use deadpool_postgres::GenericClient;

use crate::error::{describe, to_transport};
use crate::options::PostgresOptions;
use quicksilver_hub::TransportError;

/// The schema version this code creates (recorded in the updates table's comment). Version 2
/// added the presence table's `subscriptions` column (draft-08 matcher types and payloads);
/// the migration adds it to a version-1 table in place.
pub const SCHEMA_VERSION: u32 = 2;

/// The advisory lock serialising migrations of every Quicksilver table in a database (two
/// nodes creating the same table at once would otherwise collide in the catalogs).
const MIGRATION_LOCK: i64 = 0x5153_4d49_4752_0001; // "QSMIGR" + 1

/// Quotes an identifier for SQL. Names are validated to `[A-Za-z_][A-Za-z0-9_]*`, so this
/// only keeps their case.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL (used only for names baked into function bodies).
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// 64-bit FNV-1a: stable advisory lock keys derived from names.
fn fnv1a(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Every name derived from `schema` and `table`, and the statements that use them.
#[derive(Debug, Clone)]
pub struct Names {
    pub schema: String,
    pub table: String,
    /// `"schema"."table"`.
    pub updates: String,
    /// `"schema"."table_nodes"`: node heartbeat deadlines.
    pub nodes: String,
    /// `"schema"."table_subscribers"`: active subscribers per node.
    pub subscribers: String,
    /// The NOTIFY channel: `schema.table`.
    pub channel: String,
    /// The advisory lock every insert takes (in the `BEFORE INSERT` trigger).
    pub append_lock: i64,
    /// The advisory lock of retention: one node trims at a time.
    pub trim_lock: i64,
}

impl Names {
    pub fn new(schema: &str, table: &str) -> Names {
        let q = |t: &str| format!("{}.{}", quote_ident(schema), quote_ident(t));
        Names {
            schema: schema.to_owned(),
            table: table.to_owned(),
            updates: q(table),
            nodes: q(&format!("{table}_nodes")),
            subscribers: q(&format!("{table}_subscribers")),
            channel: format!("{schema}.{table}"),
            append_lock: fnv1a(&format!("quicksilver append {schema}.{table}")),
            trim_lock: fnv1a(&format!("quicksilver trim {schema}.{table}")),
        }
    }

    pub fn from_options(o: &PostgresOptions) -> Names {
        Names::new(&o.schema, &o.table)
    }

    fn derived(&self, suffix: &str) -> String {
        format!("{}_{suffix}", self.table)
    }

    fn qualified(&self, name: &str) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(name))
    }

    /// `LISTEN "schema.table"`.
    pub fn listen(&self) -> String {
        format!("LISTEN {}", quote_ident(&self.channel))
    }

    /// Appends a batch: arrays of ids, topics (each a JSON array), data, private flags, types
    /// and retries, inserted in array order; returns the last sequence number.
    pub fn insert(&self) -> String {
        format!(
            "WITH ins AS (
               INSERT INTO {t} (event_id, topics, data, private, type, retry)
               SELECT u.event_id,
                      ARRAY(SELECT e FROM json_array_elements_text(u.topics::json) WITH ORDINALITY AS x(e, n) ORDER BY n),
                      u.data, u.private, u.type, u.retry
               FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::int8[])
                    WITH ORDINALITY AS u(event_id, topics, data, private, type, retry, ord)
               ORDER BY u.ord
               RETURNING seq)
             SELECT max(seq) FROM ins",
            t = self.updates
        )
    }

    /// The rows after a sequence number, oldest first: `$1` after, `$2` limit.
    pub fn read_after(&self) -> String {
        format!(
            "SELECT seq, event_id, topics, data, private, type, retry FROM {} WHERE seq > $1 ORDER BY seq LIMIT $2",
            self.updates
        )
    }

    /// The rows in `($1, $2]`, oldest first, at most `$3`.
    pub fn read_range(&self) -> String {
        format!(
            "SELECT seq, event_id, topics, data, private, type, retry FROM {} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
            self.updates
        )
    }

    /// The first occurrence of an event id.
    pub fn find_id(&self) -> String {
        format!("SELECT min(seq) FROM {} WHERE event_id = $1", self.updates)
    }

    /// The last row: where the history ends when a node starts.
    pub fn last_row(&self) -> String {
        format!(
            "SELECT seq, event_id FROM {} ORDER BY seq DESC LIMIT 1",
            self.updates
        )
    }

    /// The DDL, idempotent, the updates table first. Run under [`MIGRATION_LOCK`].
    fn ddl(&self) -> Vec<String> {
        let t = &self.updates;
        let lock_fn = self.qualified(&self.derived("lock"));
        let notify_fn = self.qualified(&self.derived("notify"));
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                   seq bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
                   event_id text NOT NULL DEFAULT ('urn:uuid:' || gen_random_uuid()),
                   topics text[] NOT NULL CHECK (cardinality(topics) > 0 AND array_position(topics, NULL) IS NULL),
                   data text NOT NULL DEFAULT '',
                   private boolean NOT NULL DEFAULT false,
                   type text,
                   retry bigint CHECK (retry >= 0),
                   published_at timestamptz NOT NULL DEFAULT now()
                 )"
            ),
            format!(
                "COMMENT ON TABLE {t} IS {}",
                quote_literal(&format!(
                    "Mercure updates published through Quicksilver (schema version {SCHEMA_VERSION}); seq is the delivery order"
                ))
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (event_id, seq)",
                quote_ident(&self.derived("event_id"))
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} USING gin (topics)",
                quote_ident(&self.derived("topics"))
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {} ON {t} (published_at)",
                quote_ident(&self.derived("published_at"))
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {lock_fn}() RETURNS trigger LANGUAGE plpgsql AS $f$
                 BEGIN
                   -- Inserts draw sequence numbers one transaction at a time, so commit order
                   -- is sequence order and readers can follow seq > last (see docs/postgres.md).
                   PERFORM pg_advisory_xact_lock({});
                   RETURN NULL;
                 END $f$",
                self.append_lock
            ),
            format!(
                "CREATE OR REPLACE FUNCTION {notify_fn}() RETURNS trigger LANGUAGE plpgsql AS $f$
                 DECLARE last bigint;
                 BEGIN
                   SELECT max(seq) INTO last FROM inserted;
                   IF last IS NOT NULL THEN
                     PERFORM pg_notify({}, last::text);
                   END IF;
                   RETURN NULL;
                 END $f$",
                quote_literal(&self.channel)
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                   node text PRIMARY KEY,
                   deadline timestamptz NOT NULL
                 )",
                self.nodes
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                   node text NOT NULL,
                   subscriber_id text NOT NULL,
                   topics text[] NOT NULL,
                   payload jsonb,
                   added_at timestamptz NOT NULL DEFAULT now(),
                   subscriptions jsonb,
                   PRIMARY KEY (node, subscriber_id)
                 )",
                self.subscribers
            ),
            // Schema version 2, for a presence table created by version 1. Nullable, no
            // default: adding it rewrites nothing, and older nodes' inserts leave it NULL
            // (draft-07 subscribers).
            format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS subscriptions jsonb",
                self.subscribers
            ),
        ]
    }

    fn triggers(&self) -> [(String, String); 2] {
        let t = &self.updates;
        let lock = self.derived("lock");
        let notify = self.derived("notify");
        [
            (
                lock.clone(),
                format!(
                    "CREATE TRIGGER {} BEFORE INSERT ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    quote_ident(&lock),
                    self.qualified(&lock)
                ),
            ),
            (
                notify.clone(),
                format!(
                    "CREATE TRIGGER {} AFTER INSERT ON {t} REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                    quote_ident(&notify),
                    self.qualified(&notify)
                ),
            ),
        ]
    }
}

/// The columns of the updates table the transport reads and writes, with their types as
/// `format_type` spells them.
const COLUMNS: &[(&str, &str)] = &[
    ("seq", "bigint"),
    ("event_id", "text"),
    ("topics", "text[]"),
    ("data", "text"),
    ("private", "boolean"),
    ("type", "text"),
    ("retry", "bigint"),
    ("published_at", "timestamp with time zone"),
];

/// The same for the presence table of subscribers.
const SUBSCRIBER_COLUMNS: &[(&str, &str)] = &[
    ("node", "text"),
    ("subscriber_id", "text"),
    ("topics", "text[]"),
    ("payload", "jsonb"),
    ("added_at", "timestamp with time zone"),
    ("subscriptions", "jsonb"),
];

/// How long the migration may take (it waits for other nodes' migrations).
pub const MIGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates or completes the schema, in one transaction under an advisory lock, so nodes
/// starting at once don't collide. Idempotent: on an up-to-date schema it only checks.
pub async fn migrate(
    client: &mut deadpool_postgres::Client,
    names: &Names,
) -> Result<(), TransportError> {
    let tx = client.transaction().await.map_err(to_transport)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(to_transport)?;
    let schema_exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&names.schema],
        )
        .await
        .map_err(to_transport)?
        .try_get(0)
        .map_err(to_transport)?;
    if !schema_exists {
        tx.batch_execute(&format!("CREATE SCHEMA {}", quote_ident(&names.schema)))
            .await
            .map_err(|e| ddl_error(&e, "creating the schema"))?;
    }
    let complete = schema_is_complete(&tx, names).await?;
    if !complete {
        tracing::info!(table = %names.channel, "creating or completing the PostgreSQL schema");
        let mut ddl = names.ddl().into_iter();
        // The updates table first, then its shape is checked before anything is built on it.
        if let Some(create) = ddl.next() {
            tx.batch_execute(&create)
                .await
                .map_err(|e| ddl_error(&e, "creating the tables"))?;
        }
        check_columns(&tx, &names.updates, &names.channel, COLUMNS).await?;
        for statement in ddl {
            tx.batch_execute(&statement)
                .await
                .map_err(|e| ddl_error(&e, "creating the tables"))?;
        }
        check_subscriber_columns(&tx, names).await?;
        for (name, create) in names.triggers() {
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::text::regclass AND tgname = $2)",
                    &[&names.updates, &name],
                )
                .await
                .map_err(to_transport)?
                .try_get(0)
                .map_err(to_transport)?;
            if !exists {
                tx.batch_execute(&create)
                    .await
                    .map_err(|e| ddl_error(&e, "creating the triggers"))?;
            }
        }
    } else {
        check_columns(&tx, &names.updates, &names.channel, COLUMNS).await?;
        check_subscriber_columns(&tx, names).await?;
    }
    // A sequence cache above 1 hands each session its own block of numbers, so sequence order
    // would no longer be commit order; put it back.
    let cache: Option<i64> = tx
        .query_one(
            "SELECT s.seqcache FROM pg_sequence s WHERE s.seqrelid = pg_get_serial_sequence($1, 'seq')::regclass",
            &[&names.updates],
        )
        .await
        .map_err(to_transport)?
        .try_get(0)
        .map_err(to_transport)?;
    if cache.is_some_and(|c| c != 1) {
        tracing::warn!(table = %names.channel, "the seq column's sequence had CACHE > 1, which breaks delivery order across sessions; setting CACHE 1");
        tx.batch_execute(&format!(
            "ALTER TABLE {} ALTER COLUMN seq SET CACHE 1",
            names.updates
        ))
        .await
        .map_err(|e| ddl_error(&e, "fixing the sequence cache"))?;
    }
    tx.commit().await.map_err(to_transport)
}

/// Whether the tables, the functions' triggers, the indexes and the presence tables all exist,
/// with the columns of the current schema version.
async fn schema_is_complete(
    tx: &deadpool_postgres::Transaction<'_>,
    names: &Names,
) -> Result<bool, TransportError> {
    let row = tx
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL
                AND (SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = ANY($4)) = 2
                AND (SELECT count(*) FROM pg_indexes WHERE schemaname = $5 AND indexname = ANY($6)) = 3
                AND EXISTS (SELECT 1 FROM pg_attribute
                            WHERE attrelid = to_regclass($3) AND attname = 'subscriptions' AND NOT attisdropped)",
            &[
                &names.updates,
                &names.nodes,
                &names.subscribers,
                &vec![names.derived("lock"), names.derived("notify")],
                &names.schema,
                &vec![
                    names.derived("event_id"),
                    names.derived("topics"),
                    names.derived("published_at"),
                ],
            ],
        )
        .await
        .map_err(to_transport)?;
    row.try_get(0).map_err(to_transport)
}

/// Refuses a pre-existing presence table of another shape (checked after the DDL, which
/// leaves a column of the right name but another type in place).
async fn check_subscriber_columns(
    tx: &deadpool_postgres::Transaction<'_>,
    names: &Names,
) -> Result<(), TransportError> {
    check_columns(
        tx,
        &names.subscribers,
        &format!("{}_subscribers", names.channel),
        SUBSCRIBER_COLUMNS,
    )
    .await
}

/// Refuses a pre-existing table (`relation`, quoted; `shown` in messages) of another shape
/// than `columns` with a message saying what differs.
async fn check_columns(
    tx: &deadpool_postgres::Transaction<'_>,
    relation: &str,
    shown: &str,
    columns: &[(&str, &str)],
) -> Result<(), TransportError> {
    let rows = tx
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped",
            &[&relation],
        )
        .await
        .map_err(to_transport)?;
    let mut found = Vec::with_capacity(rows.len());
    for r in rows {
        let name: String = r.try_get(0).map_err(to_transport)?;
        let ty: String = r.try_get(1).map_err(to_transport)?;
        found.push((name, ty));
    }
    for (name, ty) in columns {
        match found.iter().find(|(n, _)| n == name) {
            Some((_, t)) if t == ty => {}
            Some((_, t)) => {
                return Err(TransportError::Backend(format!(
                    "table {shown}: column {name} is {t}, expected {ty}; drop or rename the table, or choose another with `table`"
                )));
            }
            None => {
                return Err(TransportError::Backend(format!(
                    "table {shown}: column {name} ({ty}) is missing; drop or rename the table, or choose another with `table`"
                )));
            }
        }
    }
    Ok(())
}

fn ddl_error(e: &tokio_postgres::Error, what: &str) -> TransportError {
    if crate::error::is_unavailable(e) {
        return to_transport_ref(e);
    }
    TransportError::Backend(format!(
        "PostgreSQL: {what} failed: {}; the user needs CREATE on the database/schema, or create the schema of docs/postgres.md beforehand",
        describe(e)
    ))
}

fn to_transport_ref(e: &tokio_postgres::Error) -> TransportError {
    TransportError::Unavailable(format!("PostgreSQL: {}", describe(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = Names::new("public", "mercure_updates");
        assert_eq!(n.updates, "\"public\".\"mercure_updates\"");
        assert_eq!(n.nodes, "\"public\".\"mercure_updates_nodes\"");
        assert_eq!(n.subscribers, "\"public\".\"mercure_updates_subscribers\"");
        assert_eq!(n.channel, "public.mercure_updates");
        assert_eq!(n.listen(), "LISTEN \"public.mercure_updates\"");
        assert_ne!(n.append_lock, n.trim_lock);
        assert_ne!(n.append_lock, Names::new("public", "other").append_lock);
        // Stable across releases (nodes of different versions must share the lock): the
        // standard FNV-1a 64 test vectors.
        assert_eq!(fnv1a("") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a") as u64, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("Ab"), "\"Ab\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
