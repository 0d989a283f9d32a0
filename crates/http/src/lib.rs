//! The HTTP face of Quicksilver: routes, handlers, the accept loop, CORS, metrics and health.
//!
//! Requests are routed by hand on (method, path) rather than through a router framework: the hub
//! has a handful of fixed paths, and the reference's exact status codes for method mismatches
//! and encoded path segments are easier to reproduce directly. Connections are served by our own
//! hyper accept loop so buffer sizes, timeouts and shutdown are ours to set.
//!
//! Both protocol drafts are served by the same core; a draft-08 hub routes the hub path, the
//! subscriptions API and the protected resource metadata to `draft08`'s handlers instead.

mod authorize;
mod body;
mod cors;
mod draft08;
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

use quicksilver_auth::{Issuers, Verifier};
use quicksilver_hub::{Hub, Protocol};

/// The path of the hub.
pub const HUB_PATH: &str = "/.well-known/mercure";

/// How the HTTP layer behaves; built by the binary from the configuration.
#[derive(Clone)]
pub struct HttpOptions {
    /// The protocol spoken on the wire: draft-07 (`topic`, the `mercure` claim) or draft-08
    /// (`match`, access tokens, RFC 6750 errors). The two share everything but the edges.
    pub protocol: Protocol,
    /// Draft-07: verifies publishers' tokens (the binary refuses to start a draft-07 hub
    /// without one). Unused by draft-08.
    pub publisher: Option<Verifier>,
    /// Draft-07: verifies subscribers' tokens; `None` with `anonymous` means tokens are not
    /// even read. Unused by draft-08.
    pub subscriber: Option<Verifier>,
    /// Draft-08: the trusted issuers and their verifiers per role. No publisher verifier at
    /// all: no publish route; no subscriber verifier: tokens of subscribers are not read.
    /// `None` is the same as no issuer. Unused by draft-07.
    pub issuers: Option<Issuers>,
    /// Draft-08: the pinned resource identifier (the `aud` tokens must contain); `None`: it
    /// is derived from each request as `http://<Host>/.well-known/mercure`.
    pub resource_identifier: Option<String>,
    /// Draft-08: the only origins (`scheme://host[:port]`, lowercase, default port left out)
    /// the hub answers for; others get 421 Misdirected Request. Empty: any.
    pub public_urls: Vec<String>,
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
    /// Maximum body size of a publish (and draft-08 `QUERY`) request; `None`: no cap.
    pub max_body_size: Option<usize>,
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
    /// What only draft-08 needs, derived once from `opts`; `None` for a draft-07 hub.
    pub draft08: Option<draft08::Edge>,
}
