//! `qs-bench`: the Quicksilver load generator and benchmark scenarios.
//!
//! Runs one scenario (S1-S6 of issue 3, or `smoke`) against a Mercure hub or nchan on this
//! machine and prints what it measured. See `docs/benchmarks.md` for what each scenario means and
//! `scripts/bench-compare` for the side-by-side runs.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use quicksilver_bench::procfs::ServerProcs;
use quicksilver_bench::report::Report;
use quicksilver_bench::scenario::{self, RunOptions, Spec};
use quicksilver_bench::shard;
use quicksilver_bench::target::{Kind, Target};

/// Load generator for Mercure hubs and nchan: SSE subscribers, publishers, latency, server CPU
/// and memory. Targets on this machine only (loopback).
#[derive(Parser)]
#[command(name = "qs-bench", version, about)]
struct Cli {
    /// Server kind.
    #[arg(long, global = true, value_enum, default_value_t = Kind::Mercure)]
    kind: Kind,
    /// Server base URL (loopback only).
    #[arg(long, global = true, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// Spread the subscribers over these servers (repeatable; e.g. the nodes of a cluster),
    /// round-robin; publishers use `--url`. Default: `--url`.
    #[arg(long, global = true)]
    subscriber_url: Vec<String>,
    /// Key to mint the publisher token with (Mercure, HS256).
    #[arg(
        long,
        global = true,
        env = "MERCURE_PUBLISHER_JWT_KEY",
        hide_env_values = true,
        default_value = "!ChangeThisMercureHubJWTSecretKey!"
    )]
    publisher_jwt_key: String,
    /// Key to mint subscriber tokens with (S6); defaults to the publisher key.
    #[arg(
        long,
        global = true,
        env = "MERCURE_SUBSCRIBER_JWT_KEY",
        hide_env_values = true
    )]
    subscriber_jwt_key: Option<String>,
    /// A ready-made publisher token (instead of minting one).
    #[arg(long, global = true)]
    publisher_token: Option<String>,
    /// A server process to measure (repeatable).
    #[arg(long, global = true)]
    server_pid: Vec<u32>,
    /// Measure this process and all its children (nginx: the master's pid).
    #[arg(long, global = true)]
    server_pids_from_parent: Option<u32>,
    /// Print the report as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Exit with an error unless every delivery was made exactly once.
    #[arg(long, global = true)]
    strict: bool,
    /// Subscribers per process; more are spread over child processes (file limit: 20,000).
    #[arg(long, global = true, default_value_t = 18_000)]
    max_per_process: usize,
    /// Tokio worker threads of each client process.
    #[arg(long, global = true, default_value_t = 2)]
    client_threads: usize,
    /// Subscriber connections being opened at once.
    #[arg(long, global = true, default_value_t = 200)]
    connect_concurrency: usize,
    /// Time allowed for one subscriber to connect and get its response head, in seconds.
    #[arg(long, global = true, default_value_t = 30.0)]
    connect_timeout: f64,
    /// Read buffer per subscriber, in bytes.
    #[arg(long, global = true, default_value_t = 8192)]
    read_buffer: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// S1: 1k subscribers × 1k updates back-to-back on one topic (CPU per delivery).
    S1(Overrides),
    /// S2: 1k subscribers at 20 updates/s for 30 s (latency).
    S2(Overrides),
    /// S3: 10k subscribers at 5 updates/s for 30 s (latency and CPU at scale).
    S3(Overrides),
    /// S4: 10k idle subscribers (memory per subscriber).
    S4(Overrides),
    /// S5: publish throughput, 64 publishers back-to-back for 10 s, no subscribers (JWT on Mercure).
    S5(Overrides),
    /// S6: 10k subscribers, each with its own URI-template selector and a token for it; 10k
    /// private updates, each for one subscriber (matching cost). nchan: 10k channels.
    S6(Overrides),
    /// A few tiny scenarios (< 10 s) that check the tool end to end: all deliveries, no
    /// duplicates, shards included.
    Smoke,
    /// Internal: a subscriber shard driven over stdin/stdout by a parent qs-bench.
    #[command(hide = true)]
    Shard,
}

/// Overrides of a scenario's defaults.
#[derive(Args, Default)]
struct Overrides {
    #[arg(long, short = 'n')]
    subscribers: Option<usize>,
    #[arg(long, short = 'p')]
    publishers: Option<usize>,
    /// Number of updates.
    #[arg(long, short = 'm')]
    messages: Option<u64>,
    /// Updates per second, all publishers together (0: back-to-back).
    #[arg(long)]
    rate: Option<f64>,
    /// Publishing duration, seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Payload size, bytes.
    #[arg(long)]
    payload_size: Option<usize>,
    /// S4: how long to hold the idle connections, seconds.
    #[arg(long)]
    hold: Option<f64>,
    /// Pause after connecting, seconds.
    #[arg(long)]
    settle: Option<f64>,
    /// How long to wait for late deliveries after publishing, seconds.
    #[arg(long)]
    drain_timeout: Option<f64>,
    /// Hard timeout of the whole scenario, seconds.
    #[arg(long)]
    timeout: Option<f64>,
}

