//! Start-up packets: the untyped messages a client sends first (`int32 len, int32 code, ...`).
//! Only the user and database names are read from a StartupMessage; passwords come later, in
//! typed messages that the parser never keeps.

use super::wire::{
    CANCEL_REQUEST, GSSENC_REQUEST, PROTOCOL_MAJOR_3, SSL_REQUEST, be_u32, bounded, cstr,
};

/// Longest namespace kept (identifiers are at most 63 bytes on a default build).
const MAX_NAME_BYTES: usize = 128;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Packet<'a> {
    /// A StartupMessage of protocol 3.x, with its `name\0value\0...\0` parameters.
    Start {
        params: &'a [u8],
    },
    SslRequest,
    GssEncRequest,
    CancelRequest,
    Unknown,
}

/// What a start-up packet is, from its body (the bytes after the length).
pub(super) fn classify(body: &[u8]) -> Packet<'_> {
    let Some(code) = be_u32(body) else {
        return Packet::Unknown;
    };
    match code {
        SSL_REQUEST => Packet::SslRequest,
        GSSENC_REQUEST => Packet::GssEncRequest,
        CANCEL_REQUEST => Packet::CancelRequest,
        c if c >> 16 == PROTOCOL_MAJOR_3 => Packet::Start {
            params: body.get(4..).unwrap_or_default(),
        },
        _ => Packet::Unknown,
    }
}

/// The parameter pairs of a StartupMessage.
fn params(mut bytes: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let (name, rest) = cstr(bytes)?;
        if name.is_empty() {
            return None;
        }
        let (value, rest) = cstr(rest)?;
        bytes = rest;
        Some((name, value))
    })
}

/// `db.namespace`: the database, which defaults to the user name when the client gives none.
pub(super) fn namespace(params_bytes: &[u8]) -> Option<String> {
    let mut user = None;
    let mut database = None;
    for (name, value) in params(params_bytes) {
        match name {
            b"user" => user = Some(value),
            b"database" => database = Some(value),
            _ => {}
        }
    }
    let name = database.filter(|d| !d.is_empty()).or(user)?;
    let name = String::from_utf8_lossy(name);
    Some(bounded(&name, MAX_NAME_BYTES).to_owned())
}

/// Whether `params_bytes` is a whole, well-formed parameter list naming a user.
pub(super) fn params_are_valid(params_bytes: &[u8]) -> bool {
    let mut rest = params_bytes;
    let mut has_user = false;
    loop {
        match cstr(rest) {
            Some((b"", after)) => return after.is_empty() && has_user,
            Some((name, after)) => {
                let Some((_, after)) = cstr(after) else {
                    return false;
                };
                has_user |= name == b"user";
                rest = after;
            }
            None => return false,
        }
    }
}
