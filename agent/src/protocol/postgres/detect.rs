//! Whether a connection speaks PostgreSQL, from the first chunk sonde sees of it.
//!
//! - At its start: a start-up packet written or read whole (StartupMessage with a `user`,
//!   SSLRequest, GSSENCRequest, CancelRequest), on any port.
//! - Already open when sonde started: on any port, a chunk that is exactly a run of complete,
//!   well-formed frontend messages ending a batch (Query, or ... Sync / Flush), or of backend
//!   messages ending with ReadyForQuery. A Query longer than the capture passes when what
//!   was captured of it reads as SQL and its length ends exactly where the write ended. On
//!   port 5432 (either end), one message with a valid type and a fitting length is enough.

use super::parser::{Opening, PostgresParser};
use super::startup::{self, Packet};
use super::wire::{DEFAULT_PORT, MAX_STARTUP_LEN, Side, be_u32, length_fits};
use super::{backend, frontend};
use crate::protocol::{Chunk, Direction, ParserLimits, StreamParser};

/// A parser when `chunk` starts a PostgreSQL conversation. `ports` is (local, peer) when known.
pub fn detect(
    chunk: &Chunk<'_>,
    ports: Option<(u16, u16)>,
    limits: ParserLimits,
) -> Option<StreamParser> {
    let (frontend, opening) = classify(chunk, ports)?;
    Some(Box::new(PostgresParser::new(limits, frontend, opening)))
}

/// The direction of the client's messages and where the conversation stands.
pub fn classify(chunk: &Chunk<'_>, ports: Option<(u16, u16)>) -> Option<(Direction, Opening)> {
    let data = chunk.data;
    if data.is_empty() {
        return None;
    }
    if !chunk.is_truncated() && is_startup_packet(data) {
        return Some((chunk.direction, Opening::Startup));
    }
    let on_default_port = ports.is_some_and(|(l, p)| l == DEFAULT_PORT || p == DEFAULT_PORT);
    if message_run(Side::Frontend, data, chunk.len, on_default_port) {
        return Some((chunk.direction, Opening::MidStream));
    }
    if message_run(Side::Backend, data, chunk.len, on_default_port) {
        let frontend = match chunk.direction {
            Direction::Ingress => Direction::Egress,
            Direction::Egress => Direction::Ingress,
        };
        return Some((frontend, Opening::MidStream));
    }
    None
}

/// One whole start-up packet, and nothing else.
fn is_startup_packet(data: &[u8]) -> bool {
    let Some(len) = be_u32(data) else {
        return false;
    };
    if len as usize != data.len() || !(8..=MAX_STARTUP_LEN).contains(&len) {
        return false;
    }
    match startup::classify(&data[4..]) {
        Packet::SslRequest | Packet::GssEncRequest => len == 8,
        Packet::CancelRequest => len == 16,
        Packet::Start { params } => startup::params_are_valid(params),
        Packet::Unknown => false,
    }
}

/// Whether `data`, the captured start of a `total`-byte chunk, is a run of `side` messages:
/// strictly (whole, valid messages filling the chunk and ending a batch) or, on the default
/// port, loosely (the first one plausible).
fn message_run(side: Side, data: &[u8], total: u32, loose: bool) -> bool {
    let mut rest = data;
    let mut last = None;
    while !rest.is_empty() {
        let (Some(&tag), Some(len)) = (rest.first(), rest.get(1..).and_then(be_u32)) else {
            return loose && last.is_some();
        };
        if !length_fits(side, tag, len) || (side == Side::Frontend && tag == b'p') {
            return false;
        }
        let Some(body) = rest.get(5..len as usize + 1) else {
            // The message goes on past what was captured.
            let consumed = (data.len() - rest.len()) as u64;
            return loose
                || is_cut_query(
                    side,
                    tag,
                    &rest[5.min(rest.len())..],
                    consumed + u64::from(len) + 1 == u64::from(total),
                );
        };
        let valid = match side {
            Side::Frontend => frontend::body_is_valid(tag, body),
            Side::Backend => backend::body_is_valid(tag, body),
        };
        if !valid {
            return false;
        }
        if loose {
            return true;
        }
        last = Some(tag);
        rest = &rest[len as usize + 1..];
    }
    data.len() == total as usize
        && match side {
            Side::Frontend => matches!(last, Some(b'Q' | b'S' | b'H')),
            Side::Backend => last == Some(b'Z'),
        }
}

/// A Query cut by the capture: its length ends the write exactly, and what was captured of
/// its text reads as the start of a statement.
fn is_cut_query(side: Side, tag: u8, captured_body: &[u8], ends_the_write: bool) -> bool {
    side == Side::Frontend
        && tag == b'Q'
        && ends_the_write
        && !captured_body.contains(&0)
        && frontend::starts_like_sql(captured_body)
}
