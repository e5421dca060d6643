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
    fn server_in_flight(&self) -> Option<InFlight<'_>> {
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
        self.with_scratch(out, Exchange::Http, |p, done| p.feed(chunk, done));
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        self.with_scratch(out, Exchange::Http, |p, done| p.expire(now_ns, done));
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        self.with_scratch(out, Exchange::Http, |p, done| p.close(ts_ns, done));
    }

    fn server_in_flight(&self) -> Option<InFlight<'_>> {
        http::HttpParser::server_in_flight(self)
    }
}
