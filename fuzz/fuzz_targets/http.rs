//! Fuzzes the HTTP/1.x parser with arbitrary chunk sequences: it must never panic, and its
//! memory must stay within the limits whatever it is fed.
//!
//! Input layout, repeated: a control byte (bit 0: direction; bits 1..7: captured length, cut
//! to what is left), a gap byte (uncaptured bytes after the captured ones; 0xff also runs
//! expire), then the captured bytes. Small limits make the bounds easy to reach.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sonde::protocol::http::HttpParser;
use sonde::protocol::{Chunk, Direction, ParserLimits};

const MAX_HEADER_BYTES: usize = 256;
const MAX_PENDING: usize = 4;

fuzz_target!(|input: &[u8]| {
    let limits = ParserLimits {
        max_header_bytes: MAX_HEADER_BYTES,
        max_pending: MAX_PENDING,
        request_timeout: Duration::from_millis(50),
    };
    let mut parser = HttpParser::new(limits);
    let mut out = Vec::new();
    let mut ts_ns = 0u64;
    let mut rest = input;
    while let [control, gap, tail @ ..] = rest {
        let captured = usize::from(control >> 1).min(tail.len());
        let (data, after) = tail.split_at(captured);
        rest = after;
        ts_ns += 10_000_000;
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
            ts_ns,
            len: captured as u32 + gap_len,
            data,
        };
        parser.feed(&chunk, &mut out);
        if *gap == 0xff {
            parser.expire(ts_ns, &mut out);
        }
        assert!(parser.pending_len() <= MAX_PENDING);
        assert!(parser.streams_held_bytes() <= 2 * MAX_HEADER_BYTES);
        out.clear();
    }
    parser.expire(u64::MAX, &mut out);
    parser.close(u64::MAX, &mut out);
    assert_eq!(parser.pending_len(), 0);
});
