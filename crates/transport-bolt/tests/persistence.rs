//! The file: history across reopening, retention by size and by age, duplicate ids across
//! trimming, corrupt entries, a file that stops growing, and one process per file.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, temp_path, update};
use futures::StreamExt;
use quicksilver_hub::{Position, Transport, TransportError};
use quicksilver_transport_bolt::{BoltError, BoltOptions, BoltTransport, Stats};

async fn open(opts: BoltOptions) -> (BoltTransport, Arc<Recorder>, quicksilver_hub::Tail) {
    let t = BoltTransport::open(opts).expect("open");
    let rec = Arc::new(Recorder::default());
    let tail = t.start(rec.clone()).await.expect("start");
    (t, rec, tail)
}

async fn append_all(t: &BoltTransport, ids: &[&str]) {
    for id in ids {
        t.append(update(id, &format!("data of {id}")))
            .await
            .expect("append");
    }
}

/// The ids replayed after `after` up to `until`, and whether `after` was found.
async fn replay(t: &BoltTransport, after: &str, until: u128) -> (bool, Vec<String>) {
    let h = t.history(after, Position(until)).await.expect("history");
    let ids = h
        .updates
        .map(|u| u.expect("entry").id().to_string())
        .collect()
        .await;
    (h.found, ids)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_reopening() {
    let (_dir, path) = temp_path();
    let (t, rec, tail) = open(BoltOptions::with_path(&path)).await;
    assert_eq!(tail, quicksilver_hub::Tail::default());
    append_all(&t, &["a", "b", "c"]).await;
    assert_eq!(
        *rec.0.lock(),
        vec![("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]
    );
    t.close().await.expect("close");
    assert!(matches!(
        t.append(update("x", "")).await,
        Err(TransportError::Closed)
    ));
    assert!(t.ready().await.is_err());

    let (t, rec, tail) = open(BoltOptions::with_path(&path)).await;
    assert_eq!(tail.position, Position(3));
    assert_eq!(tail.last_id.as_deref(), Some("c"));
    assert_eq!(
        replay(&t, "earliest", 3).await,
        (true, strings(&["a", "b", "c"]))
    );
    assert_eq!(replay(&t, "a", 3).await, (true, strings(&["b", "c"])));
    // The sequence goes on; what was there before the restart is history, not delivered.
    append_all(&t, &["d"]).await;
    assert_eq!(*rec.0.lock(), vec![("d".into(), 4)]);
    assert_eq!(replay(&t, "c", 4).await, (true, strings(&["d"])));
    t.ready().await.expect("ready");
    t.live().await.expect("live");
    t.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_keeps_exactly_n() {
    let (_dir, path) = temp_path();
    let opts = BoltOptions {
        size: 10,
        ..BoltOptions::with_path(&path)
    };
    let (t, _rec, _) = open(opts.clone()).await;
    let ids: Vec<String> = (0..25).map(|i| format!("i{i}")).collect();
    append_all(&t, &ids.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(
        t.stats().await.unwrap(),
        Stats {
            count: 10,
            first: Some(16),
            last: Some(25),
            index_entries: 10
        }
    );
    let kept: Vec<String> = (15..25).map(|i| format!("i{i}")).collect();
    assert_eq!(replay(&t, "earliest", 25).await, (true, kept.clone()));
    assert_eq!(replay(&t, "i14", 25).await, (false, vec![]));
    assert_eq!(replay(&t, "i15", 25).await, (true, kept[1..].to_vec()));
    // The same after reopening.
    t.close().await.unwrap();
    let (t, _rec, tail) = open(opts).await;
    assert_eq!(tail.position, Position(25));
    assert_eq!(replay(&t, "earliest", 25).await, (true, kept));
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_ids_across_trimming() {
    let (_dir, path) = temp_path();
    let (t, _rec, _) = open(BoltOptions {
        size: 3,
        ..BoltOptions::with_path(&path)
    })
    .await;
    append_all(&t, &["a", "b", "a", "c"]).await;
    // Kept: b(2) a(3) c(4). The first "a" was trimmed: "a" now means its next occurrence.
    assert_eq!(
        replay(&t, "earliest", 4).await,
        (true, strings(&["b", "a", "c"]))
    );
    assert_eq!(replay(&t, "a", 4).await, (true, strings(&["c"])));
    assert_eq!(replay(&t, "b", 4).await, (true, strings(&["a", "c"])));
    append_all(&t, &["d"]).await;
    assert_eq!(replay(&t, "b", 5).await, (false, vec![]));
    assert_eq!(replay(&t, "a", 5).await, (true, strings(&["c", "d"])));
    append_all(&t, &["e", "a"]).await;
    // Kept: d(5) e(6) a(7): the old "a"s are gone, the new one counts.
    assert_eq!(replay(&t, "a", 7).await, (true, vec![]));
    assert_eq!(replay(&t, "d", 7).await, (true, strings(&["e", "a"])));
    let stats = t.stats().await.unwrap();
    assert_eq!((stats.count, stats.index_entries), (3, 3));
    // With duplicates both kept, the first occurrence wins.
    append_all(&t, &["x", "a"]).await; // kept: a(7) x(8) a(9)
    assert_eq!(replay(&t, "a", 9).await, (true, strings(&["x", "a"])));
    t.close().await.unwrap();
}

/// Polls the stats until `done` holds (5 s at most).
async fn wait_for(t: &BoltTransport, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let s = t.stats().await.unwrap();
        if done(&s) || tokio::time::Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age_at_commit_and_while_idle() {
    let (_dir, path) = temp_path();
    let opts = BoltOptions {
        max_age: Some(Duration::from_millis(1500)),
        ..BoltOptions::with_path(&path)
    };
    let (t, _rec, _) = open(opts.clone()).await;
    append_all(&t, &["old1", "old2", "old3"]).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    append_all(&t, &["young"]).await;
    assert_eq!(t.stats().await.unwrap().count, 4);
    // old* expire 1.5 s after their append, young 1 s later; the idle sweep runs every 100 ms.
    let s = wait_for(&t, |s| s.count < 4).await;
    assert_eq!(
        (s.count, s.first, s.index_entries),
        (1, Some(4), 1),
        "{s:?}"
    );
    assert_eq!(replay(&t, "old3", 4).await, (false, vec![]));
    assert_eq!(replay(&t, "young", 4).await, (true, vec![]));
    let s = wait_for(&t, |s| s.count == 0).await;
    assert_eq!((s.count, s.first, s.index_entries), (0, None, 0));
    assert_eq!(replay(&t, "earliest", 4).await, (true, vec![]));
    t.close().await.unwrap();
    // Everything expired, yet the sequence and the last id carry over.
    let (t, rec, tail) = open(opts).await;
    assert_eq!(tail.position, Position(4));
    assert_eq!(tail.last_id.as_deref(), Some("young"));
    append_all(&t, &["next"]).await;
    assert_eq!(*rec.0.lock(), vec![("next".into(), 5)]);
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_entry_ends_the_replay_with_an_error() {
    let (_dir, path) = temp_path();
    let (t, _rec, _) = open(BoltOptions::with_path(&path)).await;
    append_all(&t, &["a", "b", "c", "d"]).await;
    t.put_raw(2, b"\xff garbage".to_vec()).await.unwrap();
    // A valid header with invalid JSON.
    let mut bad = vec![1u8];
    bad.extend_from_slice(&0u64.to_be_bytes());
    bad.extend_from_slice(&1u32.to_be_bytes());
    bad.extend_from_slice(b"c{not json");
    t.put_raw(3, bad).await.unwrap();
    for (after, first) in [("earliest", Some("a")), ("a", None), ("b", None)] {
        let h = t.history(after, Position(4)).await.unwrap();
        let items: Vec<_> = h.updates.collect().await;
        let mut it = items.into_iter();
        if let Some(first) = first {
            assert_eq!(it.next().unwrap().unwrap().id(), first);
        }
        match it.next() {
            Some(Err(TransportError::Corrupt(m))) => assert!(m.contains("corrupt entry"), "{m}"),
            other => panic!("expected a corrupt entry, got {other:?}"),
        }
        assert!(it.next().is_none(), "the replay stops at the corrupt entry");
    }
    // Trimming goes past corrupt entries too.
    t.close().await.unwrap();
    let (t, _rec, _) = open(BoltOptions {
        size: 1,
        ..BoltOptions::with_path(&path)
    })
    .await;
    append_all(&t, &["e"]).await;
    assert_eq!(replay(&t, "earliest", 5).await, (true, strings(&["e"])));
    // The index entry of "b", whose header was destroyed, stays behind, harmlessly: lookups
    // ignore sequence numbers below the first kept entry.
    assert_eq!(t.stats().await.unwrap().index_entries, 2);
    assert_eq!(replay(&t, "b", 5).await, (false, vec![]));
    assert_eq!(replay(&t, "e", 5).await, (true, vec![]));
    t.close().await.unwrap();
}

#[test]
fn a_file_that_is_not_ours_is_refused_clearly() {
    let (_dir, path) = temp_path();
    // The start of a bbolt file: a page header, then the meta magic.
    let mut bolt = vec![0u8; 4096];
    bolt[16..20].copy_from_slice(&[0xed, 0xda, 0x0c, 0xed]);
    std::fs::write(&path, &bolt).unwrap();
    let e = BoltTransport::open(BoltOptions::with_path(&path))
        .err()
        .expect("refused");
    assert!(matches!(e, BoltError::NotOurs { .. }));
    assert!(e.to_string().contains("BoltDB"), "{e}");
    std::fs::write(&path, b"hello world, not a database").unwrap();
    let e = BoltTransport::open(BoltOptions::with_path(&path))
        .err()
        .expect("refused");
    assert!(
        e.to_string().contains("not a Quicksilver history file"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_directories_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/c.db");
    let (t, _rec, _) = open(BoltOptions::with_path(&path)).await;
    append_all(&t, &["x"]).await;
    t.close().await.unwrap();
    assert!(path.exists());
}

/// Long publish loop with retention on: once the history is full, freed pages are reused and
/// the file stops growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_stays_flat_under_a_long_publish_loop() {
    let (_dir, path) = temp_path();
    let (t, _rec, _) = open(BoltOptions {
        size: 1000,
        ..BoltOptions::with_path(&path)
    })
    .await;
    let t = Arc::new(t);
    let total = 200_000;
    let publishers = 64;
    let body = "x".repeat(200);
    let mut sizes = Vec::new();
    for round in 0..10 {
        let mut tasks = Vec::new();
        for p in 0..publishers {
            let t = t.clone();
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..total / 10 / publishers {
                    t.append(update(&format!("r{round}-p{p}-{i}"), &body))
                        .await
                        .expect("append");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    let s = t.stats().await.unwrap();
    assert_eq!((s.count, s.index_entries), (1000, 1000));
    // redb grows the file in steps while its free space settles (measured in release over
    // 1 000 000 appends: 137 pages, then 205 pages for good); without retention these 200 000
    // updates would take some 70 MB. So: no more than twice the size after the first 20 000,
    // and under 2 MB.
    eprintln!("file sizes after each 20 000 appends: {sizes:?}");
    let last = *sizes.last().unwrap();
    assert!(
        last <= 2 * sizes[0] && last < 2 << 20,
        "the file kept growing: {sizes:?}"
    );
    t.close().await.unwrap();
}

/// A second `Database` on the same file, from another process, is refused with a clear
/// message; once the first closes, it opens. The helper is this test binary, re-executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_file_is_refused() {
    let (_dir, path) = temp_path();
    let (t, _rec, _) = open(BoltOptions::with_path(&path)).await;
    append_all(&t, &["a"]).await;
    let helper = |path: &std::path::Path| {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "open_helper", "--nocapture", "--test-threads=1"])
            .env("BOLT_OPEN_HELPER_PATH", path)
            .output()
            .expect("run helper");
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let out = helper(&path);
    assert!(
        out.contains("OPEN FAILED:") && out.contains("already open in another process"),
        "{out}"
    );
    // In this process too.
    let e = BoltTransport::open(BoltOptions::with_path(&path))
        .err()
        .expect("refused");
    assert!(matches!(e, BoltError::AlreadyOpen { .. }), "{e}");
    t.close().await.unwrap();
    let out = helper(&path);
    assert!(out.contains("OPENED 1 entries"), "{out}");
}

/// Not a test on its own: opens the file named by `BOLT_OPEN_HELPER_PATH` and reports.
#[tokio::test]
async fn open_helper() {
    let Some(path) = std::env::var_os("BOLT_OPEN_HELPER_PATH") else {
        return;
    };
    match BoltTransport::open(BoltOptions::with_path(path)) {
        Ok(t) => println!("OPENED {} entries", t.stats().await.unwrap().count),
        Err(e) => println!("OPEN FAILED: {e}"),
    }
}
