//! Messages the server sends: what the parser keeps of each and reads from it.

use super::wire::{be_u32, bounded, cstr, cstr_or_rest};
use crate::protocol::DbError;

/// Longest error message kept, in bytes.
pub(super) const MAX_ERROR_MESSAGE_BYTES: usize = 512;
/// Bytes kept of a CommandComplete tag (`INSERT 0 1`, `SELECT 5000000`).
const TAG_KEEP: usize = 64;
/// Bytes kept of an ErrorResponse: SQLSTATE and message come first in practice.
const ERROR_KEEP: usize = 2048;

/// How many body bytes of a backend message of type `tag` the parser reads. Rows and copy
/// data keep nothing: they are counted and skipped.
pub(super) fn keep_len(tag: u8, body_len: usize) -> usize {
    match tag {
        b'C' => body_len.min(TAG_KEEP),
        b'E' => body_len.min(ERROR_KEEP),
        b'Z' => body_len.min(1),
        _ => 0,
    }
}

/// The row count of a CommandComplete tag: `SELECT 5`, `INSERT 0 1`, `UPDATE 3`, `COPY 10`...
pub(super) fn command_rows(body: &[u8]) -> Option<u64> {
    let tag = std::str::from_utf8(cstr_or_rest(body)).ok()?;
    let mut words = tag.split_ascii_whitespace();
    let count = match words.next()? {
        "INSERT" => words.nth(1)?,
        "SELECT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY" => words.next()?,
        _ => return None,
    };
    count.parse().ok()
}

/// SQLSTATE (`C` field) and message (`M` field, bounded) of an ErrorResponse.
pub(super) fn error(body: &[u8]) -> DbError {
    let mut code = None;
    let mut message = None;
    let mut rest = body;
    while let Some((&field, after)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let value = cstr_or_rest(after);
        match field {
            b'C' => code = Some(String::from_utf8_lossy(value)),
            b'M' => message = Some(String::from_utf8_lossy(value)),
            _ => {}
        }
        rest = cstr(after).map_or(&[][..], |(_, r)| r);
    }
    DbError {
        code: code.map_or_else(|| "unknown".to_owned(), |c| bounded(&c, 16).to_owned()),
        message: message.map_or_else(String::new, |m| {
            bounded(&m, MAX_ERROR_MESSAGE_BYTES).to_owned()
        }),
    }
}

/// A CommandComplete body that is one printable NUL-terminated tag.
pub(super) fn is_command_tag(body: &[u8]) -> bool {
    cstr(body).is_some_and(|(tag, rest)| {
        rest.is_empty() && !tag.is_empty() && tag.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
    })
}

/// An ErrorResponse body: fields (type byte, NUL-terminated value) ending with a 0 byte.
pub(super) fn is_error_fields(body: &[u8]) -> bool {
    let mut rest = body;
    let mut fields = 0;
    loop {
        match rest.split_first() {
            Some((0, after)) => return after.is_empty() && fields > 0,
            Some((field, after)) if field.is_ascii_alphabetic() => match cstr(after) {
                Some((_, r)) => {
                    rest = r;
                    fields += 1;
                }
                None => return false,
            },
            _ => return false,
        }
    }
}

/// ReadyForQuery's transaction status byte.
pub(super) fn is_ready_status(b: u8) -> bool {
    matches!(b, b'I' | b'T' | b'E')
}

/// Whether `body` is exactly a well-formed body of backend message type `tag`, for the types
/// detection relies on; the others pass.
pub(super) fn body_is_valid(tag: u8, body: &[u8]) -> bool {
    match tag {
        b'Z' => body.len() == 1 && is_ready_status(body[0]),
        b'C' => is_command_tag(body),
        b'E' | b'N' => is_error_fields(body),
        b'R' => be_u32(body).is_some_and(|kind| kind <= 12),
        _ => true,
    }
}
