//! How an update is stored in a stream entry, and how entry ids map onto [`Position`]s.
//!
//! An entry has two fields: `encoding` (`json` or `msgpack`) and `update` (the update in that
//! encoding). JSON is the default so that any system can read the stream; the document has the
//! fields of [`UpdateData`]: `id`, `topics`, `data`, `private`, and `type` / `retry` when set.
//! `msgpack` (the `gob` option) is a MessagePack array `[id, topics, data, private, type,
//! retry]` (nil for an absent `type` / `retry`). Decoding follows the entry's own field, so a
//! stream written by nodes with different settings reads fine.

use std::sync::Arc;

use quicksilver_hub::{Position, TransportError, Update, UpdateData};
use redis::Value;
use serde::{Deserialize, Serialize};

use crate::options::Encoding;

/// The entry field naming the encoding.
pub const FIELD_ENCODING: &str = "encoding";
/// The entry field holding the encoded update.
pub const FIELD_UPDATE: &str = "update";

/// The MessagePack form: positional, so no field names are stored.
#[derive(Serialize, Deserialize)]
struct Compact {
    id: String,
    topics: Vec<String>,
    data: String,
    private: bool,
    event_type: Option<String>,
    retry: Option<u64>,
}

/// Encodes an update for the `update` field.
pub fn encode(update: &UpdateData, encoding: Encoding) -> Result<Vec<u8>, TransportError> {
    match encoding {
        Encoding::Json => serde_json::to_vec(update)
            .map_err(|e| TransportError::Backend(format!("encoding an update as JSON: {e}"))),
        Encoding::MessagePack => rmp_serde::to_vec(&Compact {
            id: update.id.clone(),
            topics: update.topics.clone(),
            data: update.data.clone(),
            private: update.private,
            event_type: update.event_type.clone(),
            retry: update.retry,
        })
        .map_err(|e| TransportError::Backend(format!("encoding an update as MessagePack: {e}"))),
    }
}

/// Decodes the `update` field given the entry's `encoding` field (absent: JSON).
pub fn decode(encoding: Option<&[u8]>, bytes: &[u8]) -> Result<UpdateData, String> {
    match encoding {
        None | Some(b"json") => {
            serde_json::from_slice(bytes).map_err(|e| format!("invalid JSON update: {e}"))
        }
        Some(b"msgpack") => rmp_serde::from_slice::<Compact>(bytes)
            .map(|c| UpdateData {
                id: c.id,
                topics: c.topics,
                data: c.data,
                private: c.private,
                event_type: c.event_type,
                retry: c.retry,
            })
            .map_err(|e| format!("invalid MessagePack update: {e}")),
        Some(other) => Err(format!(
            "unknown encoding {:?} (expected json or msgpack)",
            String::from_utf8_lossy(other)
        )),
    }
}

/// Decodes a stream entry's fields (as read with XRANGE / XREAD) into an update.
pub fn decode_fields(
    fields: &std::collections::HashMap<String, Value>,
) -> Result<Arc<Update>, String> {
    let encoding = match fields.get(FIELD_ENCODING) {
        None => None,
        Some(Value::BulkString(b)) => Some(b.as_slice()),
        Some(Value::SimpleString(s)) => Some(s.as_bytes()),
        Some(other) => return Err(format!("unexpected {FIELD_ENCODING} field {other:?}")),
    };
    let bytes = match fields.get(FIELD_UPDATE) {
        Some(Value::BulkString(b)) => b.as_slice(),
        Some(Value::SimpleString(s)) => s.as_bytes(),
        Some(other) => return Err(format!("unexpected {FIELD_UPDATE} field {other:?}")),
        None => return Err(format!("no {FIELD_UPDATE} field")),
    };
    let data = decode(encoding, bytes)?;
    if data.id.is_empty() {
        return Err("the update has no id".into());
    }
    Ok(Arc::new(Update::new(data)))
}

/// A stream entry id `ms-seq` as a position: `(ms << 64) | seq`, so positions order like ids.
pub fn entry_position(id: &str) -> Option<Position> {
    let (ms, seq) = id.split_once('-')?;
    let ms: u64 = ms.parse().ok()?;
    let seq: u64 = seq.parse().ok()?;
    Some(Position((u128::from(ms) << 64) | u128::from(seq)))
}

/// The entry id of a position.
pub fn position_entry(p: Position) -> String {
    format!("{}-{}", p.0 >> 64, p.0 as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UpdateData {
        UpdateData {
            id: "urn:uuid:1".into(),
            topics: vec!["https://e/1".into(), "https://e/alt".into()],
            data: "line 1\nline 2".into(),
            private: true,
            event_type: Some("ping".into()),
            retry: Some(1500),
        }
    }

    #[test]
    fn json_schema_is_the_documented_one() {
        let bytes = encode(&sample(), Encoding::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "urn:uuid:1",
                "topics": ["https://e/1", "https://e/alt"],
                "data": "line 1\nline 2",
                "private": true,
                "type": "ping",
                "retry": 1500
            })
        );
        assert_eq!(decode(Some(b"json"), &bytes).unwrap(), sample());
        assert_eq!(decode(None, &bytes).unwrap(), sample());
        // Written by another system: optional fields may be absent.
        let minimal = br#"{"id":"x","topics":["t"]}"#;
        let d = decode(None, minimal).unwrap();
        assert_eq!((d.data.as_str(), d.private, d.retry), ("", false, None));
    }

    #[test]
    fn msgpack_round_trips_and_is_smaller() {
        for mut u in [
            sample(),
            UpdateData {
                retry: None,
                ..sample()
            },
        ] {
            let bytes = encode(&u, Encoding::MessagePack).unwrap();
            assert!(bytes.len() < encode(&u, Encoding::Json).unwrap().len());
            assert_eq!(decode(Some(b"msgpack"), &bytes).unwrap(), u);
            u.event_type = None;
            let bytes = encode(&u, Encoding::MessagePack).unwrap();
            assert_eq!(decode(Some(b"msgpack"), &bytes).unwrap(), u);
        }
    }

    #[test]
    fn bad_entries_are_errors_not_panics() {
        assert!(
            decode(Some(b"gob"), b"x")
                .unwrap_err()
                .contains("unknown encoding")
        );
        assert!(decode(Some(b"msgpack"), b"\xc1").is_err());
        assert!(decode(None, b"{").is_err());
        let mut fields = std::collections::HashMap::new();
        assert!(
            decode_fields(&fields)
                .unwrap_err()
                .contains("no update field")
        );
        fields.insert(FIELD_UPDATE.to_string(), Value::Int(3));
        assert!(decode_fields(&fields).is_err());
        fields.insert(
            FIELD_UPDATE.to_string(),
            Value::BulkString(br#"{"id":"","topics":[]}"#.to_vec()),
        );
        assert!(decode_fields(&fields).unwrap_err().contains("no id"));
    }

    #[test]
    fn positions_order_like_entry_ids() {
        let a = entry_position("1700000000000-5").unwrap();
        let b = entry_position("1700000000000-12").unwrap();
        let c = entry_position("1700000000001-0").unwrap();
        assert!(a < b && b < c);
        assert_eq!(position_entry(b), "1700000000000-12");
        assert_eq!(position_entry(Position::START), "0-0");
        assert_eq!(
            entry_position("18446744073709551615-18446744073709551615")
                .map(position_entry)
                .as_deref(),
            Some("18446744073709551615-18446744073709551615")
        );
        for bad in ["", "1", "a-1", "1-b", "-1-2"] {
            assert_eq!(entry_position(bad), None, "{bad}");
        }
    }
}
