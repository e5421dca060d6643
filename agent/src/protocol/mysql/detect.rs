//! Whether a connection speaks MySQL, from the first chunk that says so:
//! - the server's greeting (Handshake v10), read by a client or written by a server;
//! - the greeting's payload alone, when the client read the 4-byte header on its own first
//!   (that read is not fed here; the payload's length is the read's);
//! - on a connection opened before sonde started, a command packet written to port 3306
//!   (or read on it by the server). The flavour is then unknown and taken for MySQL, and
//!   the capabilities are read from the packets where they show.

use super::command::looks_like_command;
use super::handshake::looks_like_greeting;
use super::parser::{MysqlParser, Start};
use super::wire::{HEADER_LEN, Header};
use crate::protocol::{Chunk, Direction, ParserLimits, Role, StreamParser};

/// The port MySQL and MariaDB listen on by default.
pub const MYSQL_PORT: u16 = 3306;
/// Greeting payload lengths accepted (real ones are 70 to 130 bytes).
const GREETING_LEN: std::ops::RangeInclusive<u32> = 20..=1024;

/// A parser when `chunk` starts a MySQL connection (or a command on one opened earlier).
/// `ports` is (local, peer) when known.
pub fn detect(
    chunk: &Chunk<'_>,
    ports: Option<(u16, u16)>,
    limits: ParserLimits,
) -> Option<StreamParser> {
    detect_parser(chunk, ports, limits).map(|p| Box::new(p) as StreamParser)
}

/// As [`detect`], with the concrete parser.
pub fn detect_parser(
    chunk: &Chunk<'_>,
    ports: Option<(u16, u16)>,
    limits: ParserLimits,
) -> Option<MysqlParser> {
    let data = chunk.data;
    // The process that reads the greeting is the client; the one that writes it serves.
    let greeting_role = match chunk.direction {
        Direction::Ingress => Role::Client,
        Direction::Egress => Role::Server,
    };
    if let Some(header) = Header::peek(data)
        && header.seq == 0
        && GREETING_LEN.contains(&header.len)
        && looks_like_greeting(&data[HEADER_LEN..])
    {
        return Some(MysqlParser::new(limits, greeting_role, Start::Greeting));
    }
    if chunk.direction == Direction::Ingress
        && GREETING_LEN.contains(&chunk.len)
        && looks_like_greeting(data)
    {
        let start = Start::GreetingPayload {
            len: chunk.len,
            ts_ns: chunk.ts_ns,
            tid: chunk.tid,
        };
        return Some(MysqlParser::new(limits, Role::Client, start));
    }
    let (local, peer) = ports?;
    let role = match chunk.direction {
        Direction::Egress if peer == MYSQL_PORT => Role::Client,
        Direction::Ingress if local == MYSQL_PORT => Role::Server,
        _ => return None,
    };
    looks_like_command(data, Some(u64::from(chunk.len)))
        .then(|| MysqlParser::new(limits, role, Start::Commands))
}
