//! Message body framing (RFC 9112 section 6.3). httparse parses heads only, so the framing
//! after a head is written here: a known length, the chunked coding, or "until the connection
//! closes". Bodies are counted and skipped, never copied.

use super::chunked::{ChunkedDecoder, Progress};
use super::error::HttpError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    /// Content-Length: this many bytes are left.
    Length {
        remaining: u64,
    },
    Chunked(ChunkedDecoder),
    /// A response without length or chunking: everything until the connection closes.
    UntilClose,
}

impl Body {
    /// Consumes captured bytes, stopping right after the end of the body.
    pub(super) fn advance(&mut self, data: &[u8]) -> Result<Progress, HttpError> {
        match self {
            Body::Length { remaining } => Ok(take_length(remaining, data.len() as u64)),
            Body::Chunked(decoder) => decoder.advance(data),
            Body::UntilClose => Ok(Progress {
                consumed: data.len() as u64,
                payload: data.len() as u64,
                done: false,
            }),
        }
    }

    /// Skips up to `gap` bytes that were not captured; `consumed` says how many belonged to
    /// the body. Fails when the gap hides framing that cannot be skipped by count.
    pub(super) fn skip(&mut self, gap: u64) -> Result<Progress, HttpError> {
        match self {
            Body::Length { remaining } => Ok(take_length(remaining, gap)),
            Body::Chunked(decoder) => decoder.skip(gap),
            Body::UntilClose => Ok(Progress {
                consumed: gap,
                payload: gap,
                done: false,
            }),
        }
    }
}

fn take_length(remaining: &mut u64, available: u64) -> Progress {
    let n = (*remaining).min(available);
    *remaining -= n;
    Progress {
        consumed: n,
        payload: n,
        done: *remaining == 0,
    }
}
