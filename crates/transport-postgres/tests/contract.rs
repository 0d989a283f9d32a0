//! The transport contract suite (`quicksilver_hub::contract`) against a real PostgreSQL
//! (127.0.0.1:5432, database `test`, or `QS_POSTGRES_URL`). Each test uses a fresh table and
//! drops it at the end.

mod common;

use std::sync::Arc;

use common::{Tables, with_cleanup};
use quicksilver_hub::Transport;

/// One `#[tokio::test]` per contract check.
macro_rules! contract {
    ($($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                with_cleanup(|tables: Tables| async move {
                    let factory = move || {
                        let tables = tables.clone();
                        Box::pin(async move {
                            tables.transport(tables.options(&[])) as Arc<dyn Transport>
                        }) as std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Transport>> + Send>>
                    };
                    quicksilver_hub::contract::$name(&factory).await;
                })
                .await;
            }
        )*
    };
}

contract!(
    ordering_and_exactly_once,
    history_live_boundary,
    custom_ids,
    unknown_id,
    earliest,
    duplicate_ids,
    concurrent_publishers_and_subscribers,
    private_history
);
