//! Protocol parsers. Each one turns the two byte streams of a connection into exchanges
//! (a request paired with its response). They are plain Rust over byte slices: no kernel, no
//! I/O, and never a panic on wire data.

pub mod bounded_fifo;
pub mod db;
pub mod detect;
pub mod http;
pub mod mysql;
pub mod postgres;
pub mod redis;
pub mod sql;
mod stream_parser;

pub use db::{DbError, DbExchange, DbSystem};
pub use stream_parser::{ProtocolParser, StreamParser};

use std::time::Duration;

/// Which side of the connection a chunk travelled, seen from the watched process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The process read these bytes.
    Ingress,
    /// The process wrote these bytes.
    Egress,
}

/// One piece of a connection's stream, as one syscall (or one iovec of it) moved it.
///
/// `data` holds the first bytes of the piece; when `data.len() < len`, the rest was not
/// captured (cut at the capture size, or moved by sendfile) and is a gap of known length.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    pub direction: Direction,
    /// Thread that made the syscall.
    pub tid: u32,
    /// CLOCK_MONOTONIC nanoseconds at syscall exit.
    pub ts_ns: u64,
    /// Bytes really moved.
    pub len: u32,
    /// Captured prefix of those bytes.
    pub data: &'a [u8],
}

impl Chunk<'_> {
    pub fn is_truncated(&self) -> bool {
        self.data.len() < self.len as usize
    }
}

/// Who initiated the exchange, seen from the watched process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The process received the request and wrote the response.
    Server,
    /// The process wrote the request and read the response.
    Client,
}

/// Why an exchange ended without a complete, well-formed response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incomplete {
    /// No response within the request timeout.
    Timeout,
    /// The connection closed before the response ended.
    ConnectionClosed,
    /// The stream lost sync (a gap where headers were expected, or garbage); the parser
    /// resynchronised and this exchange may be missing fields.
    Desync,
}

/// Limits shared by all parsers.
#[derive(Clone, Copy, Debug)]
pub struct ParserLimits {
    /// Longest header block (request line + headers) kept while waiting for its end.
    pub max_header_bytes: usize,
    /// Requests allowed to wait for responses on one connection (pipelining depth).
    pub max_pending: usize,
    /// How long a request waits for its response before it ends as `Incomplete::Timeout`.
    pub request_timeout: Duration,
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_pending: 64,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A finished request/response pair of any protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum Exchange {
    Http(http::HttpExchange),
    Db(DbExchange),
}

impl Exchange {
    pub fn is_incomplete(&self) -> bool {
        match self {
            Exchange::Http(x) => x.incomplete.is_some(),
            Exchange::Db(x) => x.incomplete.is_some(),
        }
    }
}

/// The oldest request a server connection has received and not yet answered. Borrowed from
/// the parser: it is asked for on every read of a server connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight<'a> {
    pub tid: u32,
    pub start_ns: u64,
    pub traceparent: Option<&'a str>,
}
