//! The embedded persistent transport (`transport bolt`, the default): history across a
//! graceful restart and a SIGKILL, every acknowledged update kept through a SIGKILL under
//! load, one hub per file, the legacy DSN, the default path and option errors.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::*;

const T: Duration = Duration::from_secs(10);
const TOPIC: &str = "https://example.com/bolt";

/// A directory for a history file that outlives hub restarts, removed at the end.
struct DataDir(PathBuf);

impl DataDir {
    fn new(name: &str) -> DataDir {
        let dir =
            std::env::temp_dir().join(format!("quicksilver-bolt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        DataDir(dir)
    }

    fn db(&self) -> String {
        self.0.join("history.db").display().to_string()
    }

    fn directives(&self) -> String {
        format!("anonymous\ntransport bolt {{\n\tpath {}\n}}", self.db())
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn publish_ids(hub: &Hub, ids: &[&str]) {
    let tok = publisher();
    for id in ids {
        let (status, body) =
            publish(hub, &tok, &[("topic", TOPIC), ("id", id), ("data", id)]).await;
        assert_eq!((status, body.as_str()), (200, *id));
    }
}

/// Subscribes to TOPIC from `last_event_id`, publishes a live marker and returns the ids
/// received before it, with the `Last-Event-ID` response header.
async fn replay(hub: &Hub, last_event_id: &str) -> (String, Vec<String>) {
    let mut s = Sse::open(
        hub,
        &topics_query(&[TOPIC]),
        &[("Last-Event-ID", last_event_id)],
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.text());
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let marker = format!(
        "marker-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    publish_ids(hub, &[&marker]).await;
    assert!(
        s.read_until(&format!("id: {marker}\n"), Duration::from_secs(30))
            .await,
        "no marker; got {} bytes, ended: {}",
        s.buf.len(),
        s.ended
    );
    let ids = s
        .events()
        .iter()
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("id: ")))
        .map(str::to_string)
        .take_while(|id| *id != marker)
        .filter(|id| !id.starts_with("marker-"))
        .collect();
    (header(&s.headers, "last-event-id").to_string(), ids)
}

/// Subscribes to TOPIC from `last_event_id` and returns the ids received until `last` (and
/// for 300 ms more), without publishing anything.
async fn replay_until(hub: &Hub, last_event_id: &str, last: &str) -> Vec<String> {
    let mut s = Sse::open(
        hub,
        &topics_query(&[TOPIC]),
        &[("Last-Event-ID", last_event_id)],
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.text());
    assert!(
        s.read_until(&format!("id: {last}\n"), T).await,
        "{}",
        s.text()
    );
    s.drain_for(Duration::from_millis(300)).await;
    s.events()
        .iter()
        .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("id: ")))
        .map(str::to_string)
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn history_survives_a_graceful_restart() {
    let data = DataDir::new("graceful");
    let mut hub = Hub::with_directives(&data.directives());
    publish_ids(&hub, &["g1", "g2", "g3"]).await;
    let status = hub.terminate(T).expect("the hub stopped");
    assert!(status.success(), "{status}");

    let hub = Hub::with_directives(&data.directives());
    assert_eq!(
        replay(&hub, "earliest").await,
        ("earliest".to_string(), strings(&["g1", "g2", "g3"]))
    );
    assert_eq!(
        replay(&hub, "g1").await,
        ("g1".to_string(), strings(&["g2", "g3"]))
    );
}

#[tokio::test]
async fn history_survives_sigkill() {
    let data = DataDir::new("sigkill");
    let mut hub = Hub::with_directives(&data.directives());
    publish_ids(&hub, &["k1", "k2"]).await;
    hub.stop_with("KILL", T).expect("killed");

    let hub = Hub::with_directives(&data.directives());
    assert_eq!(replay(&hub, "earliest").await.1, strings(&["k1", "k2"]));
    // The log goes on after the restart.
    publish_ids(&hub, &["k3"]).await;
    assert_eq!(replay(&hub, "k2").await.1, strings(&["k3"]));
}

/// 8 publishers publish as fast as they can; the hub is killed with SIGKILL in the middle.
/// After a restart on the same file, every update that was answered 200 is replayed by
/// `earliest`, once, each publisher's in its order. Besides them, at most the one request of
/// each publisher in flight at the kill may have been committed without its answer.
#[tokio::test]
async fn every_acknowledged_update_survives_sigkill_under_load() {
    let data = DataDir::new("load");
    let mut hub = Hub::with_directives(&data.directives());
    let url = hub.hub_url();
    let tok = publisher();
    let publishers = 8;
    let mut tasks = Vec::new();
    for p in 0..publishers {
        let (url, tok) = (url.clone(), tok.clone());
        tasks.push(tokio::spawn(async move {
            let client = client();
            let mut acked = Vec::new();
            for i in 0.. {
                let id = format!("p{p}-{i}");
                let r = client
                    .post(&url)
                    .header("Authorization", format!("Bearer {tok}"))
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(format!("topic={}&id={id}&data={id}", enc(TOPIC)))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 200 => match r.text().await {
                        Ok(body) if body == id => acked.push(id),
                        _ => break,
                    },
                    _ => break,
                }
            }
            acked
        }));
    }
    // Let the load run, then kill the hub in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    hub.stop_with("KILL", T).expect("killed");
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.expect("publisher"));
    }
    let total: usize = acked.iter().map(Vec::len).sum();
    assert!(total >= 100, "only {total} publishes were acknowledged");
    eprintln!("{total} publishes acknowledged before the SIGKILL");

    let hub = Hub::with_directives(&data.directives());
    let (cursor, replayed) = replay(&hub, "earliest").await;
    assert_eq!(cursor, "earliest");
    for (p, acked) in acked.iter().enumerate() {
        let prefix = format!("p{p}-");
        let mine: Vec<&String> = replayed
            .iter()
            .filter(|id| id.starts_with(&prefix))
            .collect();
        assert!(
            mine.len() >= acked.len(),
            "publisher {p}: {} acknowledged, {} replayed",
            acked.len(),
            mine.len()
        );
        for (got, want) in mine.iter().zip(acked) {
            assert_eq!(*got, want, "publisher {p}: order or content differs");
        }
        // At most the request in flight at the kill, committed but never answered.
        assert!(
            mine.len() <= acked.len() + 1,
            "publisher {p}: {} replayed for {} acknowledged",
            mine.len(),
            acked.len()
        );
        if mine.len() == acked.len() + 1 {
            assert_eq!(*mine[acked.len()], format!("p{p}-{}", acked.len()));
        }
    }
    assert!(hub.logs().contains("transport=bolt"), "{}", hub.logs());
}

