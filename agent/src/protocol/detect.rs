//! Which protocol a connection speaks, from its first captured bytes (and its ports, to break
//! ties between protocols whose first bytes look alike).

use super::{Chunk, ParserLimits, StreamParser, http, mysql, postgres, redis};
use crate::conn::ConnInfo;

/// Picks a parser if the chunk starts a message of a known protocol.
pub fn detect(
    chunk: &Chunk<'_>,
    info: Option<&ConnInfo>,
    limits: ParserLimits,
) -> Option<StreamParser> {
    if chunk.data.is_empty() {
        return None;
    }
    if http::detect(chunk.data).is_some() {
        return Some(Box::new(http::HttpParser::new(limits)));
    }
    let ports = info.map(|i| (i.local.port(), i.peer.port()));
    if let Some(p) = postgres::detect(chunk, ports, limits) {
        return Some(p);
    }
    if let Some(p) = mysql::detect(chunk, ports, limits) {
        return Some(p);
    }
    redis::detect(chunk, ports, limits)
}
