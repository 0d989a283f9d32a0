//! `quicksilver run`: loads the configuration, opens the transport, binds and serves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use quicksilver_auth::{Issuer, Issuers, Verifier};
use quicksilver_config::{Config, IssuerConfig, KeySource, Protocol, TransportConfig};
use quicksilver_http::{HttpOptions, Metrics};
use quicksilver_hub::{Hub, HubOptions, LocalTransport, Transport};

#[derive(Args)]
pub struct RunArgs {
    /// A file of `mercure` directives (a `mercure { ... }` block or bare directives), applied
    /// after the environment variables.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        None => None,
    };
    let env = |k: &str| std::env::var(k).ok();
    let config =
        quicksilver_config::load(&env, file.as_ref().map(|(n, c)| (n.as_str(), c.as_str())))?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Draft-07 keys (`publisher_jwt`...) or draft-08 issuers; the configuration fills only the
    // side of its protocol.
    let (publisher, subscriber, issuers) = match config.protocol {
        Protocol::Draft07 => {
            let publisher = match &config.publisher {
                Some(k) => verifier(k).await.context("publisher key")?,
                None => bail!(
                    "no publisher key: set MERCURE_PUBLISHER_JWT_KEY or the publisher_jwt directive"
                ),
            };
            let subscriber = match &config.subscriber {
                Some(k) => Some(verifier(k).await.context("subscriber key")?),
                None => None,
            };
            (Some(publisher), subscriber, None)
        }
        Protocol::Draft08 => (None, None, Some(issuers(&config.issuers).await?)),
    };
    if config.ui || config.demo {
        tracing::warn!(
            "the `ui` and `demo` directives are accepted for compatibility but not implemented"
        );
    }
    let (transport, transport_desc) = open_transport(&config.transport)?;
    let hub = Hub::start(
        transport,
        HubOptions {
            protocol: match config.protocol {
                Protocol::Draft07 => quicksilver_hub::Protocol::Draft07,
                Protocol::Draft08 => quicksilver_hub::Protocol::Draft08,
            },
            resource_identifier: config.resource_identifier.clone(),
            subscriptions: config.subscriptions,
            selector_cache: config.topic_selector_cache,
            presence_timeout: presence_timeout(&config.transport)?,
            ..HubOptions::default()
        },
    )
    .await
    .context("starting the transport")?;

    let listeners = bind(&config).await?;
    let addrs: Vec<String> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.to_string())
        .collect();
    match &issuers {
        None => tracing::info!(
            address = %config.listen.display(),
            bound = ?addrs,
            transport = %transport_desc,
            protocol = %config.protocol,
            publisher = %publisher.as_ref().map(|p| p.describe()).unwrap_or_default(),
            subscriber = %subscriber.as_ref().map(|s| s.describe()).unwrap_or_else(|| "none (anonymous only)".into()),
            anonymous = config.anonymous,
            subscriptions = config.subscriptions,
            "Quicksilver {} serving the Mercure hub at {}/.well-known/mercure",
            env!("CARGO_PKG_VERSION"),
            config.listen.display(),
        ),
        Some(issuers) => tracing::info!(
            address = %config.listen.display(),
            bound = ?addrs,
            transport = %transport_desc,
            protocol = %config.protocol,
            issuers = %describe_issuers(issuers),
            resource_identifier = config.resource_identifier.as_deref().unwrap_or("derived from each request"),
            anonymous = config.anonymous,
            subscriptions = config.subscriptions,
            "Quicksilver {} serving the Mercure hub ({}) at {}/.well-known/mercure",
            env!("CARGO_PKG_VERSION"),
            config.protocol,
            config.listen.display(),
        ),
    }
    if !config.public_urls.is_empty() {
        tracing::info!(public_urls = ?config.public_urls, "requests for other origins are answered 421");
    }

    let opts = HttpOptions {
        protocol: match config.protocol {
            Protocol::Draft07 => quicksilver_hub::Protocol::Draft07,
            Protocol::Draft08 => quicksilver_hub::Protocol::Draft08,
        },
        publisher,
        subscriber,
        issuers,
        resource_identifier: config.resource_identifier.clone(),
        public_urls: config.public_urls.clone(),
        anonymous: config.anonymous,
        subscriptions: config.subscriptions,
        heartbeat: config.heartbeat,
        write_timeout: config.write_timeout,
        dispatch_timeout: config.dispatch_timeout,
        cors_origins: config.cors_origins.clone(),
        publish_origins: config.publish_origins.clone(),
        cookie_name: config.cookie_name.clone(),
        compat_v7: config.protocol_version_compatibility == Some(7),
        max_body_size: config.max_request_body_size,
        shutdown_timeout: Duration::from_secs(10),
    };
    quicksilver_http::serve(
        listeners,
        hub.clone(),
        opts,
        Metrics::install(),
        shutdown_signal(),
    )
    .await?;
    hub.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn verifier(k: &KeySource) -> anyhow::Result<Verifier> {
    let source = match k {
        KeySource::Static { key, alg } => quicksilver_auth::KeySource::Static {
            key: key.clone(),
            alg: alg.clone(),
        },
        // Draft-07 JWKS verifiers have no algorithm list (`algs` is always empty there).
        KeySource::Jwks { url, .. } => quicksilver_auth::KeySource::Jwks { url: url.clone() },
    };
    Ok(Verifier::new(source).await?)
}

