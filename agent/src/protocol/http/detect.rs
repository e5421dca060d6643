//! Cheap checks on the first bytes of a head: can an HTTP/1.x request line or status line
//! start here? Used for protocol detection and to resynchronise after lost bytes.

/// Request methods recognised at the start of a request line (RFC 9110 section 9, plus
/// PATCH). Other tokens are not taken for HTTP, so that other protocols are not misread.
pub(super) const METHODS: [&[u8]; 9] = [
    b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

/// Every status line starts with this (RFC 9112 section 4), followed by the minor digit.
const STATUS_PREFIX: &[u8] = b"HTTP/1.";

/// Which kind of head a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HeadKind {
    Request,
    Response,
}

/// Protocol detection on the first captured bytes of a connection's stream: `Some(true)` if
/// they start with an HTTP/1.x request line (known method and a space), `Some(false)` if they
/// start with a status line (`HTTP/1.x NNN`), `None` otherwise.
pub fn detect(data: &[u8]) -> Option<bool> {
    if starts_with_method(data) {
        Some(true)
    } else if starts_with_status_line(data) {
        Some(false)
    } else {
        None
    }
}

fn starts_with_method(data: &[u8]) -> bool {
    METHODS
        .iter()
        .any(|m| data.starts_with(m) && data.get(m.len()) == Some(&b' '))
}

fn starts_with_status_line(data: &[u8]) -> bool {
    match data.get(..12) {
        Some(
            &[
                b'H',
                b'T',
                b'T',
                b'P',
                b'/',
                b'1',
                b'.',
                minor,
                b' ',
                d0,
                d1,
                d2,
            ],
        ) => [minor, d0, d1, d2].iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Skips the empty lines (CRLF or bare LF) that may precede a head; RFC 9112 section 2.2 lets
/// a recipient ignore them, and httparse does. Returns `None` for a CR followed by anything
/// but LF, which httparse rejects too.
pub(super) fn skip_empty_lines(mut bytes: &[u8]) -> Option<&[u8]> {
    loop {
        match bytes {
            [b'\n', rest @ ..] | [b'\r', b'\n', rest @ ..] => bytes = rest,
            [b'\r', next, ..] if *next != b'\n' => return None,
            _ => return Some(bytes),
        }
    }
}

/// Whether `bytes`, the start of a head that may be cut short, can still become a head of
/// `kind` (either kind when `None`). Only the first few bytes matter, so this is cheap; the
/// answer for a longer input never turns from "no" back to "yes".
pub(super) fn plausible_start(bytes: &[u8], kind: Option<HeadKind>) -> bool {
    let bytes = match skip_empty_lines(bytes) {
        // A lone CR at the end may still become an empty line.
        Some(b"\r") => return true,
        Some(bytes) => bytes,
        None => return false,
    };
    let request = || METHODS.iter().any(|m| prefix_matches(bytes, m, b' '));
    let response = || status_prefix_matches(bytes);
    match kind {
        Some(HeadKind::Request) => request(),
        Some(HeadKind::Response) => response(),
        None => request() || response(),
    }
}

/// `bytes` agrees with `word` followed by `then`, as far as `bytes` goes.
fn prefix_matches(bytes: &[u8], word: &[u8], then: u8) -> bool {
    let common = bytes.len().min(word.len());
    if bytes.get(..common) != word.get(..common) {
        return false;
    }
    bytes.get(word.len()).is_none_or(|&b| b == then)
}

fn status_prefix_matches(bytes: &[u8]) -> bool {
    let common = bytes.len().min(STATUS_PREFIX.len());
    if bytes.get(..common) != STATUS_PREFIX.get(..common) {
        return false;
    }
    bytes
        .get(STATUS_PREFIX.len())
        .is_none_or(u8::is_ascii_digit)
}

/// Which kind a complete head in `bytes` is, when the stream does not say: status lines
/// start with `HTTP/`, request lines with a method.
pub(super) fn classify(bytes: &[u8]) -> HeadKind {
    match skip_empty_lines(bytes) {
        Some(b) if b.starts_with(b"HTTP/") => HeadKind::Response,
        _ => HeadKind::Request,
    }
}
