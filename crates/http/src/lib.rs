//! The HTTP face of Quicksilver: routes, handlers, the accept loop, CORS, metrics and health.
//!
//! Requests are routed by hand on (method, path) rather than through a router framework: the hub
//! has a handful of fixed paths, and the reference's exact status codes for method mismatches
//! and encoded path segments are easier to reproduce directly. Connections are served by our own
//! hyper accept loop so buffer sizes, timeouts and shutdown are ours to set.

mod authorize;
mod body;
mod cors;
mod form;
mod h1;
mod metrics;
mod pages;
mod publish;
mod response;
mod router;
mod server;
mod subscribe;
mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

pub use body::HubBody;
pub use metrics::Metrics;
pub use server::{ServeError, serve};

use quicksilver_auth::Verifier;
use quicksilver_hub::Hub;

/// The path of the hub.
pub const HUB_PATH: &str = "/.well-known/mercure";

/// How the HTTP layer behaves; built by the binary from the configuration.
#[derive(Clone)]
pub struct HttpOptions {
    /// Verifies publishers' tokens (the hub refuses to start without one).
    pub publisher: Verifier,
    /// Verifies subscribers' tokens; `None` with `anonymous` means tokens are not even read.
    pub subscriber: Option<Verifier>,
    /// Subscribers without a token are allowed (public updates only).
    pub anonymous: bool,
    /// The subscriptions API is served.
    pub subscriptions: bool,
    /// The SSE keep-alive comment interval.
    pub heartbeat: Option<Duration>,
    /// Maximum connection lifetime, randomized to 80-100% per connection.
    pub write_timeout: Option<Duration>,
    /// A write that does not complete within this closes the connection.
    pub dispatch_timeout: Option<Duration>,
    /// CORS allowlist; empty disables CORS.
    pub cors_origins: Vec<String>,
    /// Origins allowed to publish with the cookie.
    pub publish_origins: Vec<String>,
    /// The authorization cookie's name.
    pub cookie_name: String,
    /// `protocol_version_compatibility 7`.
    pub compat_v7: bool,
    /// Maximum publish body size.
    pub max_body_size: usize,
    /// How long a graceful shutdown may take before remaining connections are dropped.
    pub shutdown_timeout: Duration,
}

/// Shared state of every request handler.
pub(crate) struct AppState {
    pub hub: Arc<Hub>,
    pub opts: HttpOptions,
    pub origins: authorize::OriginPolicy,
    pub cors: Option<cors::Cors>,
    pub metrics: Metrics,
}
