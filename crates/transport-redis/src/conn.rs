//! Connections: one multiplexed, self-reconnecting connection for commands (shared by every
//! publisher, history reader and the presence store), and a dedicated one per tail, because a
//! blocking `XREAD` holds its server-side connection for the whole block.
//!
//! A single server uses redis-rs's [`ConnectionManager`]; several addresses use a
//! [`ClusterConnection`] (which follows slot moves and reconnects to nodes itself). [`Conn`]
//! hides which, so the rest of the crate issues commands and scripts the same way.

use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, IntoConnectionInfo,
    Pipeline, RedisConnectionInfo, RedisFuture, TlsCertificates, Value,
};

use crate::error::RedisTransportError;
use crate::options::{Address, RedisOptions};

/// How long a command may take before the server counts as unreachable. Generous, because an
/// append with `appendfsync always` waits for a disk flush; short enough that a publisher gets
/// its 503 quickly when Redis hangs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);

/// How long opening a TCP (and TLS) connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one blocking `XREAD` waits for new entries before returning empty. The reply
/// doubles as a liveness probe of the tail connection.
pub const BLOCK: Duration = Duration::from_secs(5);

/// A connection commands can be sent on.
#[derive(Clone)]
pub enum Conn {
    /// The shared, self-reconnecting connection to a single server.
    Managed(ConnectionManager),
    /// A dedicated connection to a single server (tails).
    Plain(MultiplexedConnection),
    /// A connection to a Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Managed(c) => c.req_packed_command(cmd),
            Conn::Plain(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Managed(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Plain(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Managed(c) => c.get_db(),
            Conn::Plain(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The two cluster clients: they differ by their response timeout.
pub struct ClusterClients {
    /// For commands: bounded response time.
    commands: redis::cluster::ClusterClient,
    /// For tails: a response time longer than the block.
    tail: redis::cluster::ClusterClient,
}

/// Opens connections for one set of options.
// One per transport: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Connector {
    Single(Client),
    Cluster(Box<ClusterClients>),
}

fn node_info(a: &Address, o: &RedisOptions) -> Result<ConnectionInfo, RedisTransportError> {
    let addr = if o.tls {
        ConnectionAddr::TcpTls {
            host: a.host.clone(),
            port: a.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(a.host.clone(), a.port)
    };
    let mut redis = RedisConnectionInfo::default().set_db(o.db);
    if let Some(u) = &o.username {
        redis = redis.set_username(u);
    }
    if let Some(p) = &o.password {
        redis = redis.set_password(p);
    }
    addr.into_connection_info()
        .map(|info| info.set_redis_settings(redis))
        .map_err(|e| RedisTransportError::Client(format!("address {a}: {e}")))
}

/// The `tls_ca` file's certificates, to trust instead of the system's roots.
fn tls_certificates(o: &RedisOptions) -> Result<Option<TlsCertificates>, RedisTransportError> {
    let Some(path) = o.tls_ca.as_ref().filter(|_| o.tls) else {
        return Ok(None);
    };
    let pem = std::fs::read(path).map_err(|e| {
        RedisTransportError::Client(format!("tls_ca: cannot read {}: {e}", path.display()))
    })?;
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

impl Connector {
    pub fn new(o: &RedisOptions) -> Result<Connector, RedisTransportError> {
        if o.tls {
            // redis-rs builds rustls without choosing a crypto provider; use aws-lc-rs unless
            // the process already chose one (then this is a harmless no-op).
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let certs = tls_certificates(o)?;
        let build = |response_timeout: Duration| {
            let nodes = o
                .addresses
                .iter()
                .map(|a| node_info(a, o))
                .collect::<Result<Vec<_>, _>>()?;
            let mut b = ClusterClientBuilder::new(nodes)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(response_timeout)
                .retries(2);
            if let Some(u) = &o.username {
                b = b.username(u);
            }
            if let Some(p) = &o.password {
                b = b.password(p);
            }
            if let Some(c) = &certs {
                b = b.certs(c.clone());
            }
            b.build()
                .map_err(|e| RedisTransportError::Client(format!("Redis Cluster client: {e}")))
        };
        if o.is_cluster() {
            Ok(Connector::Cluster(Box::new(ClusterClients {
                commands: build(COMMAND_TIMEOUT)?,
                tail: build(BLOCK + COMMAND_TIMEOUT)?,
            })))
        } else {
            let Some(a) = o.addresses.first() else {
                return Err(RedisTransportError::Client("no address".into()));
            };
            let info = node_info(a, o)?;
            match certs {
                Some(c) => Client::build_with_tls(info, c),
                None => Client::open(info),
            }
            .map(Connector::Single)
            .map_err(|e| RedisTransportError::Client(format!("Redis client: {e}")))
        }
    }

    /// The shared connection for commands. Reconnects by itself afterwards; this fails when the
    /// server can't be reached now.
    pub async fn commands(&self) -> redis::RedisResult<Conn> {
        match self {
            Connector::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    // Few, quick retries: while Redis is down publishers must get their 503
                    // promptly, and the next command triggers the next attempt anyway.
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map(Conn::Managed)
            }
            Connector::Cluster(c) => c.commands.get_async_connection().await.map(Conn::Cluster),
        }
    }

    /// A dedicated connection for one tail, whose responses may take a whole [`BLOCK`].
    pub async fn tail(&self) -> redis::RedisResult<Conn> {
        match self {
            Connector::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(BLOCK + COMMAND_TIMEOUT));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Conn::Plain)
            }
            Connector::Cluster(c) => c.tail.get_async_connection().await.map(Conn::Cluster),
        }
    }
}
