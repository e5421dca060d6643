//! Why the parser lost sync with a stream. These never escape `feed`: the parser recovers by
//! itself, marks the exchanges concerned `Incomplete::Desync`, and keeps the last one for its
//! counters.

/// A reason to give up on the current message of one direction and resynchronise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("bytes that cannot start an HTTP/1.x head")]
    NotHttp,
    #[error("malformed head: {0}")]
    MalformedHead(httparse::Error),
    #[error("head longer than the {limit}-byte limit")]
    HeadTooLarge { limit: usize },
    #[error("invalid or conflicting Content-Length")]
    BadContentLength,
    #[error("request with a Transfer-Encoding whose last coding is not chunked")]
    BadTransferEncoding,
    #[error("malformed chunked body framing")]
    BadChunkedFraming,
    #[error("bytes not captured where a head was expected")]
    GapInHead,
    #[error("bytes not captured inside chunked framing")]
    GapInChunkedFraming,
}
