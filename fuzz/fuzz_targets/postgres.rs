//! Fuzzes the PostgreSQL parser with arbitrary chunk sequences: it must never panic, and its
//! memory must stay within the limits whatever it is fed.
//!
//! Input layout: one byte choosing how the connection opens (bit 0: at its start-up or
//! mid-stream; bit 1: the watched process is the client or the server), then, repeated: a
//! control byte (bit 0: direction; bits 1..7: captured length, cut to what is left), a gap
//! byte (uncaptured bytes after the captured ones; 0xff also runs expire), then the
//! captured bytes. Small limits make the bounds easy to reach.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sonde::protocol::postgres::{Opening, PostgresParser};
use sonde::protocol::{Direction, ProtocolParser};

use common::{MAX_HEADER_BYTES, MAX_PENDING};

fuzz_target!(|input: &[u8]| {
    let Some((&how, rest)) = input.split_first() else {
        return;
    };
    let limits = common::limits();
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
    for (chunk, expire) in common::chunks(rest) {
        parser.feed(&chunk, &mut out);
        if expire {
            parser.expire(chunk.ts_ns, &mut out);
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
