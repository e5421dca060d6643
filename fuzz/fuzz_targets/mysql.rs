//! Fuzzes the MySQL parser with arbitrary chunk sequences: it must never panic, and its
//! memory must stay within the limits whatever it is fed.
//!
//! Input layout: a first byte choosing the start (bit 0: the watched process is the client
//! or the server; bit 1: the handshake comes first, or the command phase), then, repeated:
//! a control byte (bit 0: direction; bits 1..7: captured length, cut to what is left), a
//! gap byte (uncaptured bytes after the captured ones; 0xff also runs expire), then the
//! captured bytes. Small limits make the bounds easy to reach.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sonde::protocol::Role;
use sonde::protocol::mysql::MysqlParser;

use common::{MAX_HEADER_BYTES, MAX_PENDING};

const MAX_STATEMENTS: usize = 1024;

fuzz_target!(|input: &[u8]| {
    let limits = common::limits();
    let Some((&start, rest)) = input.split_first() else {
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
    for (chunk, expire) in common::chunks(rest) {
        parser.feed(&chunk, &mut out);
        if expire {
            parser.expire(chunk.ts_ns, &mut out);
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
