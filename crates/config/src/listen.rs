//! `SERVER_NAME` / `server_name`: the reference's Caddy site address, mapped to a plain-HTTP
//! listen address.
//!
//! Caddy decides HTTP vs HTTPS from the address: an `http://` scheme or port 80 means plain
//! HTTP, no host (`:3000`) means plain HTTP, and anything else gets automatic HTTPS. We only
//! serve plain HTTP for now, so we accept the plain-HTTP forms, plus `host:port` (which Caddy
//! would serve over HTTPS with its internal CA; we serve it over HTTP, the common setup behind
//! a TLS-terminating proxy), and refuse clearly what would need TLS.

use std::net::IpAddr;

use crate::config::{Bind, ListenAddr};

const TLS_HINT: &str = "TLS is not supported yet: use http://HOST[:PORT], HOST:PORT or :PORT \
                        (e.g. :80) and terminate TLS in a reverse proxy";

/// Parses a site address. Returns the address and an optional note for the operator.
pub(crate) fn parse_listen(input: &str) -> Result<(ListenAddr, Option<String>), String> {
    let address = input.trim();
    if address.is_empty() {
        return Err("empty address; expected e.g. :3000 or http://example.com:3000".to_owned());
    }
    if address.contains(|c: char| c == ',' || c.is_whitespace()) {
        return Err(format!("only one address is supported, got {address:?}"));
    }
    let (explicit_http, rest) = match address.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => (true, rest),
            "https" => return Err(format!("{address:?} needs HTTPS; {TLS_HINT}")),
            _ => {
                return Err(format!(
                    "unsupported scheme {scheme:?} in {address:?}; expected http:// or no scheme"
                ));
            }
        },
        None => (false, address),
    };
    if rest.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "{address:?} must be a bare address such as :3000 or http://host:port, without path, query or user"
        ));
    }
    let (host, port) = split_host_port(rest).map_err(|e| format!("{e} in {address:?}"))?;
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("invalid port {port:?} in {address:?}; expected 0-65535"))?,
        None if explicit_http => 80,
        // The reference image's default SERVER_NAME: keep it meaning "local development".
        None if host.eq_ignore_ascii_case("localhost") => {
            let listen = ListenAddr::default();
            let note = format!(
                "SERVER_NAME localhost: the reference hub serves HTTPS on port 443 with a local CA \
                 for this address; Quicksilver serves plain HTTP on {} (set e.g. :80 or \
                 http://localhost:8080 to choose)",
                listen.display()
            );
            return Ok((listen, Some(note)));
        }
        None if host.is_empty() => return Err(format!("missing port in {address:?}")),
        None => {
            return Err(format!(
                "{address:?} has no port, so the reference hub would serve it over HTTPS on port 443; {TLS_HINT}"
            ));
        }
    };
    if port == 443 && !explicit_http {
        return Err(format!(
            "port 443 is the HTTPS port, the reference hub would serve {address:?} over HTTPS; {TLS_HINT}"
        ));
    }
    let bind = if host.is_empty() {
        Bind::AllInterfaces
    } else if let Ok(ip) = host.parse::<IpAddr>() {
        Bind::Ip(ip)
    } else if is_hostname(host) {
        Bind::Hostname(host.to_owned())
    } else {
        return Err(format!("invalid host {host:?} in {address:?}"));
    };
    Ok((
        ListenAddr {
            host: host.to_owned(),
            port,
            bind,
        },
        None,
    ))
}

/// Splits `host[:port]` / `[v6][:port]`; the host comes back without brackets.
fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = s.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err("missing ']'".to_owned());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("invalid IPv6 address {host:?}"));
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected {after:?} after ']'")),
            },
        };
    }
    match s.split_once(':') {
        Some((host, port)) if !port.contains(':') => Ok((host, Some(port))),
        Some(_) => Err("IPv6 addresses must be written in brackets, e.g. [::1]:3000".to_owned()),
        None => Ok((s, None)),
    }
}

fn is_hostname(host: &str) -> bool {
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    fn ok(s: &str) -> ListenAddr {
        match parse_listen(s) {
            Ok((listen, _)) => listen,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    #[test]
    fn accepted_forms() {
        let l = ok(":3000");
        assert_eq!(
            (l.host.as_str(), l.port, &l.bind),
            ("", 3000, &Bind::AllInterfaces)
        );
        assert_eq!(l.display(), "http://:3000");
        assert_eq!(
            l.socket_addrs(),
            vec![
                SocketAddr::from((Ipv6Addr::UNSPECIFIED, 3000)),
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 3000))
            ]
        );
        let l = ok(":80");
        assert_eq!((l.port, &l.bind), (80, &Bind::AllInterfaces));
        let l = ok("127.0.0.1:3000");
        assert_eq!(l.bind, Bind::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(
            l.socket_addrs(),
            vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 3000))]
        );
        let l = ok("[::1]:3000");
        assert_eq!(
            (l.host.as_str(), &l.bind),
            ("::1", &Bind::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)))
        );
        assert_eq!(l.display(), "http://[::1]:3000");
        let l = ok("localhost:3000");
        assert_eq!(l.bind, Bind::Hostname("localhost".into()));
        assert!(l.socket_addrs().is_empty());
        assert_eq!(l.display(), "http://localhost:3000");
        let l = ok("http://example.com:8080");
        assert_eq!((l.host.as_str(), l.port), ("example.com", 8080));
        let l = ok("http://example.com");
        assert_eq!(l.port, 80);
        let l = ok("HTTP://[::]");
        assert_eq!(
            (l.port, &l.bind),
            (80, &Bind::Ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)))
        );
        let l = ok("http://:8080");
        assert_eq!(l.bind, Bind::AllInterfaces);
        assert_eq!(ok(":0").port, 0);
        assert_eq!(ok("  :3000 ").port, 3000);
        assert_eq!(ok("http://localhost:443").port, 443);
        // Caddy reads a bare `http://` as "any host, port 80".
        assert_eq!(
            (ok("http://").port, ok("http://").bind),
            (80, Bind::AllInterfaces)
        );
    }

    #[test]
    fn bare_localhost_is_the_dev_default() {
        let (l, note) = parse_listen("localhost").unwrap();
        assert_eq!(l, ListenAddr::default());
        assert_eq!(l.display(), "http://127.0.0.1:3000");
        assert!(
            note.unwrap()
                .contains("plain HTTP on http://127.0.0.1:3000")
        );
    }

    #[test]
    fn refused_forms() {
        for (input, needle) in [
            ("https://example.com", "TLS is not supported yet"),
            ("https://:443", "TLS is not supported yet"),
            ("example.com", "TLS is not supported yet"),
            ("127.0.0.1", "TLS is not supported yet"),
            ("example.com:443", "TLS is not supported yet"),
            (":443", "TLS is not supported yet"),
            ("", "empty address"),
            (":", "invalid port"),
            (":99999", "invalid port"),
            (":http", "invalid port"),
            ("a.com, b.com", "only one address"),
            ("a.com b.com", "only one address"),
            ("ftp://x:21", "unsupported scheme"),
            ("http://x:80/path", "without path"),
            ("::1:3000", "brackets"),
            ("[::1", "missing ']'"),
            ("[nope]:80", "invalid IPv6"),
            ("[::1]x", "after ']'"),
            ("bad!host:80", "invalid host"),
        ] {
            match parse_listen(input) {
                Ok(l) => panic!("{input:?} should be refused, got {l:?}"),
                Err(e) => assert!(e.contains(needle), "{input:?}: {e}"),
            }
        }
    }
}
