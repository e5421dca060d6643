//! Message boundaries of one direction: headers collected across chunks, the bytes the parser
//! reads kept (bounded), everything else (DataRow, CopyData, passwords) skipped by count.
//!
//! A message is handed out as soon as its kept bytes are there, before the rest of its body
//! is skipped: a message whose kept part lies in one chunk is read in place, never copied.

use super::error::PgError;
use super::wire::{HEADER_LEN, MAX_STARTUP_LEN, Side, be_u32, length_fits};
use super::{backend, frontend};

/// Kept bytes beyond this capacity are freed once their message is done.
const RETAINED_CAPACITY: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Untyped start-up packets (`int32 len, int32 code, ...`), frontend only.
    Startup,
    /// One byte answering SSLRequest or GSSENCRequest, backend only.
    EncryptionAnswer,
    /// Typed messages (`byte type, int32 len, body`).
    Typed,
    /// The boundaries are lost; the parser looks for a way back in.
    Lost,
    /// Nothing more to read on this connection (TLS, GSS encryption, a cancel connection).
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FrameKind {
    Startup,
    EncryptionAnswer,
    Message,
}

/// One message, as far as the parser reads it.
#[derive(Debug)]
pub(super) struct Frame<'a> {
    pub kind: FrameKind,
    /// The type byte; the answer byte for `EncryptionAnswer`; 0 for start-up packets.
    pub tag: u8,
    /// The kept start of the body: all of it, or less when the body is longer than what the
    /// parser reads of this type or was not captured whole.
    pub body: &'a [u8],
    /// Time and thread of the chunk that carried the message's first byte.
    pub ts_ns: u64,
    pub tid: u32,
}

pub(super) enum Step<'a> {
    Frame(Frame<'a>),
    /// Bytes were used; no message is complete yet.
    Continue,
    /// The header just read is not one of this direction: sync is lost. `header` holds its
    /// bytes (they may belong to what comes next).
    Lost {
        error: PgError,
        header: LostHeader,
    },
}

/// The bytes of a header that did not make sense.
pub(super) struct LostHeader {
    bytes: [u8; HEADER_LEN],
    len: usize,
}

impl LostHeader {
    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What a gap (bytes moved but not captured) did.
pub(super) struct GapStep<'a> {
    /// A message whose kept part the gap cut short, handed out with what was kept.
    pub frame: Option<Frame<'a>>,
    pub lost: Option<PgError>,
}

#[derive(Debug)]
struct Message {
    kind: FrameKind,
    tag: u8,
    body_len: u32,
    /// Body bytes used so far (kept or skipped, captured or not).
    consumed: u32,
    /// How many body bytes the parser reads.
    keep: u32,
    delivered: bool,
    ts_ns: u64,
    tid: u32,
}

#[derive(Debug)]
pub(super) struct Framer {
    side: Side,
    pub mode: Mode,
    header: [u8; HEADER_LEN],
    header_len: usize,
    header_ts_ns: u64,
    header_tid: u32,
    message: Option<Message>,
    kept: Vec<u8>,
}

impl Framer {
    pub(super) fn new(side: Side, mode: Mode) -> Self {
        Self {
            side,
            mode,
            header: [0; HEADER_LEN],
            header_len: 0,
            header_ts_ns: 0,
            header_tid: 0,
            message: None,
            kept: Vec::new(),
        }
    }

    /// Bytes held: the kept part of the message in progress (at most the keep limit).
    pub(super) fn held_bytes(&self) -> usize {
        self.kept.capacity()
    }

    /// Back in sync at a message boundary.
    pub(super) fn resync(&mut self) {
        self.header_len = 0;
        self.message = None;
        self.release_kept();
        self.mode = Mode::Typed;
    }

    fn release_kept(&mut self) {
        self.kept.clear();
        if self.kept.capacity() > RETAINED_CAPACITY {
            self.kept = Vec::new();
        }
    }

    /// Kept bytes of a message already handed out are not needed any more.
    fn drop_stale_kept(&mut self) {
        if !self.kept.is_empty() && self.message.as_ref().is_none_or(|m| m.delivered) {
            self.release_kept();
        }
    }

    fn lose(&mut self, error: PgError) -> PgError {
        self.mode = Mode::Lost;
        self.header_len = 0;
        self.message = None;
        error
    }

