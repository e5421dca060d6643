//! The server's small packets: OK, ERR, EOF, COM_STMT_PREPARE_OK, and the column count that
//! starts a result set. Rows and column definitions are never read here, only counted.

use super::wire::{HEADER_LEN, Header, MAX_PAYLOAD, Reader, marker, status, text};
use crate::protocol::DbError;

/// Session state change type that carries the new default schema.
const SESSION_TRACK_SCHEMA: u8 = 0x01;
/// Payload length of a CLIENT_PROTOCOL_41 EOF packet: marker, warnings, status.
pub(super) const EOF_LEN: u32 = 5;
/// The shortest OK packet: marker, two 1-byte length-encoded integers, status, warnings.
const OK_MIN_LEN: u32 = 7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct OkPacket<'a> {
    pub affected_rows: u64,
    pub status: u16,
    /// The new default schema, when the server tracks session state and it changed.
    pub schema: Option<&'a [u8]>,
}

/// An OK packet (marker 0x00, or 0xfe when it ends a result set under
/// CLIENT_DEPRECATE_EOF).
pub(super) fn parse_ok(payload: &[u8]) -> Option<OkPacket<'_>> {
    let mut r = Reader::new(payload);
    if !matches!(r.u8()?, marker::OK | marker::EOF) {
        return None;
    }
    let affected_rows = r.lenenc()?;
    let _last_insert_id = r.lenenc()?;
    let status = r.u16()?;
    let _warnings = r.u16()?;
    let schema = if status & status::SESSION_STATE_CHANGED != 0 {
        session_schema(&mut r)
    } else {
        None
    };
    Some(OkPacket {
        affected_rows,
        status,
        schema,
    })
}

/// With SERVER_SESSION_STATE_CHANGED the OK packet goes on with a length-encoded info
/// string and the session state changes: (type, length-encoded data) pairs. The schema's
/// data is itself a length-encoded string. The last schema change wins.
fn session_schema<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let _info = r.lenenc_bytes()?;
    let mut changes = Reader::new(r.lenenc_bytes()?);
    let mut schema = None;
    while !changes.is_empty() {
        let kind = changes.u8()?;
        let data = changes.lenenc_bytes()?;
        if kind == SESSION_TRACK_SCHEMA {
            schema = Reader::new(data).lenenc_bytes();
        }
    }
    schema
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ErrPacket<'a> {
    pub code: u16,
    pub message: &'a [u8],
}

/// Longest error message kept, in bytes.
const MAX_ERROR_MESSAGE: usize = 256;

impl ErrPacket<'_> {
    /// The exchange's error: the number as text ("1146"), the message cut to a bound.
    pub(super) fn to_db_error(self) -> DbError {
        let message = self
            .message
            .get(..MAX_ERROR_MESSAGE)
            .unwrap_or(self.message);
        DbError {
            code: self.code.to_string(),
            message: text(message),
        }
    }
}

/// ERR: marker 0xff, the error number, `#` and a 5-character SQLSTATE (CLIENT_PROTOCOL_41),
/// then the message.
pub(super) fn parse_err(payload: &[u8]) -> Option<ErrPacket<'_>> {
    let mut r = Reader::new(payload);
    if r.u8()? != marker::ERR {
        return None;
    }
    let code = r.u16()?;
    if r.rest().first() == Some(&b'#') {
        r.skip(1 + 5)?;
    }
    Some(ErrPacket {
        code,
        message: r.rest(),
    })
}

/// MariaDB (MARIADB_CLIENT_PROGRESS): an ERR packet with error number 0xffff is a progress
/// report of a long statement, not an error; the answer goes on after it.
pub(super) fn is_progress_report(payload: &[u8]) -> bool {
    payload.get(..3) == Some(&[marker::ERR, 0xff, 0xff][..])
}

/// The status flags of an EOF packet.
pub(super) fn eof_status(payload: &[u8]) -> Option<u16> {
    let mut r = Reader::new(payload);
    if r.u8()? != marker::EOF {
        return None;
    }
    let _warnings = r.u16()?;
    r.u16()
}

