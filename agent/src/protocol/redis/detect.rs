//! Whether a connection speaks Redis, from the first chunk that carries a command.
//!
//! A command is `*<n>\r\n$<len>\r\n<name>` (an array of bulk strings) or an inline line
//! (`PING\r\n`). Replies are never used to detect: an array of strings read by a client
//! would look like a command read by a server.

use super::commands::{self, MAX_NAME};
use super::parser::RedisParser;
use crate::protocol::{Chunk, Direction, ParserLimits, Role, StreamParser};

const REDIS_PORT: u16 = 6379;
/// Digits of an array count or a name length worth reading here.
const MAX_DIGITS: usize = 10;

/// A parser when `chunk` starts a Redis command. `ports` is (local, peer) when known.
pub fn detect(
    chunk: &Chunk<'_>,
    ports: Option<(u16, u16)>,
    limits: ParserLimits,
) -> Option<StreamParser> {
    let role = role_of(chunk, ports)?;
    Some(Box::new(RedisParser::new(limits, role)))
}

/// The role of the process if this chunk is a command it wrote (client) or read (server).
pub(super) fn role_of(chunk: &Chunk<'_>, ports: Option<(u16, u16)>) -> Option<Role> {
    let role = match chunk.direction {
        Direction::Egress => Role::Client,
        Direction::Ingress => Role::Server,
    };
    // On the Redis port, which end is the server is known: a chunk flowing the other way is
    // a reply, not a command.
    let port_role = match ports {
        Some((REDIS_PORT, peer)) if peer != REDIS_PORT => Some(Role::Server),
        Some((local, REDIS_PORT)) if local != REDIS_PORT => Some(Role::Client),
        _ => None,
    };
    if port_role.is_some_and(|r| r != role) {
        return None;
    }
    let on_redis_port = port_role.is_some();
    let found = match chunk.data.first() {
        Some(b'*') => resp_command(chunk.data, on_redis_port),
        Some(_) => inline_command(chunk.data, on_redis_port),
        None => false,
    };
    found.then_some(role)
}

/// `*<n>\r\n$<len>\r\n<name>\r\n` with a known command name (any name on the Redis port).
fn resp_command(data: &[u8], on_redis_port: bool) -> bool {
    let Some((count, rest)) = number_line(&data[1..]) else {
        return false;
    };
    if count == 0 {
        return false;
    }
    let Some(rest) = rest.strip_prefix(b"$") else {
        // Cut right after the array header: only the port can tell.
        return rest.is_empty() && on_redis_port;
    };
    let Some((len, rest)) = number_line(rest) else {
        return false;
    };
    let len = len as usize;
    if len == 0 || len > MAX_NAME {
        return false;
    }
    match rest.get(..len) {
        Some(name) if rest.get(len..len + 2).is_none_or(|end| end == b"\r\n") => {
            name_fits(name, on_redis_port, true)
        }
        Some(_) => false,
        None => on_redis_port,
    }
}

/// `PING\r\n`, `SET k v\r\n`: a whole line whose first word is a command. Off the Redis
/// port the word must be an upper-case known command (memcached's `get k` is lower case).
fn inline_command(data: &[u8], on_redis_port: bool) -> bool {
    let Some(end) = data.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let line = data[..end].strip_suffix(b"\r").unwrap_or(&data[..end]);
    let word_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let word = &line[..word_end];
    if word.is_empty() || !word.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    name_fits(word, on_redis_port, word.iter().all(u8::is_ascii_uppercase))
}

fn name_fits(name: &[u8], on_redis_port: bool, any_case: bool) -> bool {
    let mut buf = [0; MAX_NAME];
    let Some(upper) = commands::upper_name(name, &mut buf) else {
        return false;
    };
    on_redis_port || (any_case && commands::lookup(upper).is_some())
}

/// Decimal digits then CRLF; the number and what follows.
fn number_line(data: &[u8]) -> Option<(u64, &[u8])> {
    let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > MAX_DIGITS {
        return None;
    }
    let rest = data[digits..].strip_prefix(b"\r\n")?;
    let n = std::str::from_utf8(&data[..digits]).ok()?.parse().ok()?;
    Some((n, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(direction: Direction, data: &[u8]) -> Chunk<'_> {
        Chunk {
            direction,
            tid: 1,
            ts_ns: 1,
            len: data.len() as u32,
            data,
        }
    }

    fn role(direction: Direction, data: &[u8], ports: Option<(u16, u16)>) -> Option<Role> {
        role_of(&chunk(direction, data), ports)
    }

    #[test]
    fn commands_give_the_role_of_their_writer() {
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(role(Direction::Egress, set, None), Some(Role::Client));
        assert_eq!(role(Direction::Ingress, set, None), Some(Role::Server));
        assert_eq!(
            role(Direction::Egress, b"PING\r\n", Some((40000, 7000))),
            Some(Role::Client)
        );
        assert_eq!(
            role(Direction::Egress, b"*1\r\n$4\r\nping\r\n", None),
            Some(Role::Client)
        );
    }

    #[test]
    fn replies_and_other_protocols_are_not_commands() {
        // An array reply read by a client: its first string is no command.
        let lrange = b"*2\r\n$5\r\napple\r\n$4\r\npear\r\n";
        assert_eq!(role(Direction::Ingress, lrange, None), None);
        // On the Redis port, a chunk the server writes is a reply whatever it holds.
        let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(role(Direction::Egress, get, Some((6379, 50000))), None);
        assert_eq!(role(Direction::Egress, b"+OK\r\n", None), None);
        assert_eq!(role(Direction::Egress, b"get k\r\n", None), None);
        assert_eq!(role(Direction::Egress, b"HELO x\r\n", None), None);
        assert_eq!(role(Direction::Egress, b"\x00\x00\x00\x08", None), None);
        assert_eq!(role(Direction::Egress, b"*", None), None);
    }

    #[test]
    fn the_redis_port_accepts_unknown_and_cut_commands() {
        let ports = Some((50000, 6379));
        assert_eq!(
            role(Direction::Egress, b"*3\r\n$8\r\nJSON.GET\r\n", ports),
            Some(Role::Client)
        );
        assert_eq!(
            role(Direction::Egress, b"*3\r\n", ports),
            Some(Role::Client)
        );
        assert_eq!(
            role(Direction::Egress, b"get k\r\n", ports),
            Some(Role::Client)
        );
        assert_eq!(
            role(
                Direction::Ingress,
                b"*1\r\n$4\r\nPING\r\n",
                Some((6379, 50000))
            ),
            Some(Role::Server)
        );
    }
}