impl Overrides {
    fn apply(&self, mut s: Spec) -> Spec {
        let secs = Duration::from_secs_f64;
        if let Some(v) = self.subscribers {
            s.subscribers = v;
        }
        if let Some(v) = self.publishers {
            s.publishers = v.max(1);
        }
        if let Some(v) = self.messages {
            s.messages = Some(v);
        }
        if let Some(v) = self.rate {
            s.rate = (v > 0.0).then_some(v);
        }
        if let Some(v) = self.duration {
            s.duration = Some(secs(v));
        }
        if let Some(v) = self.payload_size {
            s.payload_size = v;
        }
        if let Some(v) = self.hold {
            s.idle_hold = Some(secs(v));
        }
        if let Some(v) = self.settle {
            s.settle = secs(v);
        }
        if let Some(v) = self.drain_timeout {
            s.drain_timeout = secs(v);
        }
        if let Some(v) = self.timeout {
            s.timeout = secs(v);
        }
        s.with_default_timeout()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.client_threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether the run was acceptable (always, unless `--strict` or `smoke` found a fault).
async fn run(cli: Cli) -> anyhow::Result<bool> {
    let (name, overrides) = match &cli.command {
        Command::Shard => {
            shard::shard_main().await?;
            return Ok(true);
        }
        Command::Smoke => return smoke(&cli).await,
        Command::S1(o) => ("s1", o),
        Command::S2(o) => ("s2", o),
        Command::S3(o) => ("s3", o),
        Command::S4(o) => ("s4", o),
        Command::S5(o) => ("s5", o),
        Command::S6(o) => ("s6", o),
    };
    let spec = overrides.apply(Spec::named(name).context("unknown scenario")?);
    let opts = options(&cli)?;
    let report = scenario::run(&spec, &opts).await?;
    print(&cli, &report)?;
    Ok(!cli.strict || report.clean())
}

fn options(cli: &Cli) -> anyhow::Result<RunOptions> {
    let target = Target::parse(cli.kind, &cli.url)?;
    let server = ServerProcs::resolve(&cli.server_pid, cli.server_pids_from_parent)
        .context("reading the server's processes from /proc")?;
    let limit = fd_limit();
    // Each subscriber is one socket; leave room for the publishers, stdio and the runtime.
    let max_per_process = match limit {
        Some(l) if cli.max_per_process + 200 > l as usize => {
            (l as usize).saturating_sub(200).max(1)
        }
        _ => cli.max_per_process.max(1),
    };
    let subscriber_addrs = cli
        .subscriber_url
        .iter()
        .map(|u| Target::parse(cli.kind, u).map(|t| t.addr))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunOptions {
        target,
        subscriber_addrs,
        publisher_token: cli.publisher_token.clone(),
        publisher_key: cli.publisher_jwt_key.clone(),
        subscriber_key: cli
            .subscriber_jwt_key
            .clone()
            .unwrap_or_else(|| cli.publisher_jwt_key.clone()),
        server,
        max_per_process,
        client_threads: cli.client_threads,
        connect_concurrency: cli.connect_concurrency,
        connect_timeout: Duration::from_secs_f64(cli.connect_timeout),
        read_buffer: cli.read_buffer,
    })
}

fn print(cli: &Cli, report: &Report) -> anyhow::Result<()> {
    if cli.json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

/// Tiny versions of S1 (split over three shard processes), S6 and S5, strict.
async fn smoke(cli: &Cli) -> anyhow::Result<bool> {
    let mut opts = options(cli)?;
    let mut all_clean = true;
    let s1 = Overrides {
        subscribers: Some(30),
        publishers: Some(2),
        messages: Some(50),
        settle: Some(0.2),
        drain_timeout: Some(5.0),
        timeout: Some(30.0),
        ..Overrides::default()
    }
    .apply(Spec::named("s1").context("s1")?);
    let s6 = Overrides {
        subscribers: Some(10),
        publishers: Some(2),
        messages: Some(40),
        settle: Some(0.2),
        drain_timeout: Some(5.0),
        timeout: Some(30.0),
        ..Overrides::default()
    }
    .apply(Spec::named("s6").context("s6")?);
    let s5 = Overrides {
        publishers: Some(4),
        duration: Some(1.0),
        timeout: Some(30.0),
        ..Overrides::default()
    }
    .apply(Spec::named("s5").context("s5")?);
    for (spec, per_process) in [
        (s1, 12),
        (s6, opts.max_per_process),
        (s5, opts.max_per_process),
    ] {
        opts.max_per_process = per_process;
        let report = scenario::run(&spec, &opts).await?;
        print(cli, &report)?;
        let deliveries_ok = spec.subscribers == 0 || report.delivered == report.expected;
        if !report.clean() || !deliveries_ok || report.published_ok == 0 {
            eprintln!("smoke: scenario {} was not clean", spec.name);
            all_clean = false;
        }
    }
    if all_clean && !cli.json {
        println!("smoke: ok");
    }
    if !all_clean {
        bail!("smoke test failed");
    }
    Ok(true)
}

fn fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_cur)
}

/// Raises the soft file limit to the hard one: each subscriber is a socket.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct; failure only leaves the limit as it was.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