#[tokio::test]
async fn a_second_hub_on_the_same_file_is_refused() {
    let data = DataDir::new("second");
    let first = Hub::with_directives(&data.directives());
    publish_ids(&first, &["s1"]).await;
    let err = match HubBuilder::new().directives(&data.directives()).try_start() {
        Ok(_) => panic!("a second hub started on the same file"),
        Err(e) => e,
    };
    assert!(err.contains("exit status: 1"), "{err}");
    assert!(
        err.contains(&data.db()) && err.contains("already open in another process"),
        "{err}"
    );
    // The first one is unharmed.
    assert_eq!(replay(&first, "earliest").await.1, strings(&["s1"]));
}

#[tokio::test]
async fn legacy_dsn() {
    let data = DataDir::new("dsn");
    let dsn = format!("bolt://{}?size=2&cleanup_frequency=0.3", data.db());
    let mut hub = HubBuilder::new()
        .directives("anonymous")
        .env("MERCURE_TRANSPORT_URL", &dsn)
        .start();
    assert!(
        hub.wait_log(&format!(
            "transport=bolt (path {}, size 2, max_age none)",
            data.db()
        ))
        .await,
        "{}",
        hub.logs()
    );
    publish_ids(&hub, &["d1", "d2", "d3"]).await;
    hub.terminate(T).expect("stopped");
    let hub = HubBuilder::new()
        .directives("anonymous")
        .env("MERCURE_TRANSPORT_URL", &dsn)
        .start();
    // size=2: the oldest went.
    assert_eq!(
        replay_until(&hub, "earliest", "d3").await,
        strings(&["d2", "d3"])
    );
}

#[tokio::test]
async fn the_default_is_bolt_in_the_working_directory() {
    let hub = Hub::with_directives("anonymous");
    let path = hub.workdir().join("quicksilver.db");
    assert!(
        hub.wait_log(&format!(
            "transport=bolt (path {}, size 100000, max_age none)",
            path.display()
        ))
        .await,
        "{}",
        hub.logs()
    );
    publish_ids(&hub, &["w1"]).await;
    assert!(path.exists());
}

#[test]
fn option_errors_stop_start_up_with_their_line() {
    let err = match HubBuilder::new()
        .directives("anonymous\ntransport bolt {\n\tsize 10\n\tgob\n}")
        .try_start()
    {
        Ok(_) => panic!("started with an unknown option"),
        Err(e) => e,
    };
    assert!(
        err.contains(
            "MERCURE_EXTRA_DIRECTIVES:4: transport bolt: unknown option \"gob\" (valid options: path, size, cleanup_frequency, max_age, bucket_name)"
        ),
        "{err}"
    );
    let err = match HubBuilder::new()
        .directives("transport bolt {\n\tmax_age soon\n}")
        .try_start()
    {
        Ok(_) => panic!("started with a bad max_age"),
        Err(e) => e,
    };
    assert!(
        err.contains("MERCURE_EXTRA_DIRECTIVES:2: transport bolt: max_age: expected a duration"),
        "{err}"
    );
}
