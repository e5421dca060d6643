//! The connection phase: the server's Handshake v10 greeting and the client's answer to it
//! (HandshakeResponse41, or an SSLRequest when TLS follows).
//!
//! Of the client's answer only the capability flags and the database are read; the auth
//! response that lies between them is stepped over, never copied.

use super::wire::{Reader, cap, text};
use crate::protocol::DbSystem;

/// The protocol version byte that starts the greeting.
pub(super) const PROTOCOL_V10: u8 = 10;
/// Longest server version string accepted; real ones are under 64 bytes.
const MAX_VERSION_LEN: usize = 100;
/// Longest database name kept (MySQL and MariaDB allow 64 characters).
const MAX_DATABASE_BYTES: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Greeting {
    pub system: DbSystem,
    pub capabilities: u32,
}

/// Whether `payload` starts like a Handshake v10 greeting: version byte 10, a printable
/// version string starting with a digit and ending in NUL, a 4-byte connection id, 8 bytes
/// of scramble and a NUL filler. Cheap, and strict enough for protocol detection.
pub(super) fn looks_like_greeting(payload: &[u8]) -> bool {
    let mut r = Reader::new(payload);
    if r.u8() != Some(PROTOCOL_V10) {
        return false;
    }
    let Some(version) = r.nul_terminated() else {
        return false;
    };
    let plausible_version = version.len() <= MAX_VERSION_LEN
        && version.first().is_some_and(u8::is_ascii_digit)
        && version.iter().all(|b| b.is_ascii_graphic());
    plausible_version && r.skip(4 + 8).is_some() && r.u8() == Some(0)
}

