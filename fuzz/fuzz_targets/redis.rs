//! Fuzzes the Redis parser with arbitrary chunk sequences: it must never panic, and its
//! memory must stay within the limits whatever it is fed.
//!
//! Input layout: a role byte (bit 0: client or server), then, repeated: a control byte
//! (bit 0: direction; bits 1..7: captured length, cut to what is left), a gap byte
//! (uncaptured bytes after the captured ones; 0xff also runs expire), then the captured
//! bytes. Small limits make the bounds easy to reach.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use sonde::protocol::Role;
use sonde::protocol::redis::RedisParser;

use common::{MAX_HEADER_BYTES, MAX_PENDING};

fuzz_target!(|input: &[u8]| {
    let Some((&role, rest)) = input.split_first() else {
        return;
    };
    let limits = common::limits();
    let role = if role & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let mut parser = RedisParser::new(limits, role);
    let mut out = Vec::new();
    for (chunk, expire) in common::chunks(rest) {
        parser.feed(&chunk, &mut out);
        if expire {
            parser.expire(chunk.ts_ns, &mut out);
        }
        assert!(parser.pending_len() <= MAX_PENDING);
        assert!(parser.streams_held_bytes() <= 2 * MAX_HEADER_BYTES);
        out.clear();
    }
    parser.expire(u64::MAX, &mut out);
    parser.close(u64::MAX, &mut out);
    assert_eq!(parser.pending_len(), 0);
});
