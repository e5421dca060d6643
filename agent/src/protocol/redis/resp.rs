//! Incremental RESP2/RESP3 decoder for one direction of a connection.
//!
//! It keeps no message, only where it stands: the open aggregates (how many elements each
//! still has), the current line when a read cut it, and at most a sink-chosen prefix of the
//! bulk string being read. Bulk payloads are skipped by count, so bytes that were not captured
//! inside one cost nothing; a gap anywhere else loses sync (the length of what follows a
//! type byte is on the wire only).
//!
//! Values are reported to a [`Sink`] at depth 0 (the message) and depth 1 (the elements of a
//! top-level aggregate) only: that is all that commands and replies need.

use std::mem;

use super::error::RedisError;

/// Open aggregates at once. Redis replies nest a few levels (XREAD: 4, COMMAND DOCS: ~7).
pub(super) const MAX_DEPTH: usize = 16;
/// A header line is a type byte's number: at most 20 digits and a sign, or `?`.
const MAX_NUMBER_LINE: usize = 24;
/// Bytes kept of a simple string or error line (`+OK`, `-ERR ...`, `:12`, `,1.5`).
const MAX_SIMPLE_LINE: usize = 256;
/// Most bytes of a bulk string that a sink may keep.
pub(super) const MAX_KEEP: usize = 256;
/// The kind of a line that is an inline command (no type byte).
const INLINE: u8 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Commands: an array of bulk strings, or else an inline line (as servers read them).
    Requests,
    Replies,
}

/// One value, as a sink sees it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Value<'a> {
    /// An aggregate header: `*`, `%` (count in pairs), `~`, `>`; `count` None when streamed.
    Aggregate { kind: u8, count: Option<u64> },
    /// `_`, `$-1`, `*-1`.
    Null,
    /// A string or number: `+ - : , ( #` (a line) or `$ = !` (bulk). `bytes` is the kept
    /// prefix, `len` the full length.
    Text { kind: u8, bytes: &'a [u8], len: u64 },
    /// An inline command line (requests only), without its line end.
    Inline(&'a [u8]),
}

/// Where a value sits: depth 0 is the message itself; depth 1 the `index`-th element of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Position {
    pub depth: usize,
    pub index: u64,
}

