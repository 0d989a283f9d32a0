//! The response body type: either a complete buffer or a live SSE stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::subscribe::SseStream;

/// Every response the hub sends.
pub enum HubBody {
    Full(Option<Bytes>),
    Sse(Box<SseStream>),
}

impl HubBody {
    pub fn empty() -> HubBody {
        HubBody::Full(None)
    }

    pub fn text(s: impl Into<Bytes>) -> HubBody {
        let b = s.into();
        if b.is_empty() {
            HubBody::Full(None)
        } else {
            HubBody::Full(Some(b))
        }
    }
}

impl Body for HubBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            HubBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            HubBody::Sse(s) => s.poll_chunk(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, HubBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            HubBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            HubBody::Full(None) => SizeHint::with_exact(0),
            HubBody::Sse(_) => SizeHint::default(),
        }
    }
}
