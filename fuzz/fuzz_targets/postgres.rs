//! Fuzzes the PostgreSQL parser with arbitrary chunk sequences: it must never panic, and its
//! memory must stay within the limits whatever it is fed.
//!
//! Input layout: one byte choosing how the connection opens (bit 0: at its start-up or
//! mid-stream; bit 1: the watched process is the client or the server), then, repeated: a
//! control byte (bit 0: direction; bits 1..7: captured length, cut to what is left), a gap
//! byte (uncaptured bytes after the captured ones; 0xff also runs expire), then the
//! captured bytes. Small limits make the bounds easy to reach.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sonde::protocol::postgres::{Opening, PostgresParser};
use sonde::protocol::{Chunk, Direction, ParserLimits, ProtocolParser};

const MAX_HEADER_BYTES: usize = 256;
const MAX_PENDING: usize = 4;

fuzz_target!(|input: &[u8]| {
    let Some((&how, mut rest)) = input.split_first() else {
        return;
    };
    let limits = ParserLimits {
        max_header_bytes: MAX_HEADER_BYTES,
        max_pending: MAX_PENDING,
        request_timeout: Duration::from_millis(50),
    };
    let opening = if how & 1 == 0 {
        Opening::Startup
    } else {
        Opening::MidStream
    };
    let frontend = if how & 2 == 0 {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let mut parser = PostgresParser::new(limits, frontend, opening);
    let mut out = Vec::new();
    let mut ts_ns = 0u64;
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
        // Two kept message starts and the resynchronisation window (twice its size while
        // scanning), each bounded by the header limit.
        assert!(parser.held_bytes() <= 4 * MAX_HEADER_BYTES);
        out.clear();
    }
    parser.expire(u64::MAX, &mut out);
    parser.close(u64::MAX, &mut out);
    assert_eq!(parser.pending_len(), 0);
});
