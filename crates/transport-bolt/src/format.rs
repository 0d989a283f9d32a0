//! How an update is stored: our format, not BoltDB's.
//!
//! A value of the updates table is, for format version 1:
//!
//! ```text
//! byte 0        format version (1)
//! bytes 1..9    time of the append, milliseconds since the Unix epoch, u64 big-endian
//! bytes 9..13   length L of the event id, u32 big-endian
//! bytes 13..13+L  the event id, UTF-8
//! the rest      the update as JSON: {"id":..,"topics":[..],"data":..,"private":..,"type":..,"retry":..}
//! ```
//!
//! The header lets trimming read the time and id of an entry without parsing the JSON; the
//! JSON keeps the file debuggable with any redb tool.

use std::sync::Arc;

use quicksilver_hub::{Update, UpdateData};

use crate::error::BoltError;

const VERSION: u8 = 1;
const HEADER: usize = 13;

/// Encodes an update appended at `millis`.
pub fn encode(update: &Update, millis: u64) -> Result<Vec<u8>, BoltError> {
    let id = update.id().as_bytes();
    let id_len = u32::try_from(id.len())
        .map_err(|_| BoltError::Database("event id longer than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(HEADER + id.len() + update.data().data.len() + 96);
    out.push(VERSION);
    out.extend_from_slice(&millis.to_be_bytes());
    out.extend_from_slice(&id_len.to_be_bytes());
    out.extend_from_slice(id);
    serde_json::to_writer(&mut out, update.data())
        .map_err(|e| BoltError::Database(format!("encoding an update: {e}")))?;
    Ok(out)
}

/// The header of a stored entry: its append time and its id.
pub struct Header<'a> {
    pub millis: u64,
    pub id: &'a str,
    body: &'a [u8],
}

/// Reads the header of the entry stored under `seq`.
pub fn header(seq: u64, value: &[u8]) -> Result<Header<'_>, BoltError> {
    let corrupt = |reason: &str| BoltError::Corrupt {
        seq,
        reason: reason.to_owned(),
    };
    let (&version, rest) = value.split_first().ok_or_else(|| corrupt("empty value"))?;
    if version != VERSION {
        return Err(corrupt(&format!("unknown format version {version}")));
    }
    let (millis, rest) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("truncated header"))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| corrupt("truncated header"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(corrupt("truncated id"));
    }
    let (id, body) = rest.split_at(len);
    let id = std::str::from_utf8(id).map_err(|_| corrupt("id is not UTF-8"))?;
    Ok(Header {
        millis: u64::from_be_bytes(*millis),
        id,
        body,
    })
}

/// Decodes the entry stored under `seq`.
pub fn decode(seq: u64, value: &[u8]) -> Result<Arc<Update>, BoltError> {
    let h = header(seq, value)?;
    let data: UpdateData = serde_json::from_slice(h.body).map_err(|e| BoltError::Corrupt {
        seq,
        reason: format!("invalid update JSON: {e}"),
    })?;
    if data.id != h.id {
        return Err(BoltError::Corrupt {
            seq,
            reason: "the id of the header and of the update differ".into(),
        });
    }
    Ok(Arc::new(Update::new(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let u = Update::new(UpdateData {
            id: "urn:x:1".into(),
            topics: vec!["a".into(), "b".into()],
            data: "hello\nworld".into(),
            private: true,
            event_type: Some("t".into()),
            retry: Some(5),
        });
        let bytes = encode(&u, 42).unwrap();
        let h = header(7, &bytes).unwrap();
        assert_eq!((h.millis, h.id), (42, "urn:x:1"));
        let back = decode(7, &bytes).unwrap();
        assert_eq!(back.data(), u.data());
        assert_eq!(back.frame(), u.frame());
        for garbage in [
            &b""[..],
            b"\x02abc",
            b"\x01\0\0",
            b"\x01\0\0\0\0\0\0\0\0\0\0\0\x09ab",
        ] {
            assert!(matches!(
                decode(3, garbage),
                Err(BoltError::Corrupt { seq: 3, .. })
            ));
        }
        let mut bad_json = bytes.clone();
        bad_json.truncate(bytes.len() - 2);
        assert!(matches!(
            decode(3, &bad_json),
            Err(BoltError::Corrupt { .. })
        ));
    }
}
