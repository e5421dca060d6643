//! The way back into a backend stream after lost boundaries: the capture keeps only the
//! start of each syscall's bytes, so a large result set read in big pieces loses the headers
//! in the uncaptured tails. ReadyForQuery (`Z 00 00 00 05` + `I`/`T`/`E`) ends every answer
//! and is distinctive, so the captured bytes are searched for it; right after it a message
//! starts. The message just before it (CommandComplete or ErrorResponse, found by its length
//! field pointing exactly at the `Z`) tells how the last operation ended.
//!
//! The search runs over the captured bytes as one stream (a window of the last bytes is kept
//! across chunks, and dropped at a gap), so where the syscalls cut the stream does not matter.

use super::backend;
use super::wire::{Side, be_u32, length_fits};
use crate::protocol::DbError;

const READY_PREFIX: [u8; 5] = [b'Z', 0, 0, 0, 5];
const READY_LEN: usize = 6;
/// Bytes of window kept between chunks (what the message before `Z` may span).
const WINDOW_BYTES: usize = 512;

/// How the answer that a found ReadyForQuery ends finished, as far as the bytes before it say.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Before {
    /// A CommandComplete, with the tag's row count.
    Complete(Option<u64>),
    Error(DbError),
    /// Something else, or nothing readable.
    Unknown,
}

#[derive(Debug)]
pub(super) struct ReadyHit {
    /// Bytes of the chunk used, up to the end of the ReadyForQuery.
    pub consumed: usize,
    pub before: Before,
}

#[derive(Debug)]
pub(super) struct ReadyScanner {
    window: Vec<u8>,
    keep: usize,
}

impl ReadyScanner {
    pub(super) fn new(max_bytes: usize) -> Self {
        Self {
            window: Vec::new(),
            keep: WINDOW_BYTES.min(max_bytes).max(READY_LEN),
        }
    }

    pub(super) fn held_bytes(&self) -> usize {
        self.window.capacity()
    }

    /// Bytes not captured: the window no longer ends where the next bytes start.
    pub(super) fn reset(&mut self) {
        self.window.clear();
    }

    /// Frees the window (back in sync).
    pub(super) fn release(&mut self) {
        self.window = Vec::new();
    }

    /// Looks for a ReadyForQuery in `data`, the next captured bytes.
    pub(super) fn scan(&mut self, data: &[u8]) -> Option<ReadyHit> {
        if self.window.capacity() == 0 {
            self.window.reserve_exact(2 * self.keep);
        }
        let mut used = 0;
        while used < data.len() {
            let piece = &data[used..data.len().min(used + self.keep)];
            let old = self.window.len();
            self.window.extend_from_slice(piece);
            let from = old.saturating_sub(READY_LEN - 1);
            let found = self.window[from..]
                .windows(READY_LEN)
                .position(|w| w[..5] == READY_PREFIX && backend::is_ready_status(w[5]));
            if let Some(at) = found.map(|p| p + from) {
                let consumed = used + (at + READY_LEN - old);
                let before = message_ending_at(&self.window[..at]);
                self.release();
                return Some(ReadyHit { consumed, before });
            }
            used += piece.len();
            let excess = self.window.len().saturating_sub(self.keep);
            self.window.drain(..excess);
        }
        None
    }
}

/// The CommandComplete or ErrorResponse that ends exactly at the end of `bytes`: the last
/// position whose length field reaches the end, checked as such a message.
fn message_ending_at(bytes: &[u8]) -> Before {
    let end = bytes.len();
    for start in (0..end.saturating_sub(4)).rev() {
        let tag = bytes[start];
        let Some(len) = be_u32(&bytes[start + 1..]) else {
            continue;
        };
        if len as usize != end - start - 1 || !length_fits(Side::Backend, tag, len) {
            continue;
        }
        let body = &bytes[start + 5..];
        match tag {
            b'C' if backend::is_command_tag(body) => {
                return Before::Complete(backend::command_rows(body));
            }
            b'E' if backend::is_error_fields(body) => return Before::Error(backend::error(body)),
            b'C' | b'E' => {}
            _ => return Before::Unknown,
        }
    }
    Before::Unknown
}
