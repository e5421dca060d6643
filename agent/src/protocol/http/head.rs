//! Request and response heads, parsed by httparse into the few owned fields an exchange
//! keeps, plus what the framing headers say about the body.
//!
//! Only Host, User-Agent and traceparent values are copied. Authorization, Cookie and
//! Set-Cookie (and every other header) are never read into anything that outlives the parse.

use compact_str::CompactString;
use std::mem::MaybeUninit;

use super::body::Body;
use super::chunked::ChunkedDecoder;
use super::detect::{HeadKind, classify, plausible_start};
use super::error::HttpError;

/// Header slots tried first, on the stack; heads with more retry once with a heap array.
const STACK_HEADERS: usize = 64;

#[derive(Debug)]
pub(super) struct RequestHead {
    pub method: CompactString,
    pub target: String,
    pub version_minor: u8,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub traceparent: Option<String>,
    pub framing: Framing,
}

#[derive(Debug)]
pub(super) struct ResponseHead {
    pub status: u16,
    pub framing: Framing,
}

#[derive(Debug)]
pub(super) enum Head {
    Request(RequestHead),
    Response(ResponseHead),
}

#[derive(Debug)]
pub(super) enum Parsed {
    /// A whole head, and the bytes it took (its end is where the body starts).
    Complete(Head, usize),
    Partial,
}

/// What Content-Length and Transfer-Encoding say.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Framing {
    /// `Err` when the values are not digits or disagree.
    content_length: Option<Result<u64, HttpError>>,
    /// `Some(true)` when a Transfer-Encoding is present and its last coding is chunked.
    transfer_encoding: Option<bool>,
}

impl Framing {
    /// RFC 9112 section 6.3: a request has a body only when framed; Transfer-Encoding wins
    /// over Content-Length, and must end with chunked.
    pub(super) fn request_body(&self) -> Result<Option<Body>, HttpError> {
        match self.transfer_encoding {
            Some(true) => Ok(Some(Body::Chunked(ChunkedDecoder::new()))),
            Some(false) => Err(HttpError::BadTransferEncoding),
            None => self.length_body(),
        }
    }

    /// RFC 9112 section 6.3 for responses: none after HEAD, 1xx, 204 and 304 whatever the
    /// headers say; Transfer-Encoding wins over Content-Length; without either, the body runs
    /// until the connection closes.
    pub(super) fn response_body(
        &self,
        request_was_head: bool,
        status: u16,
    ) -> Result<Option<Body>, HttpError> {
        if request_was_head || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(None);
        }
        match self.transfer_encoding {
            Some(true) => Ok(Some(Body::Chunked(ChunkedDecoder::new()))),
            Some(false) => Ok(Some(Body::UntilClose)),
            None if self.content_length.is_none() => Ok(Some(Body::UntilClose)),
            None => self.length_body(),
        }
    }

    fn length_body(&self) -> Result<Option<Body>, HttpError> {
        match self.content_length {
            None | Some(Ok(0)) => Ok(None),
            Some(Ok(remaining)) => Ok(Some(Body::Length { remaining })),
            Some(Err(e)) => Err(e),
        }
    }

    fn add_content_length(&mut self, value: &[u8]) {
        let parsed = parse_content_length(value);
        self.content_length = Some(match (self.content_length, parsed) {
            (None, new) => new,
            (Some(Ok(old)), Ok(new)) if old == new => Ok(old),
            (Some(Err(e)), _) | (_, Err(e)) => Err(e),
            (Some(Ok(_)), Ok(_)) => Err(HttpError::BadContentLength),
        });
    }

    fn add_transfer_encoding(&mut self, value: &[u8]) {
        let last = value
            .split(|&b| b == b',')
            .map(trim_ows)
            .rfind(|coding| !coding.is_empty());
        if let Some(last) = last {
            self.transfer_encoding = Some(last.eq_ignore_ascii_case(b"chunked"));
        }
    }
}

/// Content-Length is digits; a list of identical values ("5, 5") is accepted as one
/// (RFC 9110 section 8.6).
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    let mut result = None;
    for item in value.split(|&b| b == b',').map(trim_ows) {
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return Err(HttpError::BadContentLength);
        }
        let n = item.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        match (result, n) {
            (_, None) => return Err(HttpError::BadContentLength),
            (Some(prev), Some(n)) if prev != n => return Err(HttpError::BadContentLength),
            (_, Some(n)) => result = Some(n),
        }
    }
    result.ok_or(HttpError::BadContentLength)
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

fn owned_value(value: &[u8]) -> String {
    let value = trim_ows(value);
    // Header values are nearly always valid UTF-8: one vectorised check and one copy, and
    // only the rest take the lossy path.
    match std::str::from_utf8(value) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(value).into_owned(),
    }
}

/// Parses the head at the start of `bytes`, of `kind` (decided from the bytes when `None`).
pub(super) fn parse_head(bytes: &[u8], kind: Option<HeadKind>) -> Result<Parsed, HttpError> {
    if !plausible_start(bytes, kind) {
        return Err(HttpError::NotHttp);
    }
    match kind.unwrap_or_else(|| classify(bytes)) {
        HeadKind::Request => with_headers(bytes, parse_request),
        HeadKind::Response => with_headers(bytes, parse_response),
    }
}

