//! Wire-format primitives of the MySQL client/server protocol: the packet header, integers
//! and strings as the protocol encodes them, and the flag and command numbers used here.
//!
//! Every packet is a 3-byte little-endian payload length, a 1-byte sequence id, then the
//! payload. A payload of exactly 0xffffff bytes continues in the next packet.

/// Header bytes before each payload.
pub(super) const HEADER_LEN: usize = 4;
/// A payload of this length is continued by the next packet (up to the first shorter one).
pub(super) const MAX_PAYLOAD: u32 = 0x00ff_ffff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Header {
    pub len: u32,
    pub seq: u8,
}

impl Header {
    pub(super) fn parse(b: [u8; HEADER_LEN]) -> Self {
        Self {
            len: u32::from_le_bytes([b[0], b[1], b[2], 0]),
            seq: b[3],
        }
    }

    /// The first `HEADER_LEN` bytes of `data` as a header.
    pub(super) fn peek(data: &[u8]) -> Option<Self> {
        let b: [u8; HEADER_LEN] = data.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Self::parse(b))
    }
}

/// Capability flags (Handshake v10 and HandshakeResponse41).
pub(super) mod cap {
    pub const CONNECT_WITH_DB: u32 = 0x0000_0008;
    pub const COMPRESS: u32 = 0x0000_0020;
    pub const PROTOCOL_41: u32 = 0x0000_0200;
    pub const SSL: u32 = 0x0000_0800;
    pub const SECURE_CONNECTION: u32 = 0x0000_8000;
    pub const PLUGIN_AUTH_LENENC_CLIENT_DATA: u32 = 0x0020_0000;
    pub const DEPRECATE_EOF: u32 = 0x0100_0000;
    /// MySQL 8.0.23+: COM_QUERY carries query attributes before the text.
    pub const QUERY_ATTRIBUTES: u32 = 0x0800_0000;
    /// MySQL 8.0.18+: zstd compression, also a compressed protocol.
    pub const ZSTD_COMPRESSION: u32 = 0x0400_0000;
}

/// Server status flags (OK and EOF packets).
pub(super) mod status {
    /// Another result set follows this one (multi-statements, CALL).
    pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
    /// COM_STMT_EXECUTE opened a cursor: rows come with COM_STMT_FETCH instead.
    pub const CURSOR_EXISTS: u16 = 0x0040;
    /// The OK packet carries session state changes (CLIENT_SESSION_TRACK).
    pub const SESSION_STATE_CHANGED: u16 = 0x4000;
}

/// Command bytes: the first payload byte of each packet the client sends with seq 0.
pub(super) mod com {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const PROCESS_INFO: u8 = 0x0a;
    pub const PING: u8 = 0x0e;
    pub const CHANGE_USER: u8 = 0x11;
    pub const BINLOG_DUMP: u8 = 0x12;
    pub const TABLE_DUMP: u8 = 0x13;
    pub const REGISTER_SLAVE: u8 = 0x15;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const STMT_FETCH: u8 = 0x1c;
    pub const RESET_CONNECTION: u8 = 0x1f;
    pub const BINLOG_DUMP_GTID: u8 = 0x1e;
    /// MariaDB: an execute with arrays of parameters.
    pub const STMT_BULK_EXECUTE: u8 = 0xfa;
    /// The highest command number of the classic protocol; 0xfa is MariaDB's only addition.
    pub const LAST: u8 = 0x1f;
}

/// First payload bytes that mark a packet's kind in responses.
pub(super) mod marker {
    pub const OK: u8 = 0x00;
    pub const LOCAL_INFILE: u8 = 0xfb;
    pub const EOF: u8 = 0xfe;
    pub const ERR: u8 = 0xff;
}

/// Reads the protocol's integers and strings from a payload (or a prefix of one); every
/// read returns None past the end instead of panicking.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.bytes.split_at_checked(n)?;
        self.bytes = tail;
        Some(head)
    }

    pub(super) fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        let (&b, tail) = self.bytes.split_first()?;
        self.bytes = tail;
        Some(b)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let b: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }

    /// A length-encoded integer: one byte below 0xfb, else 0xfc + 2, 0xfd + 3, 0xfe + 8
    /// bytes. 0xfb (NULL) and 0xff are not integers.
    pub(super) fn lenenc(&mut self) -> Option<u64> {
        let first = self.u8()?;
        let width = match first {
            0..=0xfa => return Some(u64::from(first)),
            0xfc => 2,
            0xfd => 3,
            0xfe => 8,
            _ => return None,
        };
        let b = self.take(width)?;
        let mut le = [0u8; 8];
        le[..width].copy_from_slice(b);
        Some(u64::from_le_bytes(le))
    }

    /// A string prefixed by its length-encoded length.
    pub(super) fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).ok()?;
        self.take(n)
    }

    /// A NUL-terminated string, without its NUL.
    pub(super) fn nul_terminated(&mut self) -> Option<&'a [u8]> {
        let end = self.bytes.iter().position(|&b| b == 0)?;
        let s = self.take(end)?;
        self.skip(1)?;
        Some(s)
    }
}

/// Text from the wire: UTF-8, with a character cut at the end of a prefix dropped and
/// other invalid bytes replaced.
pub(super) fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(e) if e.error_len().is_none() => {
            // Only the last character is incomplete: the prefix ended inside it.
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_little_endian_length_then_seq() {
        let h = Header::parse([0x21, 0x01, 0x00, 0x07]);
        assert_eq!(h, Header { len: 0x121, seq: 7 });
        assert_eq!(Header::peek(&[1, 2]), None);
    }

    #[test]
    fn lenenc_integers_of_every_width() {
        let bytes = [
            0xfa, 0xfc, 0x34, 0x12, 0xfd, 0x56, 0x34, 0x12, 0xfe, 1, 0, 0, 0, 0, 0, 0, 0,
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.lenenc(), Some(0xfa));
        assert_eq!(r.lenenc(), Some(0x1234));
        assert_eq!(r.lenenc(), Some(0x12_3456));
        assert_eq!(r.lenenc(), Some(1));
        assert_eq!(r.lenenc(), None);
        assert_eq!(Reader::new(&[0xfb]).lenenc(), None);
        assert_eq!(Reader::new(&[0xfc, 1]).lenenc(), None);
    }

    #[test]
    fn strings_stop_at_the_end_of_the_bytes() {
        let mut r = Reader::new(b"\x03abcdef\0x");
        assert_eq!(r.lenenc_bytes(), Some(&b"abc"[..]));
        assert_eq!(r.nul_terminated(), Some(&b"def"[..]));
        assert_eq!(r.nul_terminated(), None);
        assert_eq!(Reader::new(b"\x05ab").lenenc_bytes(), None);
    }

    #[test]
    fn text_drops_a_character_cut_by_the_prefix() {
        assert_eq!(text("héllo".as_bytes()), "héllo");
        assert_eq!(text(&"hé".as_bytes()[..2]), "h");
        assert_eq!(text(b"a\xffb"), "a\u{fffd}b");
    }
}
