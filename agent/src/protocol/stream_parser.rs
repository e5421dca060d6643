//! One trait that every protocol parser implements, so the connection table treats them
//! alike: feed chunks, collect exchanges, expire, close.

use super::{Chunk, Exchange, InFlight, http};

pub trait ProtocolParser: Send {
    /// Feeds one chunk; appends every exchange that completes to `out`.
    fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>);
    /// Ends requests that waited longer than the request timeout, freeing their state.
    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>);
    /// The connection closed: flush what is pending.
    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>);
    /// For server-side connections: the request being served now (for parent links).
    fn server_in_flight(&self) -> Option<InFlight> {
        None
    }
    /// False when no span can ever come of this connection: the server side of a database
    /// protocol (only clients make database spans). The agent then stops its capture.
    fn makes_spans(&self) -> bool {
        true
    }
}

/// The parser of one connection.
pub type StreamParser = Box<dyn ProtocolParser>;

impl ProtocolParser for http::HttpParser {
    fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>) {
        let mut done = Vec::new();
        http::HttpParser::feed(self, chunk, &mut done);
        out.extend(done.into_iter().map(Exchange::Http));
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        let mut done = Vec::new();
        http::HttpParser::expire(self, now_ns, &mut done);
        out.extend(done.into_iter().map(Exchange::Http));
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        let mut done = Vec::new();
        http::HttpParser::close(self, ts_ns, &mut done);
        out.extend(done.into_iter().map(Exchange::Http));
    }

    fn server_in_flight(&self) -> Option<InFlight> {
        http::HttpParser::server_in_flight(self)
    }
}
