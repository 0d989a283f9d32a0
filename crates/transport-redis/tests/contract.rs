//! The transport contract suite (`quicksilver_hub::contract`) against real servers: Redis 7 on
//! 127.0.0.1:6379 (JSON and `gob` encodings), Valkey 8 and a three-master Redis Cluster (both
//! started by `./scripts/brokers`). Each test uses a fresh stream and deletes it at the end.

mod common;

use std::sync::Arc;

use common::{Backend, Streams, with_cleanup};
use quicksilver_hub::Transport;

/// One `#[tokio::test]` per contract check, for one backend and set of extra options.
macro_rules! contract_against {
    ($backend:expr, $extra:expr) => {
        contract_against!(@one $backend, $extra,
            ordering_and_exactly_once, history_live_boundary, custom_ids, unknown_id, earliest,
            duplicate_ids, concurrent_publishers_and_subscribers, private_history);
    };
    (@one $backend:expr, $extra:expr, $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                with_cleanup(|streams: Streams| async move {
                    let factory = move || {
                        let streams = streams.clone();
                        Box::pin(async move {
                            streams.transport($backend.options($extra)) as Arc<dyn Transport>
                        }) as std::pin::Pin<Box<dyn std::future::Future<Output = Arc<dyn Transport>> + Send>>
                    };
                    quicksilver_hub::contract::$name(&factory).await;
                })
                .await;
            }
        )*
    };
}

mod redis {
    use super::*;
    contract_against!(Backend::Redis, &[]);
}

mod redis_gob {
    use super::*;
    contract_against!(Backend::Redis, &[("gob", &[])]);
}

mod valkey {
    use super::*;
    contract_against!(Backend::Valkey, &[]);
}

mod cluster {
    use super::*;
    contract_against!(Backend::Cluster, &[]);
}
