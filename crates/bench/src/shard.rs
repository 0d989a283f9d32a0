//! Subscriber groups in this process or in child processes (shards).
//!
//! One process may hold at most 20,000 file descriptors here, so past ~18,000 subscribers the
//! tool runs itself again (`qs-bench shard`) once per slice of subscribers. The parent speaks to
//! a shard over its stdin/stdout in JSON lines:
//!
//! ```text
//! parent -> shard   {"group": GroupConfig, "timeout_ms": ..}
//! shard  -> parent  {"event": "connected", ...Connected}
//! parent -> shard   Finish
//! shard  -> parent  {"event": "result", ...GroupStats}
//! ```
//!
//! A shard has its own hard timeout and exits when its stdin closes, so it never outlives the
//! parent for long; the parent also kills it when dropped.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::group::{Connected, Finish, GroupConfig, run_group};
use crate::stats::GroupStats;

/// The first line a shard reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShardInit {
    pub group: GroupConfig,
    pub timeout_ms: u64,
}

/// What a shard writes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum ShardMessage {
    Connected(Connected),
    Result(GroupStats),
}

/// A group of subscribers, wherever it runs.
pub enum Group {
    Local {
        ready: Option<oneshot::Receiver<Connected>>,
        finish: Option<oneshot::Sender<Finish>>,
        handle: JoinHandle<GroupStats>,
    },
    /// Boxed: a child handle is much larger than the local variant.
    Child(Box<ChildShard>),
}

/// A shard process and its pipes.
pub struct ChildShard {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Group {
    /// A group run by tasks of this process.
    pub fn local(cfg: GroupConfig) -> Group {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (finish_tx, finish_rx) = oneshot::channel();
        Group::Local {
            ready: Some(ready_rx),
            finish: Some(finish_tx),
            handle: tokio::spawn(run_group(cfg, ready_tx, finish_rx)),
        }
    }

    /// A group run by a child process (`<this executable> shard`).
    pub async fn child(
        cfg: GroupConfig,
        threads: usize,
        timeout: Duration,
    ) -> anyhow::Result<Group> {
        let exe = std::env::current_exe().context("locating qs-bench to start a shard")?;
        let mut child = tokio::process::Command::new(exe)
            .arg("--client-threads")
            .arg(threads.to_string())
            .arg("shard")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a shard process")?;
        let mut stdin = child.stdin.take().context("shard stdin")?;
        let stdout = child.stdout.take().context("shard stdout")?;
        let init = ShardInit {
            group: cfg,
            timeout_ms: timeout.as_millis() as u64,
        };
        let mut line = serde_json::to_vec(&init)?;
        line.push(b'\n');
        stdin
            .write_all(&line)
            .await
            .context("configuring a shard")?;
        Ok(Group::Child(Box::new(ChildShard {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })))
    }

    /// Waits until the group's subscribers have all connected or failed to.
    pub async fn ready(&mut self) -> anyhow::Result<Connected> {
        match self {
            Group::Local { ready, .. } => ready
                .take()
                .ok_or_else(|| anyhow!("ready() called twice"))?
                .await
                .map_err(|_| anyhow!("the subscriber group stopped before connecting")),
            Group::Child(c) => match next_message(&mut c.lines).await? {
                ShardMessage::Connected(c) => Ok(c),
                ShardMessage::Result(_) => bail!("shard sent its result before connecting"),
            },
        }
    }

    /// Tells the group publishing is over and collects its counts.
    pub async fn finish(self, fin: Finish) -> anyhow::Result<GroupStats> {
        match self {
            Group::Local {
                mut finish, handle, ..
            } => {
                if let Some(tx) = finish.take() {
                    let _ = tx.send(fin);
                }
                handle.await.context("subscriber group task")
            }
            Group::Child(c) => {
                let ChildShard {
                    mut child,
                    mut stdin,
                    mut lines,
                } = *c;
                let mut line = serde_json::to_vec(&fin)?;
                line.push(b'\n');
                stdin
                    .write_all(&line)
                    .await
                    .context("telling a shard to finish")?;
                let stats = match next_message(&mut lines).await? {
                    ShardMessage::Result(s) => s,
                    ShardMessage::Connected(_) => bail!("shard sent `connected` twice"),
                };
                drop(stdin);
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                Ok(stats)
            }
        }
    }
}

async fn next_message(lines: &mut Lines<BufReader<ChildStdout>>) -> anyhow::Result<ShardMessage> {
    let line = lines
        .next_line()
        .await
        .context("reading from a shard")?
        .ok_or_else(|| anyhow!("a shard exited early (see its errors above)"))?;
    serde_json::from_str(&line).with_context(|| format!("bad message from a shard: {line:.200}"))
}

/// The body of `qs-bench shard`.
pub async fn shard_main() -> anyhow::Result<()> {
    let mut input = BufReader::new(tokio::io::stdin()).lines();
    let init: ShardInit = serde_json::from_str(
        &input
            .next_line()
            .await?
            .ok_or_else(|| anyhow!("no configuration on stdin (this command is internal)"))?,
    )
    .context("bad shard configuration")?;
    let timeout = Duration::from_millis(init.timeout_ms);
    tokio::time::timeout(timeout, async move {
        let (ready_tx, ready_rx) = oneshot::channel();
        let (finish_tx, finish_rx) = oneshot::channel();
        let handle = tokio::spawn(run_group(init.group, ready_tx, finish_rx));
        let connected = ready_rx
            .await
            .map_err(|_| anyhow!("subscriber group stopped"))?;
        emit(&ShardMessage::Connected(connected)).await?;
        let fin: Finish = match input.next_line().await? {
            Some(l) => serde_json::from_str(&l).context("bad finish message")?,
            None => bail!("the parent went away"),
        };
        let _ = finish_tx.send(fin);
        let stats = handle.await.context("subscriber group task")?;
        emit(&ShardMessage::Result(stats)).await
    })
    .await
    .map_err(|_| anyhow!("shard exceeded its hard timeout of {timeout:?}"))?
}

async fn emit(msg: &ShardMessage) -> anyhow::Result<()> {
    let mut line = serde_json::to_vec(msg)?;
    line.push(b'\n');
    let mut out = tokio::io::stdout();
    out.write_all(&line).await?;
    out.flush().await?;
    Ok(())
}
