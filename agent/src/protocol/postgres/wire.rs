//! Constants and byte readers of the frontend/backend protocol, version 3
//! (<https://www.postgresql.org/docs/current/protocol-message-formats.html>).

/// `int32 196608`: protocol 3.0 in a StartupMessage (major 3 in the high 16 bits).
pub(super) const PROTOCOL_MAJOR_3: u32 = 3;
pub(super) const SSL_REQUEST: u32 = 80_877_103;
pub(super) const GSSENC_REQUEST: u32 = 80_877_104;
pub(super) const CANCEL_REQUEST: u32 = 80_877_102;
/// The server refuses longer start-up packets (MAX_STARTUP_PACKET_LENGTH).
pub(super) const MAX_STARTUP_LEN: u32 = 10_000;
/// The server's own bound on a message (PQ_LARGE_MESSAGE_LIMIT, 1 GiB).
pub(super) const MAX_MESSAGE_LEN: u32 = 0x3fff_ffff;
/// Type byte and length of a typed message.
pub(super) const HEADER_LEN: usize = 5;
/// The well-known port; on it, a connection open before sonde is recognised from fewer bytes.
pub(super) const DEFAULT_PORT: u16 = 5432;

/// Which stream a byte belongs to: what the client sends or what the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Frontend,
    Backend,
}

impl Side {
    pub(super) fn index(self) -> usize {
        match self {
            Side::Frontend => 0,
            Side::Backend => 1,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Side::Frontend => "frontend",
            Side::Backend => "backend",
        }
    }
}

/// Whether `tag` is a message type of `side` and `len` (the length field, itself included) fits
/// it: exact for the fixed-size messages, a minimum for the others. Checking lengths this
/// strictly is what lets the parser notice quickly that it lost the message boundaries.
pub(super) fn length_fits(side: Side, tag: u8, len: u32) -> bool {
    if len > MAX_MESSAGE_LEN {
        return false;
    }
    let rule = match side {
        Side::Frontend => match tag {
            b'S' | b'H' | b'X' | b'c' => Len::Exact(4),
            b'Q' | b'f' => Len::AtLeast(5),
            b'P' => Len::AtLeast(8),
            b'B' => Len::AtLeast(12),
            b'E' => Len::AtLeast(9),
            b'D' | b'C' => Len::AtLeast(6),
            b'F' => Len::AtLeast(14),
            b'p' | b'd' => Len::AtLeast(4),
            _ => return false,
        },
        Side::Backend => match tag {
            b'Z' => Len::Exact(5),
            b'1' | b'2' | b'3' | b'n' | b'I' | b's' | b'c' => Len::Exact(4),
            b'R' | b'V' => Len::AtLeast(8),
            b'K' | b'v' => Len::AtLeast(12),
            b'S' | b'T' | b'D' | b't' => Len::AtLeast(6),
            b'C' | b'E' | b'N' => Len::AtLeast(5),
            b'G' | b'H' | b'W' => Len::AtLeast(7),
            b'A' => Len::AtLeast(10),
            b'd' => Len::AtLeast(4),
            _ => return false,
        },
    };
    match rule {
        Len::Exact(n) => len == n,
        Len::AtLeast(n) => len >= n,
    }
}

enum Len {
    Exact(u32),
    AtLeast(u32),
}

pub(super) fn be_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

pub(super) fn be_i16(bytes: &[u8]) -> Option<i16> {
    Some(i16::from_be_bytes(bytes.get(..2)?.try_into().ok()?))
}

pub(super) fn be_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// A NUL-terminated string at the start of `bytes` and what follows its NUL; None without NUL.
pub(super) fn cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let nul = bytes.iter().position(|&b| b == 0)?;
    Some((&bytes[..nul], bytes.get(nul + 1..).unwrap_or_default()))
}

/// The string at the start of `bytes` up to its NUL, or all of it when the NUL was not kept
/// (a message cut at the keep limit or by the capture).
pub(super) fn cstr_or_rest(bytes: &[u8]) -> &[u8] {
    cstr(bytes).map_or(bytes, |(s, _)| s)
}

/// At most `max` bytes of `s`, cut at a char boundary.
pub(super) fn bounded(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[..at]
}
