//! What the client asks: the command packets (sequence id 0) of the command phase.

use super::handshake::{database_name, skip_auth_response};
use super::response::Expect;
use super::wire::{Reader, cap, com};

/// One command, borrowing its text from the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Command<'a> {
    /// COM_QUERY. `sql` is None when query attributes before it could not be read.
    Query {
        sql: Option<&'a [u8]>,
    },
    Prepare {
        sql: &'a [u8],
    },
    /// COM_STMT_EXECUTE and MariaDB's COM_STMT_BULK_EXECUTE. Id 0xffffffff means "the
    /// statement prepared last" (MariaDB, for a prepare and execute sent together).
    Execute {
        statement: Option<u32>,
    },
    /// COM_STMT_CLOSE: no response.
    Close {
        statement: Option<u32>,
    },
    InitDb {
        name: &'a [u8],
    },
    /// COM_CHANGE_USER: a new login, with a new database; prepared statements are dropped.
    ChangeUser {
        database: Option<&'a [u8]>,
    },
    /// COM_RESET_CONNECTION: prepared statements are dropped.
    ResetConnection,
    /// Replication (binlog dump): the stream stops being commands and results.
    Replication,
    /// COM_QUIT, COM_STMT_SEND_LONG_DATA: no response.
    NoResponse,
    /// Everything else: only its response's shape matters.
    Other {
        expect: Expect,
    },
}

/// Reads a command packet's payload prefix; None for a byte that is no command.
/// `capabilities` are the client's, when its login was seen.
pub(super) fn parse_command(payload: &[u8], capabilities: Option<u32>) -> Option<Command<'_>> {
    let mut r = Reader::new(payload);
    let command = r.u8()?;
    let body = r.rest();
    Some(match command {
        com::QUERY => Command::Query {
            sql: query_text(body, capabilities),
        },
        com::STMT_PREPARE => Command::Prepare { sql: body },
        com::STMT_EXECUTE | com::STMT_BULK_EXECUTE => Command::Execute { statement: r.u32() },
        com::STMT_CLOSE => Command::Close { statement: r.u32() },
        com::INIT_DB => Command::InitDb { name: body },
        com::CHANGE_USER => Command::ChangeUser {
            database: change_user_database(body, capabilities),
        },
        com::RESET_CONNECTION => Command::ResetConnection,
        com::BINLOG_DUMP | com::BINLOG_DUMP_GTID | com::TABLE_DUMP | com::REGISTER_SLAVE => {
            Command::Replication
        }
        com::QUIT | com::STMT_SEND_LONG_DATA => Command::NoResponse,
        com::STMT_FETCH => Command::Other {
            expect: Expect::Rows,
        },
        com::FIELD_LIST => Command::Other {
            expect: Expect::Definitions,
        },
        com::PROCESS_INFO => Command::Other {
            expect: Expect::Results,
        },
        // COM_STMT_RESET, COM_PING, COM_STATISTICS, COM_SET_OPTION, COM_PROCESS_KILL, ...:
        // one OK, ERR, EOF or string packet.
        c if c <= com::LAST => Command::Other {
            expect: Expect::Single,
        },
        _ => return None,
    })
}

/// Whether the client sends query attributes before the COM_QUERY text. Without its login,
/// the bytes tell: no statement starts with a NUL, but attributes usually do (`00 01`: no
/// parameters, one parameter set).
fn has_query_attributes(body: &[u8], capabilities: Option<u32>) -> bool {
    match capabilities {
        Some(caps) => caps & cap::QUERY_ATTRIBUTES != 0,
        None => body.starts_with(&[0x00, 0x01]),
    }
}

fn query_text(body: &[u8], capabilities: Option<u32>) -> Option<&[u8]> {
    if !has_query_attributes(body, capabilities) {
        return Some(body);
    }
    let mut r = Reader::new(body);
    skip_query_attributes(&mut r)?;
    Some(r.rest())
}

/// MySQL 8 query attributes: parameter count, parameter set count, and when there are
/// parameters a NULL bitmap, a bind flag, each type and name, then the values.
fn skip_query_attributes(r: &mut Reader<'_>) -> Option<()> {
    let count = usize::try_from(r.lenenc()?).ok()?;
    let _sets = r.lenenc()?;
    if count == 0 {
        return Some(());
    }
    let null_bitmap = r.take(count.div_ceil(8))?;
    if r.u8()? != 1 {
        // Types not sent: nothing says how long the values are.
        return None;
    }
    let mut types = [0u8; 64];
    if count > types.len() {
        return None;
    }
    for t in types.iter_mut().take(count) {
        *t = r.u16()?.to_le_bytes()[0];
        r.lenenc_bytes()?;
    }
    for (i, &t) in types.iter().take(count).enumerate() {
        let is_null = null_bitmap
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0);
        if !is_null {
            skip_binary_value(r, t)?;
        }
    }
    Some(())
}