pub(super) trait Sink {
    /// The first byte of a message was read.
    fn message_start(&mut self);
    /// How many first bytes of the bulk string of `kind` at `at` are worth keeping.
    fn keep(&self, at: Position, kind: u8) -> usize;
    /// A value at depth 0 or 1 (aggregates when their header is read, others when complete).
    fn value(&mut self, at: Position, value: Value<'_>) -> Result<(), RedisError>;
    /// The message whose start was reported is complete.
    fn message_end(&mut self);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameKind {
    Counted,
    /// `*?`, `%?`, `~?`, `>?`: ends with a `.` line.
    Streamed,
    /// `|`: metadata before a value; neither counted nor reported.
    Attribute,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Elements still to come (maps and attributes count keys and values).
    left: u64,
    kind: FrameKind,
}

const EMPTY_FRAME: Frame = Frame {
    left: 0,
    kind: FrameKind::Counted,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    TypeByte,
    Line {
        kind: u8,
    },
    Payload {
        kind: u8,
        len: u64,
        left: u64,
        keep: usize,
    },
    /// The CRLF after a payload; `left` of its 2 bytes to come.
    PayloadEnd {
        kind: u8,
        len: u64,
        left: u8,
    },
    Lost,
}

/// A `$?` string: `;N` parts until `;0`.
#[derive(Clone, Copy, Debug)]
struct Streamed {
    total: u64,
    keep: usize,
}

pub(super) struct Reader {
    mode: Mode,
    state: State,
    frames: [Frame; MAX_DEPTH],
    depth: usize,
    /// Open attribute frames: what is inside them is not reported.
    attributes: usize,
    in_message: bool,
    /// Elements of the top-level aggregate finished so far.
    top_index: u64,
    /// A line cut by the end of a read (at most `line_cap` bytes of it).
    line: Vec<u8>,
    line_cap: usize,
    line_truncated: bool,
    inline_cap: usize,
    keep_cap: usize,
    kept: [u8; MAX_KEEP],
    kept_len: usize,
    streamed: Option<Streamed>,
}

impl Reader {
    /// `max_buffered` bounds the bytes held between reads (an inline line, a kept prefix).
    pub(super) fn new(mode: Mode, max_buffered: usize) -> Self {
        Self {
            mode,
            state: State::TypeByte,
            frames: [EMPTY_FRAME; MAX_DEPTH],
            depth: 0,
            attributes: 0,
            in_message: false,
            top_index: 0,
            line: Vec::new(),
            line_cap: MAX_NUMBER_LINE,
            line_truncated: false,
            inline_cap: max_buffered.max(MAX_NUMBER_LINE),
            keep_cap: MAX_KEEP.min(max_buffered),
            kept: [0; MAX_KEEP],
            kept_len: 0,
            streamed: None,
        }
    }

    pub(super) fn is_lost(&self) -> bool {
        self.state == State::Lost
    }

    /// Bytes held between reads.
    pub(super) fn held_bytes(&self) -> usize {
        self.line.len() + self.kept_len
    }

    /// Gives up on the current message: nothing is read until [`Reader::resync`].
    pub(super) fn lose(&mut self) {
        self.reset();
        self.state = State::Lost;
    }

    /// Reads from here on as if a message started here.
    pub(super) fn resync(&mut self) {
        self.reset();
    }

    fn reset(&mut self) {
        self.state = State::TypeByte;
        self.depth = 0;
        self.attributes = 0;
        self.in_message = false;
        self.top_index = 0;
        self.line.clear();
        self.line_truncated = false;
        self.kept_len = 0;
        self.streamed = None;
    }

    /// Reads captured bytes. On an error the reader is lost (see [`Reader::resync`]).
    pub(super) fn feed(&mut self, mut data: &[u8], sink: &mut impl Sink) -> Result<(), RedisError> {
        let result = self.feed_all(&mut data, sink);
        if result.is_err() {
            self.lose();
        }
        result
    }

    /// `n` bytes that were not captured: skipped inside a bulk payload, lost sync elsewhere.
    pub(super) fn skip(&mut self, mut n: u64, sink: &mut impl Sink) -> Result<(), RedisError> {
        let result = loop {
            if n == 0 {
                break Ok(());
            }
            match self.state {
                State::Lost => break Ok(()),
                State::TypeByte => break Err(RedisError::GapAtTypeByte),
                State::Line { .. } => break Err(RedisError::GapInLine),
                State::Payload {
                    kind,
                    len,
                    left,
                    keep,
                } => {
                    let k = left.min(n);
                    n -= k;
                    self.state = if left == k {
                        State::PayloadEnd { kind, len, left: 2 }
                    } else {
                        State::Payload {
                            kind,
                            len,
                            left: left - k,
                            keep,
                        }
                    };
                }
                State::PayloadEnd { kind, len, left } => {
                    let k = u64::from(left).min(n);
                    n -= k;
                    // k <= left <= 2
                    let left = left - k as u8;
                    if left == 0 {
                        if let Err(e) = self.bulk_done(kind, len, sink) {
                            break Err(e);
                        }
                    } else {
                        self.state = State::PayloadEnd { kind, len, left };
                    }
                }
            }
        };
        if result.is_err() {
            self.lose();
        }
        result
    }

    fn feed_all(&mut self, data: &mut &[u8], sink: &mut impl Sink) -> Result<(), RedisError> {
        while let Some(&first) = data.first() {
            match self.state {
                State::Lost => return Ok(()),
                State::TypeByte => self.type_byte(first, data, sink)?,
                State::Line { kind } => self.line(kind, data, sink)?,
                State::Payload { .. } => self.payload(data, sink)?,
                State::PayloadEnd { .. } => self.payload_end(first, data, sink)?,
            }
        }
        Ok(())
    }

    fn here(&self) -> Position {
        Position {
            depth: self.depth,
            index: if self.depth == 1 { self.top_index } else { 0 },
        }
    }

    fn reportable(&self) -> bool {
        self.depth <= 1 && self.attributes == 0
    }

    fn type_byte(
        &mut self,
        b: u8,
        data: &mut &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisError> {
        if !self.in_message {
            self.in_message = true;
            self.top_index = 0;
            sink.message_start();
        }
        if self.mode == Mode::Requests && self.depth == 0 && b != b'*' {
            // The byte belongs to the line: servers read anything but `*` as an inline command.
            self.start_line(INLINE);
            return Ok(());
        }
        *data = &data[1..];
        if self.streamed.is_some() && b != b';' {
            return Err(RedisError::BadTypeByte(b));
        }
        match b {
            b'*' | b'%' | b'~' | b'>' | b'|' | b'$' | b'=' | b'!' | b';' | b'.' | b'+' | b'-'
            | b':' | b',' | b'(' | b'#' | b'_' => {
                self.start_line(b);
                Ok(())
            }
            _ => Err(RedisError::BadTypeByte(b)),
        }
    }

    fn start_line(&mut self, kind: u8) {
        self.state = State::Line { kind };
        self.line.clear();
        self.line_truncated = false;
        self.line_cap = match kind {
            INLINE => self.inline_cap,
            b'+' | b'-' | b':' | b',' | b'(' | b'#' | b'_' => MAX_SIMPLE_LINE,
            _ => MAX_NUMBER_LINE,
        };
    }

    fn is_number_line(kind: u8) -> bool {
        matches!(
            kind,
            b'*' | b'%' | b'~' | b'>' | b'|' | b'$' | b'=' | b'!' | b';' | b'.'
        )
    }

    /// Keeps what fits of a cut line; a number line that does not fit is not RESP.
    fn append_line(&mut self, kind: u8, bytes: &[u8]) -> Result<(), RedisError> {
        let room = self.line_cap.saturating_sub(self.line.len());
        if bytes.len() <= room {
            self.line.extend_from_slice(bytes);
            return Ok(());
        }
        // One byte over the cap may be the CR of the line end.
        if Self::is_number_line(kind) && !(bytes.len() == room + 1 && bytes[room] == b'\r') {
            return Err(RedisError::HeaderTooLong);
        }
        self.line.extend_from_slice(&bytes[..room]);
        self.line_truncated = true;
        Ok(())
    }

    fn line(&mut self, kind: u8, data: &mut &[u8], sink: &mut impl Sink) -> Result<(), RedisError> {
        let Some(pos) = data.iter().position(|&b| b == b'\n') else {
            self.append_line(kind, data)?;
            *data = &[];
            return Ok(());
        };
        let piece = &data[..pos];
        *data = &data[pos + 1..];
        if self.line.is_empty() && !self.line_truncated {
            // The whole line is in this read: no copy.
            let content = strip_cr(piece);
            if content.len() > self.line_cap {
                if Self::is_number_line(kind) {
                    return Err(RedisError::HeaderTooLong);
                }
                return self.end_line(kind, &content[..self.line_cap], sink);
            }
            return self.end_line(kind, content, sink);
        }
        self.append_line(kind, piece)?;
        let line = mem::take(&mut self.line);
        let result = self.end_line(kind, strip_cr(&line), sink);
        self.line = line;
        self.line.clear();
        self.line_truncated = false;
        result
    }

    fn end_line(
        &mut self,
        kind: u8,
        content: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisError> {
        self.state = State::TypeByte;
        match kind {
            INLINE => {
                sink.value(self.here(), Value::Inline(content))?;
                self.finish_value(true, sink);
                Ok(())
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => self.aggregate(kind, content, sink),
            b'$' | b'=' | b'!' => self.bulk_header(kind, content, sink),
            b';' => self.streamed_part(content, sink),
            b'.' => {
                let streamed = self
                    .depth
                    .checked_sub(1)
                    .is_some_and(|d| self.frames[d].kind == FrameKind::Streamed);
                if !streamed {
                    return Err(RedisError::BadTypeByte(b'.'));
                }
                self.close_frame();
                self.finish_value(true, sink);
                Ok(())
            }
            b'_' => {
                if self.reportable() {
                    sink.value(self.here(), Value::Null)?;
                }
                self.finish_value(true, sink);
                Ok(())
            }
            _ => {
                if self.reportable() {
                    let value = Value::Text {
                        kind,
                        bytes: content,
                        len: content.len() as u64,
                    };
                    sink.value(self.here(), value)?;
                }
                self.finish_value(true, sink);
                Ok(())
            }
        }
    }

    fn aggregate(
        &mut self,
        kind: u8,
        content: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisError> {
        let is_attribute = kind == b'|';
        let count = if content == b"?" && !is_attribute {
            None
        } else {
            match parse_i64(content)? {
                -1 if kind == b'*' || kind == b'%' => {
                    if self.reportable() {
                        sink.value(self.here(), Value::Null)?;
                    }
                    self.finish_value(true, sink);
                    return Ok(());
                }
                n => Some(u64::try_from(n).map_err(|_| RedisError::BadLength)?),
            }
        };
        if self.reportable() && !is_attribute {
            sink.value(self.here(), Value::Aggregate { kind, count })?;
        }
        let (left, frame_kind) = match count {
            None => (0, FrameKind::Streamed),
            Some(n) if kind == b'%' || is_attribute => (
                n.checked_mul(2).ok_or(RedisError::BadLength)?,
                if is_attribute {
                    FrameKind::Attribute
                } else {
                    FrameKind::Counted
                },
            ),
            Some(n) => (n, FrameKind::Counted),
        };
        if frame_kind != FrameKind::Streamed && left == 0 {
            self.finish_value(!is_attribute, sink);
            return Ok(());
        }
        if self.depth == MAX_DEPTH {
            return Err(RedisError::TooDeep { limit: MAX_DEPTH });
        }
        self.frames[self.depth] = Frame {
            left,
            kind: frame_kind,
        };
        self.depth += 1;
        if is_attribute {
            self.attributes += 1;
        }
        Ok(())
    }

    fn bulk_header(
        &mut self,
        kind: u8,
        content: &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisError> {
        let keep = if self.reportable() {
            sink.keep(self.here(), kind).min(self.keep_cap)
        } else {
            0
        };
        self.kept_len = 0;
        if kind == b'$' && content == b"?" {
            self.streamed = Some(Streamed { total: 0, keep });
            return Ok(());
        }
        let len = match parse_i64(content)? {
            -1 if kind == b'$' => {
                if self.reportable() {
                    sink.value(self.here(), Value::Null)?;
                }
                self.finish_value(true, sink);
                return Ok(());
            }
            n => u64::try_from(n).map_err(|_| RedisError::BadLength)?,
        };
        self.state = State::Payload {
            kind,
            len,
            left: len,
            keep,
        };
        Ok(())
    }

    /// `;N` of a `$?` string; `;0` ends it.
    fn streamed_part(&mut self, content: &[u8], sink: &mut impl Sink) -> Result<(), RedisError> {
        let Some(streamed) = self.streamed else {
            return Err(RedisError::BadTypeByte(b';'));
        };
        let len = u64::try_from(parse_i64(content)?).map_err(|_| RedisError::BadLength)?;
        if len > 0 {
            self.state = State::Payload {
                kind: b';',
                len,
                left: len,
                keep: streamed.keep,
            };
            return Ok(());
        }
        self.streamed = None;
        self.report_kept(b'$', streamed.total, sink)?;
        self.finish_value(true, sink);
        Ok(())
    }

    fn payload(&mut self, data: &mut &[u8], sink: &mut impl Sink) -> Result<(), RedisError> {
        let State::Payload {
            kind,
            len,
            left,
            keep,
        } = self.state
        else {
            return Ok(());
        };
        let available = data.len() as u64;
        if left == len && kind != b';' && self.kept_len == 0 && available >= len.saturating_add(2) {
            // The whole payload and its CRLF are in this read: report it in place.
            let n = len as usize;
            if &data[n..n + 2] != b"\r\n" {
                return Err(RedisError::MissingCrlf);
            }
            let bytes = &data[..n.min(keep)];
            *data = &data[n + 2..];
            self.state = State::TypeByte;
            sink.value(self.here(), Value::Text { kind, bytes, len })?;
            self.finish_value(true, sink);
            return Ok(());
        }
        let take = left.min(available) as usize;
        if self.kept_len < keep {
            let k = (keep - self.kept_len).min(take);
            self.kept[self.kept_len..self.kept_len + k].copy_from_slice(&data[..k]);
            self.kept_len += k;
        }
        *data = &data[take..];
        let left = left - take as u64;
        self.state = if left == 0 {
            State::PayloadEnd { kind, len, left: 2 }
        } else {
            State::Payload {
                kind,
                len,
                left,
                keep,
            }
        };
        Ok(())
    }

    fn payload_end(
        &mut self,
        b: u8,
        data: &mut &[u8],
        sink: &mut impl Sink,
    ) -> Result<(), RedisError> {
        let State::PayloadEnd { kind, len, left } = self.state else {
            return Ok(());
        };
        let expected = if left == 2 { b'\r' } else { b'\n' };
        if b != expected {
            return Err(RedisError::MissingCrlf);
        }
        *data = &data[1..];
        if left == 2 {
            self.state = State::PayloadEnd { kind, len, left: 1 };
            return Ok(());
        }
        self.bulk_done(kind, len, sink)
    }

    fn bulk_done(&mut self, kind: u8, len: u64, sink: &mut impl Sink) -> Result<(), RedisError> {
        self.state = State::TypeByte;
        if kind == b';' {
            if let Some(streamed) = &mut self.streamed {
                streamed.total = streamed.total.saturating_add(len);
            }
            return Ok(());
        }
        self.report_kept(kind, len, sink)?;
        self.finish_value(true, sink);
        Ok(())
    }

    fn report_kept(&mut self, kind: u8, len: u64, sink: &mut impl Sink) -> Result<(), RedisError> {
        let kept = self.kept_len;
        self.kept_len = 0;
        if !self.reportable() {
            return Ok(());
        }
        let value = Value::Text {
            kind,
            bytes: &self.kept[..kept],
            len,
        };
        sink.value(self.here(), value)
    }

    fn close_frame(&mut self) {
        if let Some(d) = self.depth.checked_sub(1) {
            if self.frames[d].kind == FrameKind::Attribute {
                self.attributes = self.attributes.saturating_sub(1);
            }
            self.depth = d;
        }
    }

    /// A value at the current depth is complete: count it in its aggregate, closing those
    /// that are full, and end the message at depth 0. `counts` is false for an attribute,
    /// which is not an element and does not end a message.
    fn finish_value(&mut self, mut counts: bool, sink: &mut impl Sink) {
        self.state = State::TypeByte;
        loop {
            let Some(d) = self.depth.checked_sub(1) else {
                if counts {
                    self.in_message = false;
                    sink.message_end();
                }
                return;
            };
            if counts && d == 0 {
                self.top_index += 1;
            }
            let frame = &mut self.frames[d];
            if frame.kind == FrameKind::Streamed {
                return;
            }
            if counts {
                frame.left = frame.left.saturating_sub(1);
            }
            if frame.left > 0 {
                return;
            }
            counts = frame.kind != FrameKind::Attribute;
            self.close_frame();
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A RESP length or count: an optional `-` and decimal digits, nothing else.
pub(super) fn parse_i64(text: &[u8]) -> Result<i64, RedisError> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(RedisError::BadLength);
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(RedisError::BadLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i64::from(d - b'0')))
            .ok_or(RedisError::BadLength)?;
    }
    Ok(if negative { -n } else { n })
}
