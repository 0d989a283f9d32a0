//! The `quicksilver` binary: `quicksilver run` serves the hub, `quicksilver token` mints JWTs.
//!
//! Wiring only: configuration comes from `quicksilver-config`, the protocol from
//! `quicksilver-hub`, HTTP from `quicksilver-http`, tokens from `quicksilver-auth`.

mod run;
mod token;

use clap::{Parser, Subcommand, ValueEnum};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Quicksilver: an open-source Mercure hub, a drop-in replacement for the reference hub.
#[derive(Parser)]
#[command(name = "quicksilver", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "QUICKSILVER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing would buy nothing
enum Command {
    /// Run the hub. Configured by the reference hub's environment variables (SERVER_NAME,
    /// MERCURE_PUBLISHER_JWT_KEY, MERCURE_SUBSCRIBER_JWT_KEY, MERCURE_EXTRA_DIRECTIVES,
    /// MERCURE_TRANSPORT_URL...) and optionally a file of `mercure` directives.
    Run(run::RunArgs),
    /// Mint a JWT for testing and scripting: draft-07 (`mercure` claim) or draft-08 (access token).
    Token(token::TokenArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Token(args) => token::token(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Said once: as a log record when logs are JSON (every stderr line stays a JSON
            // object for log shippers), as a plain `error:` line for people otherwise.
            match cli.log_format {
                LogFormat::Json => tracing::error!("{e:#}"),
                LogFormat::Text => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("QUICKSILVER_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: escape codes in files and journald make logs unsearchable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
