//! The unfinished head of one direction, kept across chunks.
//!
//! A head that lies whole inside one chunk is parsed in place and never copied; only the
//! start of a head that continues in a later chunk is kept here, and never more than the
//! head limit.

use super::detect::{HeadKind, plausible_start};
use super::error::HttpError;
use super::head::{Head, Parsed, parse_head};

/// Capacity kept between heads; a buffer grown beyond this by a rare large head is freed.
const RETAINED_CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct HeadBuffer {
    bytes: Vec<u8>,
    start_ts_ns: u64,
    start_tid: u32,
}

/// What offering bytes to the head in progress came to.
#[derive(Debug)]
pub(super) enum HeadStep {
    /// All the bytes were kept; the head continues in a later chunk.
    NeedMore,
    /// A whole head; `used` bytes of the offered ones belonged to it.
    Complete {
        head: Head,
        used: usize,
        start_ts_ns: u64,
        start_tid: u32,
    },
    /// No head can be made of these bytes. `carried` says whether bytes kept from earlier
    /// chunks took part (so the current chunk on its own may still start a head).
    Failed { error: HttpError, carried: bool },
}

impl HeadBuffer {
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes kept so far (for what can be salvaged from a head that fails).
    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Time and thread of the chunk that carried the first kept byte.
    pub(super) fn start(&self) -> (u64, u32) {
        (self.start_ts_ns, self.start_tid)
    }

    pub(super) fn held_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        if self.bytes.capacity() > RETAINED_CAPACITY {
            self.bytes = Vec::new();
        }
    }

    /// Appends, growing the allocation geometrically but never past `max_bytes`.
    fn append(&mut self, bytes: &[u8], max_bytes: usize) {
        let needed = self.bytes.len() + bytes.len();
        if needed > self.bytes.capacity() {
            let target = needed
                .max(self.bytes.capacity() * 2)
                .min(max_bytes.max(needed));
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(bytes);
    }

    /// Offers `rest`, the next bytes of a chunk, to the head in progress.
    pub(super) fn offer(
        &mut self,
        rest: &[u8],
        ts_ns: u64,
        tid: u32,
        kind: Option<HeadKind>,
        max_bytes: usize,
    ) -> HeadStep {
        if self.bytes.is_empty() {
            self.offer_fresh(rest, ts_ns, tid, kind, max_bytes)
        } else {
            self.offer_continued(rest, kind, max_bytes)
        }
    }

    /// No bytes kept: parse in place, and keep the bytes only if the head goes on.
    fn offer_fresh(
        &mut self,
        rest: &[u8],
        ts_ns: u64,
        tid: u32,
        kind: Option<HeadKind>,
        max_bytes: usize,
    ) -> HeadStep {
        let window = rest.get(..max_bytes).unwrap_or(rest);
        match parse_head(window, kind) {
            Ok(Parsed::Complete(head, used)) => HeadStep::Complete {
                head,
                used,
                start_ts_ns: ts_ns,
                start_tid: tid,
            },
            Ok(Parsed::Partial) if rest.len() >= max_bytes => HeadStep::Failed {
                error: HttpError::HeadTooLarge { limit: max_bytes },
                carried: false,
            },
            Ok(Parsed::Partial) => {
                self.append(rest, max_bytes);
                self.start_ts_ns = ts_ns;
                self.start_tid = tid;
                HeadStep::NeedMore
            }
            Err(error) => HeadStep::Failed {
                error,
                carried: false,
            },
        }
    }

    /// Bytes kept from earlier chunks: append (up to the limit) and parse the whole.
    fn offer_continued(
        &mut self,
        rest: &[u8],
        kind: Option<HeadKind>,
        max_bytes: usize,
    ) -> HeadStep {
        let kept = self.bytes.len();
        let room = max_bytes.saturating_sub(kept);
        self.append(rest.get(..room).unwrap_or(rest), max_bytes);
        // A head ends with an empty line. Re-parsing the whole buffer only when the new bytes
        // (with the two before them, where the end may straddle) hold one keeps a head sent
        // a byte at a time linear, not quadratic, in its length.
        let new_tail = self.bytes.get(kept.saturating_sub(2)..).unwrap_or_default();
        if !has_empty_line_end(new_tail) {
            let error = if !plausible_start(&self.bytes, kind) {
                HttpError::NotHttp
            } else if self.bytes.len() >= max_bytes {
                HttpError::HeadTooLarge { limit: max_bytes }
            } else {
                return HeadStep::NeedMore;
            };
            return HeadStep::Failed {
                error,
                carried: true,
            };
        }
        match parse_head(&self.bytes, kind) {
            Ok(Parsed::Complete(head, used)) => {
                let step = HeadStep::Complete {
                    head,
                    used: used.saturating_sub(kept),
                    start_ts_ns: self.start_ts_ns,
                    start_tid: self.start_tid,
                };
                self.clear();
                step
            }
            Ok(Parsed::Partial) if self.bytes.len() >= max_bytes => HeadStep::Failed {
                error: HttpError::HeadTooLarge { limit: max_bytes },
                carried: true,
            },
            Ok(Parsed::Partial) => HeadStep::NeedMore,
            Err(error) => HeadStep::Failed {
                error,
                carried: true,
            },
        }
    }
}

/// Whether `bytes` hold the end of a header section: a line end followed by an empty line
/// (`\n\n` or `\n\r\n`).
fn has_empty_line_end(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| {
        b == b'\n'
            && match bytes.get(i + 1) {
                Some(b'\n') => true,
                Some(b'\r') => bytes.get(i + 2) == Some(&b'\n'),
                _ => false,
            }
    })
}
