//! The chunk layout every parser target shares: repeated, a control byte (bit 0: direction;
//! bits 1..7: captured length, cut to what is left), a gap byte (uncaptured bytes after the
//! captured ones; 0xff also runs expire), then the captured bytes. Small limits make the
//! bounds easy to reach.

#![allow(dead_code, reason = "not every target uses every part")]

use std::time::Duration;

use sonde::protocol::{Chunk, Direction, ParserLimits};

pub const MAX_HEADER_BYTES: usize = 256;
pub const MAX_PENDING: usize = 4;

pub fn limits() -> ParserLimits {
    ParserLimits {
        max_header_bytes: MAX_HEADER_BYTES,
        max_pending: MAX_PENDING,
        request_timeout: Duration::from_millis(50),
    }
}

/// The chunks of `input`, each with whether expire runs after it.
pub fn chunks(input: &[u8]) -> Chunks<'_> {
    Chunks {
        rest: input,
        ts_ns: 0,
    }
}

pub struct Chunks<'a> {
    rest: &'a [u8],
    ts_ns: u64,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = (Chunk<'a>, bool);

    fn next(&mut self) -> Option<Self::Item> {
        let [control, gap, tail @ ..] = self.rest else {
            return None;
        };
        let captured = usize::from(control >> 1).min(tail.len());
        let (data, after) = tail.split_at(captured);
        self.rest = after;
        self.ts_ns += 10_000_000;
        let direction = if control & 1 == 0 {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        // Gaps from a few bytes to a few MiB, so that both small and large skips happen.
        let gap_len = u32::from(*gap & 0x7f) << ((*gap >> 7) * 15);
        let chunk = Chunk {
            direction,
            tid: 1,
            ts_ns: self.ts_ns,
            len: captured as u32 + gap_len,
            data,
        };
        Some((chunk, *gap == 0xff))
    }
}
