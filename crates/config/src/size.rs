//! Byte sizes in the syntax of the reference's `max_request_body_size` (go-humanize's
//! `ParseBytes`), so that a value written for the reference means the same here.
//!
//! The grammar: a number made of ASCII digits, `.` and `,` (commas are thousands
//! separators and dropped; a fraction is allowed and the result truncated to whole bytes),
//! then optional spaces and an optional unit, case-insensitive: `B`; decimal `K`/`KB`,
//! `M`/`MB`, `G`/`GB`, `T`/`TB`, `P`/`PB`, `E`/`EB` (powers of 1000); binary `Ki`/`KiB`,
//! `Mi`/`MiB`... `Ei`/`EiB` (powers of 1024). A sign is not part of the grammar, so
//! negative sizes are refused.

/// Largest accepted size: the reference stores it in a Go `int64`.
const MAX_SIZE: f64 = i64::MAX as f64;

const EXAMPLES: &str = "1MiB, 512KB or 1048576 (bytes)";

/// Parses a byte size such as `1MiB`, `512KB`, `1.5 MB`, `1,000,000` or `1048576`.
pub(crate) fn parse_size(input: &str) -> Result<u64, String> {
    let number_len = input
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(input.len());
    let (number, unit) = input.split_at(number_len);
    let number: String = number.chars().filter(|&c| c != ',').collect();
    // Rust's float syntax is wider than digits-and-dots ("inf", "1e3"), but only digits and
    // dots reach this point, where the two grammars agree (".5" and "5." included).
    let value: f64 = number
        .parse()
        .map_err(|_| format!("expected a size such as {EXAMPLES}, got {input:?}"))?;
    let unit = unit.trim().to_ascii_lowercase();
    let Some(multiplier) = multiplier(&unit) else {
        return Err(format!(
            "unknown size unit {unit:?} in {input:?}; expected B, KB, KiB, MB, MiB, GB, GiB... \
             (case-insensitive), e.g. {EXAMPLES}"
        ));
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes > MAX_SIZE {
        return Err(format!("{input:?} is too large"));
    }
    // Truncation is intended: "1.5KiB" is 1536 bytes, "0.5B" is 0.
    Ok(bytes as u64)
}

fn multiplier(unit: &str) -> Option<f64> {
    let (prefix, binary) = match unit.strip_suffix('b') {
        // "b" alone, or "kb"/"kib"...
        Some(rest) => match rest.strip_suffix('i') {
            Some(prefix) => (prefix, true),
            None => (rest, false),
        },
        // "k"/"ki"...
        None => match unit.strip_suffix('i') {
            Some(prefix) => (prefix, true),
            None => (unit, false),
        },
    };
    let power = match prefix {
        "" if !binary => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        "e" => 6,
        _ => return None,
    };
    let base: f64 = if binary { 1024.0 } else { 1000.0 };
    Some(base.powi(power))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (input, expected) in [
            ("0", 0),
            ("1048576", 1_048_576),
            ("1MiB", 1_048_576),
            ("1mib", 1_048_576),
            ("1Mi", 1_048_576),
            ("1MB", 1_000_000),
            ("1M", 1_000_000),
            ("512KB", 512_000),
            ("512KiB", 524_288),
            ("512k", 512_000),
            ("10B", 10),
            ("10b", 10),
            ("1.5KiB", 1536),
            ("1.5 MB", 1_500_000),
            (".5KB", 500),
            ("5.", 5),
            ("1,000,000", 1_000_000),
            ("1GiB", 1 << 30),
            ("2TB", 2_000_000_000_000),
            ("1PiB", 1 << 50),
            ("1EB", 1_000_000_000_000_000_000),
            ("0.4B", 0),
            ("3 ", 3),
        ] {
            assert_eq!(parse_size(input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn bad_sizes() {
        for (input, needle) in [
            ("", "expected a size"),
            ("MiB", "expected a size"),
            ("-1", "expected a size"),
            ("+1", "expected a size"),
            (" 1MB", "expected a size"),
            ("1.2.3", "expected a size"),
            (".", "expected a size"),
            ("1e3", "unknown size unit \"e3\""),
            ("1 xb", "unknown size unit \"xb\""),
            ("1i", "unknown size unit \"i\""),
            ("1ib", "unknown size unit \"ib\""),
            ("1KiBs", "unknown size unit"),
            ("1 MB MB", "unknown size unit"),
            ("16EiB", "too large"),
            ("9300000000000000000", "too large"),
        ] {
            match parse_size(input) {
                Ok(v) => panic!("{input:?} should be refused, got {v}"),
                Err(e) => assert!(e.contains(needle), "{input:?}: {e}"),
            }
        }
    }
}
