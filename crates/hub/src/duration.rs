//! Durations in the syntax of the reference hub's configuration, shared by the configuration
//! and the transports' options so that every duration a user writes means the same thing.
//!
//! The reference parses its durations (`heartbeat`, `write_timeout`, `dispatch_timeout`...) with
//! Caddy's `ParseDuration`, which is Go's `time.ParseDuration` plus a `d` (24 h) unit.
//! humantime accepts a different language (spaces, `min`, `sec`, no fractions...), so
//! configurations written for the reference would not parse the same way; hence this small
//! parser with Go's exact grammar: an optional sign, then one or more `<number><unit>` pairs
//! where the number may have a fraction (`1.5h`, `.5s`) and the unit is one of `ns`, `us`, `µs`,
//! `μs`, `ms`, `s`, `m`, `h`, `d`; the lone string `0` needs no unit. [`format_duration`] writes
//! one back in the same syntax, for start-up logs and messages.

use std::time::Duration;

const NANOS_PER_UNIT: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // µ MICRO SIGN, accepted by Go
    ("\u{3bc}s", 1_000), // μ GREEK SMALL LETTER MU, accepted by Go
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    ("d", 86_400 * 1_000_000_000),
];

/// Fraction digits beyond this are ignored: they are below a nanosecond for every unit and
/// keeping them could overflow the intermediate product.
const MAX_FRACTION_DIGITS: u32 = 18;

/// Go's `time.Duration` is an `i64` of nanoseconds; longer values are an error there too.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go/Caddy duration such as `40s`, `1m30s`, `1h2m3.5s`, `500ms`, `2d` or `0`.
///
/// Negative durations are refused (Go accepts them, but every duration setting of the hub
/// uses `0` to mean "disabled" and a negative one would be a mistake).
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let (negative, body) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    let nanos = if body == "0" {
        0
    } else {
        parse_components(body).ok_or_else(|| {
            format!("expected a duration such as 40s, 1m30s or 500ms, got {input:?}")
        })??
    };
    if negative && nanos != 0 {
        return Err(format!(
            "negative durations are not allowed, got {input:?} (use 0 to disable)"
        ));
    }
    // MAX_NANOS fits in u64, so this conversion cannot fail after the check in
    // parse_components; the fallback only keeps us panic-free.
    Ok(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// Returns `None` for a syntax error (the caller words the message) and `Some(Err)` for a
/// well-formed but unusable value.
fn parse_components(mut s: &str) -> Option<Result<u128, String>> {
    if s.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_digits = &s[..int_len];
        s = &s[int_len..];
        let mut frac_digits = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_digits = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return None;
        }
        let unit_len = s
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(s.len(), |(i, _)| i);
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Some(Err(format!(
                "missing unit in duration {:?}: write e.g. {}s",
                format!("{int_digits}{}", dotted(frac_digits)),
                if int_digits.is_empty() {
                    "0"
                } else {
                    int_digits
                }
            )));
        }
        let Some(&(_, per_unit)) = NANOS_PER_UNIT.iter().find(|(u, _)| *u == unit) else {
            return Some(Err(format!(
                "unknown unit {unit:?} in duration; valid units are ns, us, ms, s, m, h and d"
            )));
        };
        let mut value: u128 = 0;
        for b in int_digits.bytes() {
            value = value * 10 + u128::from(b - b'0');
            if value > MAX_NANOS {
                return Some(Err(too_long()));
            }
        }
        let mut nanos = value * per_unit;
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        for b in frac_digits.bytes().take(MAX_FRACTION_DIGITS as usize) {
            frac = frac * 10 + u128::from(b - b'0');
            scale *= 10;
        }
        nanos += frac * per_unit / scale;
        total += nanos;
        if total > MAX_NANOS {
            return Some(Err(too_long()));
        }
    }
    Some(Ok(total))
}

fn dotted(frac: &str) -> String {
    if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    }
}

fn too_long() -> String {
    "duration too long (the maximum is about 292 years)".to_owned()
}

/// Writes `d` in the largest unit that divides it exactly, from days down to milliseconds
/// (`7d`, `36h`, `90m`, `45s`, `1500ms`): the shortest form [`parse_duration`] reads back as the
/// same value, for start-up logs and messages. Below a millisecond is not shown (no setting
/// uses such precision).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= per && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        match parse_duration(s) {
            Ok(d) => d,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    #[test]
    fn go_syntax() {
        assert_eq!(ok("40s"), Duration::from_secs(40));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1h2m3.5s"), Duration::from_millis(3_723_500));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("3ns"), Duration::from_nanos(3));
        assert_eq!(ok("3us"), Duration::from_micros(3));
        assert_eq!(ok("3µs"), Duration::from_micros(3));
        assert_eq!(ok("3μs"), Duration::from_micros(3));
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("1h1h"), Duration::from_secs(7200));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
    }

    #[test]
    fn caddy_days() {
        assert_eq!(ok("1d"), Duration::from_secs(86_400));
        assert_eq!(ok("1.5d"), Duration::from_secs(129_600));
        assert_eq!(ok("1d12h"), Duration::from_secs(129_600));
    }

    #[test]
    fn zero() {
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("-0"), Duration::ZERO);
        assert_eq!(ok("0ms"), Duration::ZERO);
    }

    #[test]
    fn refused() {
        for bad in [
            "", "abc", "40", "1.5", "s", ".s", "1x", "1S", "-5s", "1h-2m", "1 s", " 1s", "1s ",
            "--1s", "5m.", "1..5s", "+", "h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let e = parse_duration("-5s").unwrap_err();
        assert!(e.contains("negative"), "{e}");
        let e = parse_duration("40").unwrap_err();
        assert!(e.contains("missing unit"), "{e}");
        let e = parse_duration("abc").unwrap_err();
        assert!(e.contains("such as 40s"), "{e}");
    }

    #[test]
    fn overflow() {
        assert!(parse_duration("2562047h").is_ok());
        assert!(parse_duration("2562048h").is_err());
        assert!(parse_duration("99999999999999999999999999999999999999999s").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        // What it writes reads back as the same value.
        for d in [
            Duration::from_secs(86_400),
            Duration::from_secs(90),
            Duration::from_millis(2500),
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