    /// Reads from `input` up to the next event. Returns how many bytes were used.
    pub(super) fn next<'s>(
        &'s mut self,
        input: &'s [u8],
        ts_ns: u64,
        tid: u32,
        keep_limit: usize,
    ) -> (usize, Step<'s>) {
        self.drop_stale_kept();
        match self.mode {
            Mode::Lost | Mode::Off => return (input.len(), Step::Continue),
            Mode::EncryptionAnswer => return self.answer(input, ts_ns, tid),
            Mode::Startup | Mode::Typed => {}
        }
        if self.message.as_ref().is_some_and(|m| m.delivered) {
            return (self.skip_body(input.len() as u64) as usize, Step::Continue);
        }
        if self.message.is_some() {
            return self.keep_body(input);
        }
        self.read_header(input, ts_ns, tid, keep_limit)
    }

    fn answer<'s>(&mut self, input: &'s [u8], ts_ns: u64, tid: u32) -> (usize, Step<'s>) {
        match input.first() {
            Some(&tag @ (b'S' | b'N' | b'G')) => (
                1,
                Step::Frame(Frame {
                    kind: FrameKind::EncryptionAnswer,
                    tag,
                    body: &[],
                    ts_ns,
                    tid,
                }),
            ),
            Some(_) => {
                // Not an answer byte: a server too old for the request answers with an
                // ErrorResponse, a typed message.
                self.mode = Mode::Typed;
                (0, Step::Continue)
            }
            None => (0, Step::Continue),
        }
    }

    /// Skips up to `n` body bytes of the delivered message; returns how many it used.
    fn skip_body(&mut self, n: u64) -> u64 {
        let Some(m) = self.message.as_mut() else {
            return 0;
        };
        let left = u64::from(m.body_len - m.consumed);
        let used = left.min(n);
        m.consumed += used as u32;
        if m.consumed == m.body_len {
            self.message = None;
        }
        used
    }

    fn keep_body<'s>(&'s mut self, input: &'s [u8]) -> (usize, Step<'s>) {
        let Some(m) = self.message.as_mut() else {
            return (0, Step::Continue);
        };
        let want = (m.keep as usize).saturating_sub(self.kept.len());
        if self.kept.is_empty() && input.len() >= want {
            m.consumed += want as u32;
            m.delivered = true;
            let frame = frame_of(m, &input[..want]);
            if m.consumed == m.body_len {
                self.message = None;
            }
            return (want, Step::Frame(frame));
        }
        let take = want.min(input.len());
        if self.kept.is_empty() {
            self.kept.reserve_exact(m.keep as usize);
        }
        self.kept.extend_from_slice(&input[..take]);
        m.consumed += take as u32;
        if self.kept.len() < m.keep as usize {
            return (take, Step::Continue);
        }
        m.delivered = true;
        let frame = frame_of(m, &self.kept);
        if m.consumed == m.body_len {
            self.message = None;
        }
        (take, Step::Frame(frame))
    }

    fn read_header<'s>(
        &'s mut self,
        input: &'s [u8],
        ts_ns: u64,
        tid: u32,
        keep_limit: usize,
    ) -> (usize, Step<'s>) {
        let size = if self.mode == Mode::Startup {
            4
        } else {
            HEADER_LEN
        };
        if self.header_len == 0 {
            self.header_ts_ns = ts_ns;
            self.header_tid = tid;
        }
        let take = (size - self.header_len).min(input.len());
        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
        self.header_len += take;
        if self.header_len < size {
            return (take, Step::Continue);
        }
        let header = LostHeader {
            bytes: self.header,
            len: size,
        };
        let (kind, tag, len) = if self.mode == Mode::Startup {
            let len = be_u32(&self.header).unwrap_or(0);
            if !(8..=MAX_STARTUP_LEN).contains(&len) {
                let error = self.lose(PgError::BadStartupLength { len });
                return (take, Step::Lost { error, header });
            }
            (FrameKind::Startup, 0, len)
        } else {
            let tag = self.header[0];
            let len = be_u32(&self.header[1..]).unwrap_or(0);
            if !length_fits(self.side, tag, len) {
                let side = self.side;
                let error = self.lose(PgError::BadHeader { side, tag, len });
                return (take, Step::Lost { error, header });
            }
            (FrameKind::Message, tag, len)
        };
        self.header_len = 0;
        let body_len = len - 4;
        let keep = match (self.side, kind) {
            (_, FrameKind::Startup) => body_len as usize,
            (Side::Frontend, _) => frontend::keep_len(tag, body_len as usize),
            (Side::Backend, _) => backend::keep_len(tag, body_len as usize),
        }
        .min(keep_limit)
        .min(body_len as usize) as u32;
        let m = Message {
            kind,
            tag,
            body_len,
            consumed: 0,
            keep,
            delivered: keep == 0,
            ts_ns: self.header_ts_ns,
            tid: self.header_tid,
        };
        if keep > 0 {
            self.message = Some(m);
            return (take, Step::Continue);
        }
        let frame = frame_of(&m, &[]);
        if body_len > 0 {
            self.message = Some(m);
        }
        (take, Step::Frame(frame))
    }

    /// `n` bytes moved that were not captured.
    pub(super) fn skip_gap(&mut self, n: u64) -> GapStep<'_> {
        self.drop_stale_kept();
        let mut step = GapStep {
            frame: None,
            lost: None,
        };
        match self.mode {
            Mode::Lost | Mode::Off => return step,
            Mode::EncryptionAnswer => {
                step.lost = Some(self.lose(PgError::GapInAnswer));
                return step;
            }
            Mode::Startup | Mode::Typed => {}
        }
        let Some(m) = self.message.as_mut() else {
            let side = self.side;
            step.lost = Some(self.lose(PgError::GapInHeader { side }));
            return step;
        };
        let cut_short = !m.delivered;
        m.delivered = true;
        let left = u64::from(m.body_len - m.consumed);
        if n > left {
            let side = self.side;
            step.lost = Some(PgError::GapInHeader { side });
            self.mode = Mode::Lost;
            self.header_len = 0;
        }
        let used = left.min(n);
        m.consumed += used as u32;
        let done = m.consumed == m.body_len;
        if cut_short {
            step.frame = Some(frame_of(m, &self.kept));
        }
        if done {
            self.message = None;
        }
        step
    }
}

fn frame_of<'a>(m: &Message, body: &'a [u8]) -> Frame<'a> {
    Frame {
        kind: m.kind,
        tag: m.tag,
        body,
        ts_ns: m.ts_ns,
        tid: m.tid,
    }
}