/// Whether the packet is an EOF or an OK with the 0xfe marker. A text row may start with
/// 0xfe too, but only one longer than 0xffffff bytes (its first value is that long).
pub(super) fn is_eof_or_ok_fe(header: Header, first: Option<u8>) -> bool {
    first == Some(marker::EOF) && header.len < MAX_PAYLOAD
}

/// An EOF proper, not an OK with the 0xfe marker: those are at least 7 bytes.
pub(super) fn is_eof(header: Header, first: Option<u8>) -> bool {
    first == Some(marker::EOF) && header.len < OK_MIN_LEN
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PrepareOk {
    pub statement: u32,
    pub columns: u16,
    pub params: u16,
    /// MySQL's CLIENT_OPTIONAL_RESULTSET_METADATA may leave the definitions out.
    pub definitions_follow: bool,
}

/// COM_STMT_PREPARE_OK: 0x00, statement id, columns, params, filler, warnings, and with
/// optional metadata one more byte saying whether definitions follow.
pub(super) fn parse_prepare_ok(payload: &[u8]) -> Option<PrepareOk> {
    let mut r = Reader::new(payload);
    if r.u8()? != marker::OK {
        return None;
    }
    let statement = r.u32()?;
    let columns = r.u16()?;
    let params = r.u16()?;
    r.skip(1 + 2)?;
    let definitions_follow = r.u8() != Some(0);
    Some(PrepareOk {
        statement,
        columns,
        params,
        definitions_follow,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ColumnCount {
    pub columns: u64,
    /// MariaDB's MARIADB_CLIENT_CACHE_METADATA and MySQL's optional metadata add a byte
    /// after the count; 0 there means no column definitions follow.
    pub definitions_follow: bool,
}

/// The packet that starts a result set. `len` is its payload length: one byte longer than
/// the count when the metadata byte is there.
pub(super) fn parse_column_count(payload: &[u8], len: u32) -> Option<ColumnCount> {
    let mut r = Reader::new(payload);
    let columns = r.lenenc()?;
    if columns == 0 {
        return None;
    }
    let count_len = payload.len() - r.rest().len();
    let definitions_follow = match (len as usize).checked_sub(count_len) {
        Some(0) => true,
        Some(1) => r.u8()? != 0,
        _ => return None,
    };
    Some(ColumnCount {
        columns,
        definitions_follow,
    })
}

/// A packet that ends a response (or one result of several).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending<'a> {
    /// EOF or OK; `more` when another result follows.
    Done {
        affected_rows: u64,
        schema: Option<&'a [u8]>,
        more: bool,
    },
    Err(ErrPacket<'a>),
}

/// Longest ERR packet looked for at the end of lost bytes.
const MAX_TAIL_ERR: usize = super::framer::TAIL_BYTES - HEADER_LEN;

/// While the framing is lost: whether `tail` (the last captured bytes, which end at the
/// current position) ends with a whole packet that ends a result: an EOF, an OK with the
/// 0xfe marker, or an ERR. The packet's own length must match where it sits, and its fields
/// must read exactly, so that row bytes are not taken for it.
pub(super) fn ending_at_end(tail: &[u8]) -> Option<Ending<'_>> {
    for payload_len in 1..=tail.len().saturating_sub(HEADER_LEN).min(MAX_TAIL_ERR) {
        let start = tail.len() - HEADER_LEN - payload_len;
        let Some(header) = Header::peek(&tail[start..]) else {
            continue;
        };
        if header.len as usize != payload_len {
            continue;
        }
        let payload = &tail[start + HEADER_LEN..];
        if let Some(ending) = exact_ending(header, payload) {
            return Some(ending);
        }
    }
    None
}

fn exact_ending(header: Header, payload: &[u8]) -> Option<Ending<'_>> {
    match *payload.first()? {
        marker::EOF if header.len == EOF_LEN => {
            let status = eof_status(payload)?;
            Some(Ending::Done {
                affected_rows: 0,
                schema: None,
                more: status & status::MORE_RESULTS_EXISTS != 0,
            })
        }
        marker::EOF if header.len >= OK_MIN_LEN && header.len <= 64 => {
            let ok = parse_ok(payload)?;
            // Nothing may follow the fields but an empty info string.
            let mut r = Reader::new(payload);
            r.skip(1)?;
            r.lenenc()?;
            r.lenenc()?;
            r.skip(4)?;
            let rest = r.rest();
            let exact =
                rest.is_empty() || rest == [0] || ok.status & status::SESSION_STATE_CHANGED != 0;
            exact.then_some(Ending::Done {
                affected_rows: ok.affected_rows,
                schema: ok.schema,
                more: ok.status & status::MORE_RESULTS_EXISTS != 0,
            })
        }
        marker::ERR if !is_progress_report(payload) => {
            let err = parse_err(payload)?;
            let sqlstate = payload.get(3..9)?;
            let plausible = sqlstate[0] == b'#'
                && sqlstate[1..].iter().all(u8::is_ascii_alphanumeric)
                && err.message.iter().all(|&b| b >= 0x20 || b == b'\n');
            plausible.then_some(Ending::Err(err))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_with_session_schema() {
        let ok = parse_ok(b"\x00\x00\x00\x02@\x00\x00\x00\x07\x01\x05\x04shop").expect("ok");
        assert_eq!(ok.affected_rows, 0);
        assert_eq!(ok.schema, Some(&b"shop"[..]));
        let plain = parse_ok(b"\x00\x03\x00\x02\x00\x00\x00").expect("ok");
        assert_eq!((plain.affected_rows, plain.schema), (3, None));
        assert_eq!(parse_ok(b"\xff"), None);
    }

    #[test]
    fn err_with_and_without_sqlstate() {
        let e = parse_err(b"\xffz\x04#42S02Table 'shop.missing' doesn't exist").expect("err");
        assert_eq!(e.code, 1146);
        assert_eq!(e.message, b"Table 'shop.missing' doesn't exist");
        let old = parse_err(b"\xff\x15\x04Access denied").expect("err");
        assert_eq!((old.code, old.message), (1045, &b"Access denied"[..]));
    }

    #[test]
    fn column_counts_with_and_without_the_metadata_byte() {
        assert_eq!(
            parse_column_count(b"\x02", 1),
            Some(ColumnCount {
                columns: 2,
                definitions_follow: true
            })
        );
        assert_eq!(
            parse_column_count(b"\x02\x00", 2),
            Some(ColumnCount {
                columns: 2,
                definitions_follow: false
            })
        );
        assert_eq!(parse_column_count(b"\x00", 1), None);
        assert_eq!(parse_column_count(b"\x02", 5), None);
    }

    #[test]
    fn prepare_ok() {
        let p = parse_prepare_ok(b"\x00\x01\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00").expect("ok");
        assert_eq!(
            p,
            PrepareOk {
                statement: 1,
                columns: 2,
                params: 1,
                definitions_follow: true
            }
        );
    }

    #[test]
    fn endings_found_at_the_end_of_lost_bytes() {
        let eof = b"aaaa\x05\x00\x00\x09\xfe\x00\x00\x22\x00";
        assert_eq!(
            ending_at_end(eof),
            Some(Ending::Done {
                affected_rows: 0,
                schema: None,
                more: false
            })
        );
        let more = b"\x05\x00\x00\x09\xfe\x00\x00\x2a\x00";
        assert!(matches!(
            ending_at_end(more),
            Some(Ending::Done { more: true, .. })
        ));
        let ok_fe = b"zz\x07\x00\x00\x05\xfe\x00\x00\x22\x00\x00\x00";
        assert!(matches!(ending_at_end(ok_fe), Some(Ending::Done { .. })));
        let err = b"xx\x1a\x00\x00\x05\xff\x25\x05#70100Query interrupted";
        assert!(matches!(
            ending_at_end(err),
            Some(Ending::Err(ErrPacket { code: 1317, .. }))
        ));
        assert_eq!(ending_at_end(b"iiiiiiiiiiiiiiiiiiiiii"), None);
        assert_eq!(ending_at_end(b""), None);
    }
}
