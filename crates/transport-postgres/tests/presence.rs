//! The presence tables against a real PostgreSQL: a draft-08 record (matcher types and
//! per-subscription payloads) survives `add`, `list`, the heartbeat's resync and `reap`, a
//! draft-07 record is stored as before (no `subscriptions` value), a presence table created by
//! schema version 1 (before the `subscriptions` column) is migrated in place by nodes starting
//! at once, keeping its rows, and a presence table of the wrong shape is refused.

mod common;

use std::sync::Arc;

use common::{Presence, Tables, inspector, options_for, url, with_cleanup};
use quicksilver_hub::contract::cluster;
use quicksilver_hub::{Hub, HubOptions, PresenceStore, SubscriberRecord};
use quicksilver_transport_postgres::{Names, PostgresOptions, PostgresTransport};
use serde_json::json;

/// Starting a hub runs the migration.
async fn start(t: &Arc<PostgresTransport>) -> Arc<Hub> {
    Hub::start(t.clone(), HubOptions::default())
        .await
        .unwrap_or_else(|e| panic!("hub start: {e}"))
}

fn sorted(mut v: Vec<SubscriberRecord>) -> Vec<SubscriberRecord> {
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Both drafts' records through `add`, `list`, the resync and `reap`, stored as documented
/// (the cluster contract, with [`common::Presence`] checking the `subscriptions` column).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_records_round_trip() {
    with_cleanup(|tables: Tables| async move {
        let opts = tables.options(&[]);
        cluster::presence_records_round_trip(&*tables.nodes(&opts), &Presence::of(&opts)).await;
    })
    .await;
}

/// The DDL of schema version 1, as the code before the `subscriptions` column created it.
fn version1_ddl(names: &Names) -> String {
    let t = &names.updates;
    let s = format!("\"{}\"", names.schema);
    let table = &names.table;
    format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {t} (
           seq bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
           event_id text NOT NULL DEFAULT ('urn:uuid:' || gen_random_uuid()),
           topics text[] NOT NULL CHECK (cardinality(topics) > 0 AND array_position(topics, NULL) IS NULL),
           data text NOT NULL DEFAULT '',
           private boolean NOT NULL DEFAULT false,
           type text,
           retry bigint CHECK (retry >= 0),
           published_at timestamptz NOT NULL DEFAULT now()
         );
         COMMENT ON TABLE {t} IS 'Mercure updates published through Quicksilver (schema version 1); seq is the delivery order';
         CREATE INDEX \"{table}_event_id\" ON {t} (event_id, seq);
         CREATE INDEX \"{table}_topics\" ON {t} USING gin (topics);
         CREATE INDEX \"{table}_published_at\" ON {t} (published_at);
         CREATE FUNCTION {s}.\"{table}_lock\"() RETURNS trigger LANGUAGE plpgsql AS $f$
         BEGIN PERFORM pg_advisory_xact_lock({lock}); RETURN NULL; END $f$;
         CREATE FUNCTION {s}.\"{table}_notify\"() RETURNS trigger LANGUAGE plpgsql AS $f$
         DECLARE last bigint;
         BEGIN
           SELECT max(seq) INTO last FROM inserted;
           IF last IS NOT NULL THEN PERFORM pg_notify('{channel}', last::text); END IF;
           RETURN NULL;
         END $f$;
         CREATE TRIGGER \"{table}_lock\" BEFORE INSERT ON {t} FOR EACH STATEMENT EXECUTE FUNCTION {s}.\"{table}_lock\"();
         CREATE TRIGGER \"{table}_notify\" AFTER INSERT ON {t} REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION {s}.\"{table}_notify\"();
         CREATE TABLE {nodes} (node text PRIMARY KEY, deadline timestamptz NOT NULL);
         CREATE TABLE {subs} (
           node text NOT NULL,
           subscriber_id text NOT NULL,
           topics text[] NOT NULL,
           payload jsonb,
           added_at timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (node, subscriber_id)
         );",
        lock = names.append_lock,
        channel = names.channel,
        nodes = names.nodes,
        subs = names.subscribers,
    )
}

