//! The update payload: `<sequence> <send time in ns since the UNIX epoch>[ <padding>]`.
//!
//! The send time is CLOCK_REALTIME read by the publisher just before it writes the request; the
//! subscriber reads the same clock when the bytes arrive. Publisher and subscribers are on the
//! same machine, so the difference is the publish-to-receive latency without clock skew.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the UNIX epoch (CLOCK_REALTIME).
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Encodes a payload, padded with `x` to at least `size` bytes.
pub fn encode(seq: u64, sent_ns: u64, size: usize) -> String {
    let mut s = format!("{seq} {sent_ns}");
    if s.len() + 1 < size {
        s.push(' ');
        s.extend(std::iter::repeat_n('x', size - s.len()));
    }
    s
}

/// Decodes `(seq, sent_ns)`; `None` for anything else.
pub fn decode(data: &[u8]) -> Option<(u64, u64)> {
    let mut parts = data.split(|b| *b == b' ');
    let seq = parse_u64(parts.next()?)?;
    let sent = parse_u64(parts.next()?)?;
    Some((seq, sent))
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = encode(42, 1_700_000_000_123_456_789, 64);
        assert_eq!(p.len(), 64);
        assert_eq!(decode(p.as_bytes()), Some((42, 1_700_000_000_123_456_789)));
        assert_eq!(decode(b"7 9"), Some((7, 9)));
        assert_eq!(decode(b"7"), None);
        assert_eq!(decode(b"x 9"), None);
        assert_eq!(decode(b"99999999999999999999 1"), None);
    }
}