/// The draft-08 trusted issuers, each verifier loaded now (a JWKS is fetched) so a bad key
/// fails start-up with the issuer and role it belongs to.
async fn issuers(configs: &[IssuerConfig]) -> anyhow::Result<Issuers> {
    let mut list = Vec::with_capacity(configs.len());
    for c in configs {
        let publisher = match &c.publisher {
            Some(k) => Some(
                verifier08(k)
                    .await
                    .with_context(|| format!("issuer {}: publisher key", c.id))?,
            ),
            None => None,
        };
        let subscriber = match &c.subscriber {
            Some(k) => Some(
                verifier08(k)
                    .await
                    .with_context(|| format!("issuer {}: subscriber key", c.id))?,
            ),
            None => None,
        };
        list.push(Issuer {
            id: c.id.clone(),
            publisher,
            subscriber,
            authorization_server: c.authorization_server,
        });
    }
    Ok(Issuers::new(list)?)
}

/// A draft-08 verifier: a static key pins its algorithm, a JWKS its allowlist (the default
/// asymmetric list when none is written).
async fn verifier08(k: &KeySource) -> anyhow::Result<Verifier> {
    Ok(match k {
        KeySource::Static { key, alg } => {
            Verifier::with_algorithms(
                quicksilver_auth::KeySource::Static {
                    key: key.clone(),
                    alg: alg.clone(),
                },
                None,
            )
            .await?
        }
        KeySource::Jwks { url, algs } => {
            Verifier::with_algorithms(
                quicksilver_auth::KeySource::Jwks { url: url.clone() },
                (!algs.is_empty()).then(|| algs.clone()),
            )
            .await?
        }
    })
}

