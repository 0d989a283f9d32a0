//! The update: one event a publisher sent, immutable once accepted.
//!
//! An update is encoded to its Server-Sent Events frame exactly once, when it is built, and the
//! frame is a reference-counted [`Bytes`]: every subscriber that receives the update writes a clone
//! of the same buffer, so fan-out costs a pointer copy per subscriber, not an encoding.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

/// The reserved cursor value meaning "before the first event the hub has".
pub const EARLIEST: &str = "earliest";

/// What a publisher (or the hub itself, for presence events) sends to subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateData {
    /// The event id: the publisher's, or one the hub generated (`urn:uuid:` + UUIDv7).
    pub id: String,
    /// The canonical topic first, then the alternate topics.
    pub topics: Vec<String>,
    /// The opaque payload; multi-line data becomes several `data:` lines.
    #[serde(default)]
    pub data: String,
    /// Private updates only reach subscribers whose token grants one of the topics.
    #[serde(default)]
    pub private: bool,
    /// The SSE `event:` field.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub event_type: Option<String>,
    /// The SSE `retry:` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
}

/// An accepted update with its SSE frame, shared by reference between all its subscribers.
#[derive(Debug)]
pub struct Update {
    data: UpdateData,
    frame: Bytes,
}

impl Update {
    /// Builds an update and encodes its frame once.
    pub fn new(data: UpdateData) -> Update {
        let frame = encode_frame(&data);
        Update { data, frame }
    }

    pub fn id(&self) -> &str {
        &self.data.id
    }

    pub fn topics(&self) -> &[String] {
        &self.data.topics
    }

    pub fn is_private(&self) -> bool {
        self.data.private
    }

    /// The fields as published.
    pub fn data(&self) -> &UpdateData {
        &self.data
    }

    /// The encoded SSE event, ready to be written to a subscriber's stream.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// A fresh hub-generated event id. UUIDv7 ids sort by creation time, which keeps logs readable
/// and indexes that key on the id append-mostly.
pub fn generate_id() -> String {
    format!("urn:uuid:{}", uuid::Uuid::now_v7())
}

/// Encodes an update as an SSE event, byte for byte as the reference hub does: optional `event:`
/// and `retry:`, then `id:`, then one `data:` line per line of data (CRLF, CR and LF all split
/// lines, which also stops a publisher from injecting SSE fields through the data), then a blank
/// line.
fn encode_frame(u: &UpdateData) -> Bytes {
    let mut buf = BytesMut::with_capacity(u.data.len() + u.id.len() + 32);
    if let Some(t) = u.event_type.as_deref().filter(|t| !t.is_empty()) {
        buf.put_slice(b"event: ");
        buf.put_slice(t.as_bytes());
        buf.put_u8(b'\n');
    }
    if let Some(r) = u.retry.filter(|r| *r != 0) {
        buf.put_slice(b"retry: ");
        buf.put_slice(r.to_string().as_bytes());
        buf.put_u8(b'\n');
    }
    buf.put_slice(b"id: ");
    buf.put_slice(u.id.as_bytes());
    buf.put_slice(b"\ndata: ");
    let bytes = u.data.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                buf.put_slice(b"\ndata: ");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => buf.put_slice(b"\ndata: "),
            b => buf.put_u8(b),
        }
        i += 1;
    }
    buf.put_slice(b"\n\n");
    buf.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(id: &str, d: &str) -> UpdateData {
        UpdateData {
            id: id.into(),
            topics: vec!["t".into()],
            data: d.into(),
            private: false,
            event_type: None,
            retry: None,
        }
    }

    #[test]
    fn frame_minimal() {
        let u = Update::new(data("a", "hello"));
        assert_eq!(&u.frame()[..], b"id: a\ndata: hello\n\n");
    }

    #[test]
    fn frame_empty_data() {
        let u = Update::new(data("a", ""));
        assert_eq!(&u.frame()[..], b"id: a\ndata: \n\n");
    }

    #[test]
    fn frame_multiline_all_line_endings() {
        let u = Update::new(data("a", "1\r\n2\r3\n4\n"));
        assert_eq!(
            &u.frame()[..],
            b"id: a\ndata: 1\ndata: 2\ndata: 3\ndata: 4\ndata: \n\n"
        );
    }

    #[test]
    fn frame_type_and_retry() {
        let mut d = data("x", "y");
        d.event_type = Some("book".into());
        d.retry = Some(3000);
        let u = Update::new(d);
        assert_eq!(
            &u.frame()[..],
            b"event: book\nretry: 3000\nid: x\ndata: y\n\n"
        );
    }

    #[test]
    fn frame_zero_retry_and_empty_type_omitted() {
        let mut d = data("x", "y");
        d.event_type = Some(String::new());
        d.retry = Some(0);
        assert_eq!(&Update::new(d).frame()[..], b"id: x\ndata: y\n\n");
    }

    #[test]
    fn generated_ids_are_urn_uuid_v7() {
        let id = generate_id();
        let uuid = id.strip_prefix("urn:uuid:").map(uuid::Uuid::parse_str);
        assert!(matches!(uuid, Some(Ok(u)) if u.get_version_num() == 7));
    }
}
