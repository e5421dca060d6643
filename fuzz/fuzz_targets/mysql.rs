//! Fuzzes the MySQL parser with arbitrary chunk sequences: it must never panic, and its
//! memory must stay within the limits whatever it is fed.
//!
//! Input layout: a first byte choosing the start (bit 0: the watched process is the client
//! or the server; bit 1: the handshake comes first, or the command phase), then, repeated:
//! a control byte (bit 0: direction; bits 1..7: captured length, cut to what is left), a
//! gap byte (uncaptured bytes after the captured ones; 0xff also runs expire), then the
//! captured bytes. Small limits make the bounds easy to reach.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sonde::protocol::mysql::MysqlParser;
use sonde::protocol::{Chunk, Direction, ParserLimits, Role};

const MAX_HEADER_BYTES: usize = 256;
const MAX_PENDING: usize = 4;
const MAX_STATEMENTS: usize = 1024;

fuzz_target!(|input: &[u8]| {
    let limits = ParserLimits {
        max_header_bytes: MAX_HEADER_BYTES,
        max_pending: MAX_PENDING,
        request_timeout: Duration::from_millis(50),
    };
    let Some((&start, mut rest)) = input.split_first() else {
        return;
    };
    let role = if start & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let mut parser = if start & 2 == 0 {
        MysqlParser::with_handshake(limits, role)
    } else {
        MysqlParser::mid_stream(limits, role)
    };
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
        assert!(parser.framers_held_bytes() <= 2 * MAX_HEADER_BYTES);
        assert!(parser.statements_len() <= MAX_STATEMENTS);
        out.clear();
    }
    parser.expire(u64::MAX, &mut out);
    parser.close(u64::MAX, &mut out);
    assert_eq!(parser.pending_len(), 0);
});
