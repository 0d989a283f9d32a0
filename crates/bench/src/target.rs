//! The server under test: its kind, its loopback address, and the URLs and bodies each kind
//! expects.
//!
//! Only loopback targets are accepted: the tool opens tens of thousands of connections and
//! publishes as fast as it can, which is a denial of service anywhere but on one's own machine.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// What kind of server is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Mercure hub (draft-07 URLs): Quicksilver or the reference hub.
    Mercure,
    /// nginx with the nchan module, configured as in `bench/nchan.conf`.
    Nchan,
}

/// Which subscribers an update is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// Every subscriber listens to one topic and receives every update.
    OneTopic,
    /// Subscriber `i` has its own selector; update `seq` goes to subscriber `seq % N` only.
    PerSubscriber,
}

impl Routing {
    /// The subscriber (global index) update `seq` is for, or `None` when it is for everyone.
    pub fn recipient(self, seq: u64, subscribers: usize) -> Option<usize> {
        match self {
            Routing::OneTopic => None,
            Routing::PerSubscriber => Some((seq % subscribers.max(1) as u64) as usize),
        }
    }
}

/// Why a target was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "unsupported URL {0:?}: expected http://127.0.0.1:PORT (plain HTTP; TLS is not supported)"
    )]
    Scheme(String),
    #[error(
        "cannot parse the address in {0:?}: use an IP literal and a port, e.g. http://127.0.0.1:3000"
    )]
    Address(String),
    #[error(
        "refusing to load {0}: not a loopback address. qs-bench only targets this machine (127.0.0.0/8 or ::1)"
    )]
    NotLoopback(SocketAddr),
}

/// The server under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub kind: Kind,
    pub addr: SocketAddr,
}

/// The single topic of the one-topic scenarios.
pub const BENCH_TOPIC: &str = "https://example.com/bench";

impl Target {
    /// Parses `http://HOST:PORT[/...]`, where HOST is a loopback IP literal or `localhost`.
    pub fn parse(kind: Kind, url: &str) -> Result<Target, TargetError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| TargetError::Scheme(url.to_string()))?;
        let authority = rest.split('/').next().unwrap_or("");
        let addr: SocketAddr = match authority.strip_prefix("localhost:") {
            Some(port) => SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                port.parse()
                    .map_err(|_| TargetError::Address(url.to_string()))?,
            ),
            None => authority
                .parse()
                .map_err(|_| TargetError::Address(url.to_string()))?,
        };
        if !addr.ip().is_loopback() {
            return Err(TargetError::NotLoopback(addr));
        }
        Ok(Target { kind, addr })
    }

    /// The `Host` header value.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The source address for the `n`th connection: spread over 127.0.0.2-127.0.0.254 so the
    /// ~28k ephemeral ports are per address, not per machine. `None` (kernel's choice) for IPv6.
    pub fn source_for(&self, n: usize) -> Option<IpAddr> {
        match self.addr.ip() {
            IpAddr::V4(_) => Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (n % 253) as u8))),
            IpAddr::V6(_) => None,
        }
    }

    /// The request path of subscriber `i`.
    pub fn subscribe_path(&self, routing: Routing, i: usize) -> String {
        match (self.kind, routing) {
            (Kind::Mercure, Routing::OneTopic) => {
                format!("/.well-known/mercure?topic={}", enc(BENCH_TOPIC))
            }
            (Kind::Mercure, Routing::PerSubscriber) => {
                format!("/.well-known/mercure?topic={}", enc(&template_of(i)))
            }
            (Kind::Nchan, Routing::OneTopic) => "/sub/bench".to_string(),
            (Kind::Nchan, Routing::PerSubscriber) => format!("/sub/u{i}"),
        }
    }

    /// The publish request line target and body for one update.
    pub fn publish_request(
        &self,
        recipient: Option<usize>,
        private: bool,
        data: &str,
    ) -> (String, String) {
        match self.kind {
            Kind::Mercure => {
                let topic = match recipient {
                    None => BENCH_TOPIC.to_string(),
                    Some(i) => topic_of(i),
                };
                let mut body = format!("topic={}&data={}", enc(&topic), enc(data));
                if private {
                    body.push_str("&private=on");
                }
                ("/.well-known/mercure".to_string(), body)
            }
            Kind::Nchan => {
                let channel = match recipient {
                    None => "bench".to_string(),
                    Some(i) => format!("u{i}"),
                };
                (format!("/pub?id={channel}"), data.to_string())
            }
        }
    }
}

/// Subscriber `i`'s own URI template (S6): one distinct template per subscriber.
pub fn template_of(i: usize) -> String {
    format!("https://example.com/u/{i}/{{x}}")
}

/// The topic of an update for subscriber `i` (S6); it matches only `template_of(i)`.
pub fn topic_of(i: usize) -> String {
    format!("https://example.com/u/{i}/m")
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_only() {
        assert!(Target::parse(Kind::Mercure, "http://127.0.0.1:3000").is_ok());
        assert!(Target::parse(Kind::Mercure, "http://127.5.0.1:3000/x").is_ok());
        assert!(Target::parse(Kind::Nchan, "http://[::1]:8080").is_ok());
        assert!(Target::parse(Kind::Nchan, "http://localhost:8080").is_ok());
        assert!(matches!(
            Target::parse(Kind::Mercure, "http://10.0.0.1:3000"),
            Err(TargetError::NotLoopback(_))
        ));
        assert!(matches!(
            Target::parse(Kind::Mercure, "http://example.com:80"),
            Err(TargetError::Address(_))
        ));
        assert!(matches!(
            Target::parse(Kind::Mercure, "https://127.0.0.1:443"),
            Err(TargetError::Scheme(_))
        ));
    }
}