/// Runs `body` on options for a table in a fresh schema, then drops the schema, even when the
/// body panicked.
async fn in_fresh_schema<F, Fut>(body: F)
where
    F: FnOnce(PostgresOptions) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("qs_test_{suffix}");
    let opts = options_for(&url(), "mercure_updates", &[("schema", &[schema.as_str()])]);
    let c = inspector().await;
    let outcome = std::panic::AssertUnwindSafe(body(opts))
        .catch_unwind()
        .await;
    if let Err(e) = c
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
    {
        panic!("dropping test schema {schema}: {e}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version1_presence_table_is_migrated_in_place() {
    in_fresh_schema(|opts| async move {
        let names = Names::from_options(&opts);
        let c = inspector().await;
        c.batch_execute(&version1_ddl(&names))
            .await
            .unwrap_or_else(|e| panic!("old DDL: {e}"));
        // A subscriber recorded by a version-1 node, which is alive.
        c.batch_execute(&format!(
            "INSERT INTO {} (node, deadline) VALUES ('old', now() + interval '1 hour');
             INSERT INTO {} (node, subscriber_id, topics, payload)
             VALUES ('old', 's1', ARRAY['https://example.com/{{id}}'], '{{\"user\": \"seven\"}}');",
            names.nodes, names.subscribers
        ))
        .await
        .unwrap_or_else(|e| panic!("old rows: {e}"));

        // Nodes starting at once: one migrates under the lock, the others find it done.
        let transports: Vec<Arc<PostgresTransport>> = (0..4)
            .map(|_| {
                Arc::new(
                    PostgresTransport::new(opts.clone())
                        .unwrap_or_else(|e| panic!("transport: {e}")),
                )
            })
            .collect();
        let starts: Vec<_> = transports
            .iter()
            .map(|t| {
                let t = t.clone();
                tokio::spawn(async move { start(&t).await })
            })
            .collect();
        let mut hubs = Vec::new();
        for s in starts {
            hubs.push(s.await.unwrap_or_else(|e| panic!("{e}")));
        }

        let column: Option<String> = c
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                 WHERE attrelid = $1::text::regclass AND attname = 'subscriptions' AND NOT attisdropped",
                &[&names.subscribers],
            )
            .await
            .map(|r| r.get(0))
            .ok();
        assert_eq!(column.as_deref(), Some("jsonb"));
        let comment: Option<String> = c
            .query_one(
                "SELECT obj_description($1::text::regclass, 'pg_class')",
                &[&names.updates],
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .get(0);
        let comment = comment.unwrap_or_default();
        assert!(comment.contains("schema version 2"), "{comment}");

        // The old row reads back as the draft-07 subscriber it was; new records carry the
        // draft-08 fields.
        let store = transports[0].presence_store();
        let [_, new] = cluster::sample_records("old");
        store.add(&new).await.unwrap_or_else(|e| panic!("add: {e}"));
        let listed = store.list().await.unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(
            sorted(listed),
            [
                SubscriberRecord {
                    id: "s1".into(),
                    topics: vec!["https://example.com/{id}".into()],
                    payload: Some(json!({"user": "seven"})),
                    node: "old".into(),
                    ..Default::default()
                },
                new,
            ]
        );

        // Idempotent: another start on the migrated schema changes nothing.
        let again = Arc::new(
            PostgresTransport::new(opts.clone()).unwrap_or_else(|e| panic!("transport: {e}")),
        );
        start(&again).await;
        assert_eq!(
            store
                .list()
                .await
                .unwrap_or_else(|e| panic!("list: {e}"))
                .len(),
            2
        );
    })
    .await;
}

/// A presence table whose `subscriptions` column has another type is refused with what
/// differs, instead of failing at the first subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presence_table_of_the_wrong_shape_is_refused() {
    in_fresh_schema(|opts| async move {
        let names = Names::from_options(&opts);
        let c = inspector().await;
        c.batch_execute(&format!(
            "{} ALTER TABLE {} ADD COLUMN subscriptions text;",
            version1_ddl(&names),
            names.subscribers
        ))
        .await
        .unwrap_or_else(|e| panic!("old DDL: {e}"));
        let t = Arc::new(PostgresTransport::new(opts).unwrap_or_else(|e| panic!("{e}")));
        match Hub::start(t, HubOptions::default()).await {
            Ok(_) => panic!("a text subscriptions column must be refused"),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains("_subscribers: column subscriptions is text, expected jsonb"),
                    "{e}"
                );
            }
        }
    })
    .await;
}
