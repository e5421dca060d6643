//! HTTP/1.x: request and response heads by httparse, body framing by hand (httparse parses
//! heads only), requests paired with responses in order.
//!
//! Feed both directions of one connection in syscall order with [`HttpParser::feed`]. The
//! parser copies nothing but unfinished heads (bounded by `max_header_bytes` per direction)
//! and the few header values an exchange keeps; bodies are counted, never copied.
//!
//! Decisions where the wire leaves room:
//! - A head longer than `max_header_bytes`, or cut by bytes that were not captured, is not
//!   parsed. If its request line arrived, the request still waits for its response, which
//!   is matched to it, and the exchange ends as `Incomplete::Desync`. The direction then
//!   resynchronises at the next chunk that starts like a head.
//! - Lost sync on the response side ends every waiting request as `Desync`, since the next
//!   response seen can no longer be matched to the right one.
//! - An exchange is reported when its response ends; request body bytes still in flight then
//!   are not counted. Body byte counts are payload bytes (chunked framing excluded), gaps
//!   included.
//! - 101 Switching Protocols and a 2xx answer to CONNECT end HTTP on the connection: that
//!   exchange is reported, requests behind it are dropped (counted), later bytes ignored.
//! - The timeout counts from the request, then from the latest response bytes: a slow
//!   download that keeps arriving is not cut, a stalled one is.
//! - A response seen before any request (capture started mid-connection) is framed and
//!   skipped, and counted; only a request fixes the role.
//! - When `max_pending` requests wait, the oldest ends as `Desync` to make room.

mod body;
mod chunked;
mod detect;
mod error;
mod head;
mod head_buffer;
mod parser;
mod pending;
mod stream;
#[cfg(test)]
mod tests;

pub use detect::detect;
pub use error::HttpError;
pub use parser::{HttpParser, HttpStats};

use super::{Incomplete, Role};

/// A request and its response (or why the response is missing).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpExchange {
    /// Server if the process read the request (Ingress), Client if it wrote it (Egress).
    pub role: Role,
    pub method: compact_str::CompactString,
    /// The raw request-target, e.g. "/items/1?x=2" or absolute-form.
    pub target: String,
    /// HTTP/1.0 -> 0, HTTP/1.1 -> 1.
    pub version_minor: u8,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    /// The W3C traceparent header, if present.
    pub traceparent: Option<String>,
    /// The final status; `None` when no response arrived.
    pub status: Option<u16>,
    /// Time of the chunk carrying the first byte of the request.
    pub request_start_ns: u64,
    /// Time of the chunk carrying the last byte of the response, or the expire/close time.
    pub response_end_ns: u64,
    /// Thread of the chunk that carried the first byte of the request.
    pub tid: u32,
    pub request_body_bytes: u64,
    pub response_body_bytes: u64,
    pub incomplete: Option<Incomplete>,
}
