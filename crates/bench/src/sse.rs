//! An incremental Server-Sent Events parser that yields the `data` of each event.
//!
//! Both servers speak standard `text/event-stream`: Quicksilver sends `id:` and `data:` lines
//! and `:` heartbeat comments; nchan (`nchan_subscriber eventsource`) sends a `: hi` comment on
//! connect, then `id: <time>:<tag>` and `data:` lines, and blank-ish `:` pings. So one parser
//! serves both: comments and other fields are skipped, `data:` lines are joined with `\n`, and
//! a blank line dispatches the event. Lines end with LF, CRLF or CR-less LF as the spec allows
//! (a lone CR is not supported: neither server sends one).

/// The longest line accepted, so a broken server cannot make the client buffer without bound.
pub const MAX_LINE: usize = 1 << 20;

/// A line longer than [`MAX_LINE`].
#[derive(Debug, thiserror::Error)]
#[error("SSE line longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

/// Parser state carried between reads.
#[derive(Debug, Default)]
pub struct SseParser {
    /// An incomplete line from the previous read.
    partial: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
}

impl SseParser {
    /// Feeds bytes of the stream; calls `on_event` with the data of each complete event.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        on_event: &mut impl FnMut(&[u8]),
    ) -> Result<(), LineTooLong> {
        while let Some(p) = input.iter().position(|b| *b == b'\n') {
            if self.partial.is_empty() {
                self.line(&input[..p], on_event);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&input[..p]);
                self.line(&line, on_event);
                line.clear();
                // Keeps the allocation for the next partial line.
                self.partial = line;
            }
            input = &input[p + 1..];
        }
        if self.partial.len() + input.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        self.partial.extend_from_slice(input);
        Ok(())
    }

    fn line(&mut self, line: &[u8], on_event: &mut impl FnMut(&[u8])) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.has_data {
                on_event(&self.data);
                self.data.clear();
                self.has_data = false;
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(wire: &[u8], split: usize) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        let mut push = |d: &[u8]| out.push(String::from_utf8_lossy(d).into_owned());
        p.feed(&wire[..split], &mut push).unwrap();
        p.feed(&wire[split..], &mut push).unwrap();
        out
    }

    #[test]
    fn mercure_and_nchan_framing() {
        let mercure = b":\nid: urn:uuid:1\ndata: 1 2\n\n:\n\nid: x\ndata: a\ndata: b\n\n";
        let nchan = b": hi\n\nid: 1700000000:0\r\ndata: 1 2\r\n\r\n: ping\r\n\r\n";
        for split in 0..mercure.len() {
            assert_eq!(events(mercure, split), ["1 2", "a\nb"]);
        }
        for split in 0..nchan.len() {
            assert_eq!(events(nchan, split), ["1 2"]);
        }
    }
}
