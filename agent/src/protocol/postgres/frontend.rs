//! Messages the client sends: what the parser keeps of each, reads from it, and how it tells a
//! real message from bytes that only look like one.

use std::borrow::Cow;

use super::wire::{be_i16, be_i32, cstr, cstr_or_rest};

/// Bytes kept of a statement name or portal name: NAMEDATALEN is 64, with room for builds
/// that raise it.
const NAMES_KEEP: usize = 512;

/// How many body bytes of a frontend message of type `tag` the parser reads. Password,
/// SASL and GSS messages (`p`) keep nothing, whatever their length: their bytes are skipped
/// by count and never copied.
pub(super) fn keep_len(tag: u8, body_len: usize) -> usize {
    match tag {
        b'Q' | b'P' => body_len,
        b'B' | b'E' | b'D' | b'C' => body_len.min(NAMES_KEEP),
        _ => 0,
    }
}

/// Message types that start an operation or a batch: where a lost frontend stream may pick up
/// again (a client writes them at the start of a write).
pub(super) fn starts_operation(tag: u8) -> bool {
    matches!(
        tag,
        b'Q' | b'P' | b'B' | b'E' | b'D' | b'C' | b'S' | b'H' | b'F' | b'X'
    )
}

pub(super) fn text(bytes: &[u8]) -> Cow<'_, str> {
    // The same answer as `from_utf8_lossy`, whose validation walks the text in chunks:
    // the vectorised check first, as nearly every statement is valid UTF-8.
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Query: the SQL text.
pub(super) fn query(body: &[u8]) -> Cow<'_, str> {
    text(cstr_or_rest(body))
}

/// Parse: the statement name and its SQL text.
pub(super) fn parse(body: &[u8]) -> Option<(&str, Cow<'_, str>)> {
    let (name, rest) = cstr(body)?;
    Some((std::str::from_utf8(name).ok()?, text(cstr_or_rest(rest))))
}

/// Bind: the portal name and the statement name.
pub(super) fn bind(body: &[u8]) -> Option<(&str, &str)> {
    let (portal, rest) = cstr(body)?;
    let (statement, _) = cstr(rest)?;
    Some((
        std::str::from_utf8(portal).ok()?,
        std::str::from_utf8(statement).ok()?,
    ))
}

/// Execute: the portal name.
pub(super) fn execute(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(cstr(body)?.0).ok()
}

/// Close and Describe: `S` (statement) or `P` (portal), and its name.
pub(super) fn target(body: &[u8]) -> Option<(u8, &str)> {
    let (&kind, rest) = body.split_first()?;
    Some((kind, std::str::from_utf8(cstr(rest)?.0).ok()?))
}

/// Whether `body` is exactly a well-formed body of message type `tag`. Used where the parser
/// must tell messages from other bytes (detection, resynchronisation); types not checked
/// here pass.
pub(super) fn body_is_valid(tag: u8, body: &[u8]) -> bool {
    match tag {
        b'Q' => {
            let Some((text, rest)) = cstr(body) else {
                return false;
            };
            rest.is_empty() && looks_like_sql(text)
        }
        b'P' => valid_parse(body).is_some(),
        b'B' => valid_bind(body).is_some(),
        b'E' => cstr(body).is_some_and(|(_, rest)| rest.len() == 4),
        b'D' | b'C' => {
            matches!(body.first(), Some(b'S' | b'P'))
                && cstr(&body[1..]).is_some_and(|(_, rest)| rest.is_empty())
        }
        b'S' | b'H' | b'X' => body.is_empty(),
        _ => true,
    }
}

/// UTF-8 text that starts (after blanks) like a statement: a letter, `(`, or a comment.
fn looks_like_sql(text: &[u8]) -> bool {
    std::str::from_utf8(text).is_ok() && starts_like_sql(text)
}

/// The start of a text (possibly cut inside a UTF-8 sequence) that reads like a statement.
pub(super) fn starts_like_sql(text: &[u8]) -> bool {
    let valid = match std::str::from_utf8(text) {
        Ok(t) => t,
        // Cut by the capture inside a character: what comes before it must be valid.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&text[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    valid
        .trim_start()
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '(' | '-' | '/'))
}

fn valid_parse(body: &[u8]) -> Option<()> {
    let (_, rest) = cstr(body)?;
    let (text, rest) = cstr(rest)?;
    if !looks_like_sql(text) {
        return None;
    }
    let n = usize::try_from(be_i16(rest)?).ok()?;
    (rest.len() == 2 + 4 * n).then_some(())
}

fn valid_bind(body: &[u8]) -> Option<()> {
    let (_, rest) = cstr(body)?;
    let (_, mut rest) = cstr(rest)?;
    let formats = usize::try_from(be_i16(rest)?).ok()?;
    rest = rest.get(2 + 2 * formats..)?;
    let params = usize::try_from(be_i16(rest)?).ok()?;
    rest = rest.get(2..)?;
    for _ in 0..params {
        let len = be_i32(rest)?;
        let skip = if len == -1 {
            0
        } else {
            usize::try_from(len).ok()?
        };
        rest = rest.get(4 + skip..)?;
    }
    let results = usize::try_from(be_i16(rest)?).ok()?;
    (rest.len() == 2 + 2 * results).then_some(())
}