/// "id (publisher: HS256 key, subscriber: JWKS <url> (RS256))" for each issuer.
fn describe_issuers(issuers: &Issuers) -> String {
    let role = |v: &Option<Verifier>| {
        v.as_ref()
            .map_or_else(|| "none".to_string(), |v| v.describe())
    };
    issuers
        .iter()
        .map(|i| {
            format!(
                "{} (publisher: {}, subscriber: {}{})",
                i.id,
                role(&i.publisher),
                role(&i.subscriber),
                if i.authorization_server {
                    ", authorization server"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Opens the configured transport; unknown options stop start-up with their line.
fn open_transport(t: &TransportConfig) -> anyhow::Result<(Arc<dyn Transport>, String)> {
    match t.kind.as_str() {
        "local" => {
            let mut size = quicksilver_hub::local::DEFAULT_LOCAL_HISTORY;
            for o in &t.options {
                let at = if o.line > 0 {
                    format!("{}:{}", o.source, o.line)
                } else {
                    o.source.clone()
                };
                match (o.name.as_str(), o.args.as_slice()) {
                    ("size", [n]) => {
                        size = n.parse().with_context(|| {
                            format!("{at}: transport local: size: expected a number of updates to keep, got {n:?}")
                        })?
                    }
                    ("size", _) => bail!("{at}: transport local: size: expected one number"),
                    (other, _) => bail!("{at}: transport local: unknown option {other:?} (expected: size)"),
                }
            }
            Ok((
                Arc::new(LocalTransport::new(size)),
                format!("local (in memory, history of {size} updates)"),
            ))
        }
        "bolt" => {
            let options: Vec<(String, Vec<String>, String)> = t
                .options
                .iter()
                .map(|o| {
                    let at = if o.line > 0 {
                        format!("{}:{}", o.source, o.line)
                    } else {
                        o.source.clone()
                    };
                    (o.name.clone(), o.args.clone(), at)
                })
                .collect();
            let options = quicksilver_transport_bolt::from_options(&options)?;
            let desc = options.describe();
            let transport = quicksilver_transport_bolt::BoltTransport::open(options)
                .context("opening the history file of transport bolt")?;
            Ok((Arc::new(transport), desc))
        }
        "redis" => {
            let options = redis_options(t)?;
            let desc = options.describe();
            let transport = quicksilver_transport_redis::RedisTransport::new(options)?;
            Ok((Arc::new(transport), desc))
        }
        "postgres" => {
            let options = postgres_options(t)?;
            let desc = options.describe();
            let transport = quicksilver_transport_postgres::PostgresTransport::new(options)?;
            Ok((Arc::new(transport), desc))
        }
        other => bail!(
            "{}: transport {other:?} is not available in this build yet (available: local, bolt, redis, postgres)",
            t.origin
        ),
    }
}

/// The options of a network transport as its `from_options` takes them: name, arguments, and
/// where they were written (line, source) for error messages.
fn option_tuples(t: &TransportConfig) -> impl Iterator<Item = (&str, &[String], usize, &str)> {
    t.options.iter().map(|o| {
        (
            o.name.as_str(),
            o.args.as_slice(),
            o.line,
            o.source.as_str(),
        )
    })
}

/// `transport redis` options, validated (errors name the option and where it was written).
fn redis_options(t: &TransportConfig) -> anyhow::Result<quicksilver_transport_redis::RedisOptions> {
    Ok(quicksilver_transport_redis::from_options(option_tuples(t))?)
}

/// `transport postgres` options, validated (errors name the option and where it was written).
fn postgres_options(
    t: &TransportConfig,
) -> anyhow::Result<quicksilver_transport_postgres::PostgresOptions> {
    Ok(quicksilver_transport_postgres::from_options(
        option_tuples(t),
    )?)
}

/// How long a silent node's subscriptions stay listed: the clustered transport's
/// `presence_timeout`, else the default.
fn presence_timeout(t: &TransportConfig) -> anyhow::Result<Duration> {
    Ok(match t.kind.as_str() {
        "redis" => redis_options(t)?.presence_timeout,
        "postgres" => postgres_options(t)?.presence_timeout,
        _ => quicksilver_hub::presence_store::DEFAULT_PRESENCE_TIMEOUT,
    })
}

async fn bind(config: &Config) -> anyhow::Result<Vec<tokio::net::TcpListener>> {
    let listen = &config.listen;
    let mut candidates: Vec<SocketAddr> = listen.socket_addrs();
    let all_interfaces = matches!(listen.bind, quicksilver_config::Bind::AllInterfaces);
    if let quicksilver_config::Bind::Hostname(host) = &listen.bind {
        candidates = tokio::net::lookup_host((host.as_str(), listen.port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .collect();
    }
    let mut listeners = Vec::new();
    let mut last_err = None;
    for addr in candidates {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                listeners.push(l);
                // `[::]` is dual stack: binding 0.0.0.0 as well would collide.
                if all_interfaces {
                    break;
                }
            }
            Err(e) => last_err = Some((addr, e)),
        }
    }
    if listeners.is_empty() {
        match last_err {
            Some((addr, e)) => bail!("cannot listen on {addr}: {e}"),
            None => bail!("no address to listen on for {}", listen.display()),
        }
    }
    Ok(listeners)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the hub with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