/// Reads the greeting (None unless [`looks_like_greeting`]). The flavour comes from the
/// version string: MariaDB says so in it ("5.5.5-10.11.6-MariaDB").
pub(super) fn parse_greeting(payload: &[u8]) -> Option<Greeting> {
    if !looks_like_greeting(payload) {
        return None;
    }
    let mut r = Reader::new(payload);
    r.u8()?;
    let version = r.nul_terminated()?;
    let system = if contains(version, b"MariaDB") {
        DbSystem::Mariadb
    } else {
        DbSystem::Mysql
    };
    // Connection id, scramble part 1, filler.
    r.skip(4 + 8 + 1)?;
    let lower = r.u16().unwrap_or(0);
    // Charset and status flags, then the upper half of the capabilities (absent from very
    // old servers).
    let upper = r.skip(1 + 2).and_then(|()| r.u16()).unwrap_or(0);
    Some(Greeting {
        system,
        capabilities: u32::from(lower) | (u32::from(upper) << 16),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the client answered to the greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Login {
    /// CLIENT_SSL: a TLS handshake follows; nothing after it can be read.
    Tls,
    /// HandshakeResponse41.
    Response {
        capabilities: u32,
        /// Set with CLIENT_CONNECT_WITH_DB.
        database: Option<String>,
    },
}

/// Bytes of the fixed part of HandshakeResponse41 (and the whole SSLRequest): capabilities,
/// max packet size, character set, 23 reserved bytes (MariaDB puts its extended
/// capabilities in the last 4).
const LOGIN_FIXED_LEN: usize = 4 + 4 + 1 + 23;

/// Reads the client's answer from its payload prefix. None when it is not one (no
/// CLIENT_PROTOCOL_41: the pre-4.1 format is not supported).
pub(super) fn parse_login(payload: &[u8]) -> Option<Login> {
    let mut r = Reader::new(payload);
    let capabilities = r.u32()?;
    if capabilities & cap::PROTOCOL_41 == 0 {
        return None;
    }
    if capabilities & cap::SSL != 0 {
        return Some(Login::Tls);
    }
    r.skip(LOGIN_FIXED_LEN - 4)?;
    let database = read_database(&mut r, capabilities);
    Some(Login::Response {
        capabilities,
        database,
    })
}

/// Steps over the user name and the auth response, then reads the database name if the
/// client sent one. A prefix cut before the name gives None.
fn read_database(r: &mut Reader<'_>, capabilities: u32) -> Option<String> {
    let _user = r.nul_terminated()?;
    skip_auth_response(r, capabilities)?;
    if capabilities & cap::CONNECT_WITH_DB == 0 {
        return None;
    }
    database_name(r.nul_terminated()?)
}

/// The auth response's length is length-encoded, or one byte, or it is NUL-terminated,
/// depending on the capabilities. Its bytes are skipped, never read.
pub(super) fn skip_auth_response(r: &mut Reader<'_>, capabilities: u32) -> Option<()> {
    if capabilities & cap::PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
        let n = usize::try_from(r.lenenc()?).ok()?;
        r.skip(n)
    } else if capabilities & cap::SECURE_CONNECTION != 0 {
        let n = r.u8()?;
        r.skip(usize::from(n))
    } else {
        r.nul_terminated().map(|_| ())
    }
}

/// A database name as the exchange keeps it; None for an empty or absurdly long one.
pub(super) fn database_name(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() || bytes.len() > MAX_DATABASE_BYTES {
        return None;
    }
    Some(text(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARIADB_GREETING: &[u8] = b"\x0a5.5.5-10.11.19-MariaDB-0+deb12u1\x00\x05\x00\x00\x00j%vG?Cr7\x00\xfe\xf7\x08\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00X6B-WOg:)[sP\x00mysql_native_password\x00";

    #[test]
    fn mariadb_greeting() {
        assert!(looks_like_greeting(MARIADB_GREETING));
        let g = parse_greeting(MARIADB_GREETING).expect("greeting");
        assert_eq!(g.system, DbSystem::Mariadb);
        assert_eq!(g.capabilities, 0x81ff_f7fe);
    }

    #[test]
    fn mysql_greeting_and_cut_ones() {
        let mysql = b"\x0a8.0.36\x00\x01\x00\x00\x00abcdefgh\x00\xff\xff\x21\x02\x00\xff\xdf";
        assert_eq!(
            parse_greeting(mysql).map(|g| g.system),
            Some(DbSystem::Mysql)
        );
        assert!(!looks_like_greeting(&MARIADB_GREETING[..20]));
        assert!(!looks_like_greeting(
            b"\x0aGET / HTTP/1.1\x00abcdabcdefgh\x00"
        ));
        assert!(!looks_like_greeting(b"\x09\x35"));
    }

    fn login(caps: u32, rest: &[u8]) -> Vec<u8> {
        let mut v = caps.to_le_bytes().to_vec();
        v.extend_from_slice(&[0u8; LOGIN_FIXED_LEN - 4]);
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn database_after_a_lenenc_auth_response() {
        let caps = cap::PROTOCOL_41
            | cap::SECURE_CONNECTION
            | cap::PLUGIN_AUTH_LENENC_CLIENT_DATA
            | cap::CONNECT_WITH_DB;
        let payload = login(
            caps,
            b"app\x00\x05s3cr\x00shop\x00mysql_native_password\x00",
        );
        assert_eq!(
            parse_login(&payload),
            Some(Login::Response {
                capabilities: caps,
                database: Some("shop".into())
            })
        );
    }

    #[test]
    fn one_byte_auth_length_and_no_database() {
        let caps = cap::PROTOCOL_41 | cap::SECURE_CONNECTION;
        let payload = login(caps, b"app\x00\x02\x00\x00");
        assert_eq!(
            parse_login(&payload),
            Some(Login::Response {
                capabilities: caps,
                database: None
            })
        );
    }

    #[test]
    fn ssl_request_and_garbage() {
        assert_eq!(
            parse_login(&login(cap::PROTOCOL_41 | cap::SSL, b"")),
            Some(Login::Tls)
        );
        assert_eq!(parse_login(&login(0, b"x\x00")), None);
        assert_eq!(parse_login(b"\x00\x02"), None);
    }
}