/// `parse_request` or `parse_response`: a head from bytes, with header slots to fill.
type HeadParser = for<'h, 'b> fn(
    &'b [u8],
    &'h mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Parsed, HttpError>;

/// Runs `parse` with stack header slots, and once more with enough heap slots for any head
/// of this size when they were too few (rare; bounded by the head limit). The slots are
/// left uninitialised (httparse writes each before it hands it back): initialising 64 of
/// them cost 2 KiB of stores per head.
fn with_headers(bytes: &[u8], parse: HeadParser) -> Result<Parsed, HttpError> {
    let mut headers = [const { MaybeUninit::uninit() }; STACK_HEADERS];
    match parse(bytes, &mut headers) {
        Err(HttpError::MalformedHead(httparse::Error::TooManyHeaders)) => {
            // Every header line takes at least 3 bytes ("a:\n").
            let mut headers: Vec<MaybeUninit<httparse::Header<'_>>> =
                std::iter::repeat_with(MaybeUninit::uninit)
                    .take(bytes.len() / 3 + 1)
                    .collect();
            parse(bytes, &mut headers)
        }
        other => other,
    }
}

fn parse_request<'b>(
    bytes: &'b [u8],
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Parsed, HttpError> {
    let mut req = httparse::Request::new(&mut []);
    let status = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .parse_request_with_uninit_headers(&mut req, bytes, headers)
        .map_err(HttpError::MalformedHead)?;
    let httparse::Status::Complete(len) = status else {
        return Ok(Parsed::Partial);
    };
    let mut head = RequestHead {
        method: req.method.unwrap_or_default().into(),
        target: req.path.unwrap_or_default().to_owned(),
        version_minor: req.version.unwrap_or(1),
        host: None,
        user_agent: None,
        traceparent: None,
        framing: Framing::default(),
    };
    for h in req.headers.iter() {
        let slot = if h.name.eq_ignore_ascii_case("host") {
            &mut head.host
        } else if h.name.eq_ignore_ascii_case("user-agent") {
            &mut head.user_agent
        } else if h.name.eq_ignore_ascii_case("traceparent") {
            &mut head.traceparent
        } else {
            add_framing(&mut head.framing, h);
            continue;
        };
        // The first occurrence wins.
        if slot.is_none() {
            *slot = Some(owned_value(h.value));
        }
    }
    Ok(Parsed::Complete(Head::Request(head), len))
}

fn parse_response<'b>(
    bytes: &'b [u8],
    headers: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Parsed, HttpError> {
    let mut resp = httparse::Response::new(&mut []);
    let status = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut resp, bytes, headers)
        .map_err(HttpError::MalformedHead)?;
    let httparse::Status::Complete(len) = status else {
        return Ok(Parsed::Partial);
    };
    let mut framing = Framing::default();
    for h in resp.headers.iter() {
        add_framing(&mut framing, h);
    }
    let head = ResponseHead {
        status: resp.code.unwrap_or_default(),
        framing,
    };
    Ok(Parsed::Complete(Head::Response(head), len))
}

fn add_framing(framing: &mut Framing, h: &httparse::Header<'_>) {
    if h.name.eq_ignore_ascii_case("content-length") {
        framing.add_content_length(h.value);
    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
        framing.add_transfer_encoding(h.value);
    }
}

/// The request line of a head that will never complete (too large, or cut by a gap): its
/// method, and as much of the target as arrived. `None` unless a known method and a space
/// start it.
pub(super) fn partial_request_line(bytes: &[u8]) -> Option<(CompactString, String, u8)> {
    if !plausible_start(bytes, Some(HeadKind::Request)) {
        return None;
    }
    let mut req = httparse::Request::new(&mut []);
    // httparse fills the request line before it fails on the (zero) header slots or runs
    // out of bytes; the result itself does not matter.
    let _ = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .parse_request(&mut req, bytes);
    let method = req.method?;
    let target = match req.path {
        Some(path) => path.to_owned(),
        None => truncated_target(bytes, method.len()),
    };
    Some((method.into(), target, req.version.unwrap_or(1)))
}

/// The target bytes after "METHOD " up to the end of what was captured.
fn truncated_target(bytes: &[u8], method_len: usize) -> String {
    let after_method = super::detect::skip_empty_lines(bytes)
        .and_then(|b| b.get(method_len..))
        .unwrap_or_default();
    let start = after_method
        .iter()
        .position(|&b| b != b' ')
        .unwrap_or(after_method.len());
    let target = after_method.get(start..).unwrap_or_default();
    let end = target
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(target.len());
    String::from_utf8_lossy(target.get(..end).unwrap_or_default()).into_owned()
}

/// The status code of a response head that will never complete, if its status line arrived.
pub(super) fn partial_status(bytes: &[u8]) -> Option<u16> {
    if !plausible_start(bytes, Some(HeadKind::Response)) {
        return None;
    }
    let mut resp = httparse::Response::new(&mut []);
    let _ = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .parse_response(&mut resp, bytes);
    // The code is only trusted once the whole status line was read.
    resp.reason.and(resp.code)
}
