//! MySQL and MariaDB client/server protocol: commands paired with their answers, in order.
//!
//! Feed both directions of one connection in syscall order. Packets are framed by their
//! length; only the payload prefixes needed to read commands, OK, ERR and EOF packets are
//! ever copied (bounded by `max_header_bytes`), rows and column definitions are counted.
//!
//! What is read:
//! - The handshake: the flavour from the greeting's version string ("MariaDB" in it means
//!   MariaDB), the client's capabilities and database from its HandshakeResponse41. The
//!   auth response is stepped over and no auth packet is ever kept: passwords and
//!   scrambles never reach an exchange.
//! - The database in use: from the login, COM_INIT_DB answered OK, COM_CHANGE_USER, and
//!   the schema changes that servers report in OK packets (CLIENT_SESSION_TRACK, which
//!   also covers `USE db` sent as a query).
//! - COM_QUERY (query attributes skipped), COM_STMT_PREPARE / EXECUTE / CLOSE with the
//!   statement ids of each connection (at most 1024, the oldest dropped first, counted),
//!   result sets of both protocols, several per command (SERVER_MORE_RESULTS_EXISTS),
//!   LOCAL INFILE, cursors (COM_STMT_FETCH), with or without CLIENT_DEPRECATE_EOF.
//!
//! Decisions where the wire leaves room:
//! - Exchanges: one per COM_QUERY (several statements in one are one batch) and one per
//!   COM_STMT_EXECUTE, which carries its prepared statement's text. A prepare is reported
//!   only when the server refuses it; bookkeeping commands (ping, init db, statement
//!   reset, ...) are not reported.
//! - `rows`: row packets counted over every result, plus the affected rows of OK packets.
//!   None on error, or when rows went by in uncaptured bytes.
//! - Uncaptured bytes inside a packet are skipped by count. When they hide a header, the
//!   answer goes on unread: it ends at an end packet found at the end of a later read, or
//!   else when the client sends its next command, the stream goes silent for the request
//!   timeout, or the connection closes. It then ends as complete, at the time of its last
//!   bytes, with an unknown row count: clients send a command only after reading the
//!   whole answer, so the end lay in those bytes. (An ERR hidden in them is not seen.)
//! - An answer that makes no sense ends its exchange as `Incomplete::Desync`; answers are
//!   then ignored until the next command.
//! - TLS (the client's SSLRequest), the compressed protocol and binlog streams end the
//!   parsing of the connection: later bytes are ignored, without exchanges.
//! - A connection opened before sonde is found by a command written to port 3306; its
//!   flavour is then unknown and reported as `mysql`, unless the greeting was seen.

mod command;
mod detect;
mod error;
mod framer;
mod handshake;
mod parser;
mod pending;
mod reply;
mod response;
mod session;
mod sql_text;
mod statements;
mod stats;
#[cfg(test)]
mod tests;
mod wire;

pub use detect::{MYSQL_PORT, detect, detect_parser};
pub use error::MysqlError;
pub use parser::MysqlParser;
pub use stats::MysqlStats;

use super::{Chunk, Exchange, ProtocolParser};

impl ProtocolParser for MysqlParser {
    fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>) {
        self.with_scratch(out, |p, done| p.feed(chunk, done));
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        self.with_scratch(out, |p, done| p.expire(now_ns, done));
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        self.with_scratch(out, |p, done| p.close(ts_ns, done));
    }

    fn makes_spans(&self) -> bool {
        self.role() == super::Role::Client
    }
}