/// Skips one value of the binary protocol, by its column type.
fn skip_binary_value(r: &mut Reader<'_>, column_type: u8) -> Option<()> {
    match column_type {
        // NULL
        0x06 => Some(()),
        // TINY
        0x01 => r.skip(1),
        // SHORT, YEAR
        0x02 | 0x0d => r.skip(2),
        // LONG, INT24, FLOAT
        0x03 | 0x09 | 0x04 => r.skip(4),
        // LONGLONG, DOUBLE
        0x08 | 0x05 => r.skip(8),
        // TIMESTAMP, DATE, TIME, DATETIME: a length byte, then that many bytes.
        0x07 | 0x0a | 0x0b | 0x0c => {
            let n = r.u8()?;
            r.skip(usize::from(n))
        }
        // Strings, decimals, blobs, JSON, BIT, ENUM, SET, GEOMETRY: length-encoded.
        _ => r.lenenc_bytes().map(|_| ()),
    }
}

/// COM_CHANGE_USER: user, auth response, database. The auth response is stepped over.
fn change_user_database(body: &[u8], capabilities: Option<u32>) -> Option<&[u8]> {
    let mut r = Reader::new(body);
    r.nul_terminated()?;
    // Every client of the last twenty years has CLIENT_SECURE_CONNECTION.
    let caps =
        capabilities.unwrap_or(cap::SECURE_CONNECTION) & !cap::PLUGIN_AUTH_LENENC_CLIENT_DATA;
    skip_auth_response(&mut r, caps)?;
    let db = r.nul_terminated()?;
    database_name(db).map(|_| db)
}

/// Whether `data` starts with a command packet: seq 0, a known command byte, a length that
/// fits the command. `syscall_len`, when given, is the length of the write that `data`
/// starts (gaps included): the packet must end within it.
pub(super) fn looks_like_command(data: &[u8], syscall_len: Option<u64>) -> bool {
    let Some(header) = super::wire::Header::peek(data) else {
        return false;
    };
    let fits = syscall_len.is_none_or(|len| u64::from(header.len) + 4 <= len);
    if header.seq != 0 || header.len == 0 || !fits {
        return false;
    }
    let body = &data[4..];
    let Some(&command) = body.first() else {
        return false;
    };
    let text_starts_well = |b: Option<&u8>| {
        b.is_none_or(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace() || b >= 0x80)
    };
    match command {
        com::QUERY => text_starts_well(body.get(1)) || body.get(1..3) == Some(&[0x00, 0x01][..]),
        com::STMT_PREPARE | com::INIT_DB => header.len >= 2 && text_starts_well(body.get(1)),
        com::STMT_EXECUTE | com::STMT_BULK_EXECUTE => header.len >= 10,
        com::STMT_CLOSE | com::STMT_RESET => header.len == 5,
        com::STMT_FETCH => header.len == 9,
        com::PING | com::QUIT => header.len == 1,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_with_and_without_attributes() {
        assert_eq!(
            parse_command(b"\x03SELECT 1", None),
            Some(Command::Query {
                sql: Some(&b"SELECT 1"[..])
            })
        );
        assert_eq!(
            parse_command(b"\x03\x00\x01SELECT 1", None),
            Some(Command::Query {
                sql: Some(&b"SELECT 1"[..])
            })
        );
        // One VARCHAR attribute named "a" with value "xy".
        let with_one = b"\x03\x01\x01\x00\x01\x0f\x00\x01a\x02xySELECT 2";
        assert_eq!(
            parse_command(with_one, Some(cap::QUERY_ATTRIBUTES)),
            Some(Command::Query {
                sql: Some(&b"SELECT 2"[..])
            })
        );
        assert_eq!(
            parse_command(b"\x03\x01\x01\x00", Some(cap::QUERY_ATTRIBUTES)),
            Some(Command::Query { sql: None })
        );
    }

    #[test]
    fn statements_and_bookkeeping_commands() {
        assert_eq!(
            parse_command(b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00", None),
            Some(Command::Execute { statement: Some(1) })
        );
        assert_eq!(
            parse_command(b"\x19\x02\x00\x00\x00", None),
            Some(Command::Close { statement: Some(2) })
        );
        assert_eq!(
            parse_command(b"\x0e", None),
            Some(Command::Other {
                expect: Expect::Single
            })
        );
        assert_eq!(parse_command(b"\x01", None), Some(Command::NoResponse));
        assert_eq!(parse_command(b"\x12", None), Some(Command::Replication));
        assert_eq!(parse_command(b"\x80", None), None);
        assert_eq!(parse_command(b"", None), None);
    }

    #[test]
    fn change_user_skips_the_auth_response() {
        let body = b"\x11bob\x00\x04pw!!shop\x00\x21\x00";
        assert_eq!(
            parse_command(body, None),
            Some(Command::ChangeUser {
                database: Some(&b"shop"[..])
            })
        );
    }

    #[test]
    fn command_starts() {
        assert!(looks_like_command(
            b"\x09\x00\x00\x00\x03SELECT 1",
            Some(13)
        ));
        assert!(!looks_like_command(
            b"\x09\x00\x00\x01\x03SELECT 1",
            Some(13)
        ));
        assert!(!looks_like_command(
            b"\x09\x00\x00\x00\x03SELECT 1",
            Some(12)
        ));
        assert!(looks_like_command(b"\x09\x00\x00\x00\x03SELECT 1", None));
        assert!(looks_like_command(
            b"\x05\x00\x00\x00\x19\x01\x00\x00\x00",
            Some(9)
        ));
        assert!(!looks_like_command(b"\x05\x00\x00\x00\x42abcd", Some(9)));
        assert!(!looks_like_command(b"\x05\x00", Some(9)));
    }
}
