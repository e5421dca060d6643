//! Behaviour of the whole parser that the golden fixtures do not pin down: bounds on
//! memory and queues, garbage, silence after lost bytes.

use std::time::Duration;

use super::parser::MysqlParser;
use super::statements::MAX_STATEMENTS;
use crate::protocol::{Chunk, DbExchange, Direction, Incomplete, ParserLimits, Role};

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    v.push(seq);
    v.extend_from_slice(payload);
    v
}

fn eof(seq: u8) -> Vec<u8> {
    packet(seq, b"\xfe\x00\x00\x02\x00")
}

/// Column count 1, one definition, EOF: the start of a one-column result.
fn result_head() -> Vec<u8> {
    let mut v = packet(1, b"\x01");
    v.extend(packet(
        2,
        b"\x03def\x00\x00\x00\x01a\x00\x0c?\x00\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00",
    ));
    v.extend(eof(3));
    v
}

struct Conn {
    parser: MysqlParser,
    ts: u64,
    out: Vec<DbExchange>,
}

impl Conn {
    fn client(limits: ParserLimits) -> Self {
        Self {
            parser: MysqlParser::mid_stream(limits, Role::Client),
            ts: 0,
            out: Vec::new(),
        }
    }

    fn send(&mut self, direction: Direction, data: &[u8], gap: u32) {
        self.ts += 1000;
        let chunk = Chunk {
            direction,
            tid: 1,
            ts_ns: self.ts,
            len: data.len() as u32 + gap,
            data,
        };
        self.parser.feed(&chunk, &mut self.out);
    }

    fn write(&mut self, data: &[u8]) {
        self.send(Direction::Egress, data, 0);
    }

    fn read(&mut self, data: &[u8]) {
        self.send(Direction::Ingress, data, 0);
    }
}

fn query(sql: &str) -> Vec<u8> {
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    packet(0, &payload)
}

#[test]
fn prepared_statements_are_bounded_and_counted() {
    let mut c = Conn::client(ParserLimits::default());
    for id in 0..(MAX_STATEMENTS as u32 + 100) {
        c.write(&packet(0, b"\x16SELECT 1"));
        let mut ok = vec![0x00];
        ok.extend(id.to_le_bytes());
        ok.extend([0, 0, 0, 0, 0, 0, 0]);
        c.read(&packet(1, &ok));
    }
    assert_eq!(c.parser.statements_len(), MAX_STATEMENTS);
    assert_eq!(c.parser.stats().statements_evicted, 100);
    assert!(c.out.is_empty(), "prepares are not reported");
}

#[test]
fn pending_commands_are_bounded() {
    let limits = ParserLimits {
        max_pending: 4,
        ..ParserLimits::default()
    };
    let mut c = Conn::client(limits);
    for _ in 0..50 {
        c.write(&query("SELECT 1"));
        assert!(c.parser.pending_len() <= 4);
    }
    assert_eq!(c.parser.stats().pending_overflows, 46);
    assert_eq!(c.out.len(), 46);
    assert!(
        c.out
            .iter()
            .all(|x| x.incomplete == Some(Incomplete::Desync))
    );
}

#[test]
fn a_huge_query_keeps_at_most_the_limit() {
    let limits = ParserLimits {
        max_header_bytes: 1024,
        ..ParserLimits::default()
    };
    let mut c = Conn::client(limits);
    let sql = format!("INSERT INTO t VALUES ('{}')", "v".repeat(200_000));
    for piece in query(&sql).chunks(1000) {
        c.write(piece);
        assert!(c.parser.framers_held_bytes() <= 1024);
    }
    c.read(&packet(1, b"\x00\x01\x00\x02\x00\x00\x00"));
    assert_eq!(c.out.len(), 1);
    let x = &c.out[0];
    assert_eq!(x.rows, Some(1));
    assert_eq!(x.operation.as_deref(), Some("INSERT"));
    assert!(x.query_text.as_ref().is_some_and(|t| !t.contains('v')));
}

#[test]
fn rows_are_counted_never_kept() {
    let mut c = Conn::client(ParserLimits::default());
    c.write(&query("SELECT a FROM t"));
    c.read(&result_head());
    let mut row = vec![0xfd];
    row.extend(100_000u32.to_le_bytes()[..3].iter());
    row.extend(std::iter::repeat_n(b'r', 100_000));
    let row = packet(4, &row);
    for _ in 0..3 {
        for piece in row.chunks(700) {
            c.read(piece);
            // Only a row's first byte is looked at, in place.
            assert!(c.parser.framers_held_bytes() <= 16);
        }
    }
    c.read(&eof(5));
    assert_eq!(c.out.len(), 1);
    assert_eq!(c.out[0].rows, Some(3));
}

#[test]
fn an_answer_lost_in_a_gap_ends_when_the_stream_goes_silent() {
    let limits = ParserLimits {
        request_timeout: Duration::from_millis(1),
        ..ParserLimits::default()
    };
    let mut c = Conn::client(limits);
    c.write(&query("SELECT a FROM t"));
    let head = result_head();
    c.send(Direction::Ingress, &head, 50_000);
    let last_bytes = c.ts;
    assert!(c.out.is_empty());
    c.parser.expire(last_bytes + 2_000_000, &mut c.out);
    assert_eq!(c.out.len(), 1);
    assert_eq!(c.out[0].incomplete, None);
    assert_eq!(c.out[0].rows, None);
    assert_eq!(c.out[0].end_ns, last_bytes);
    // The framing starts again with the next answer.
    c.write(&query("SELECT b FROM t"));
    c.read(&packet(1, b"\x00\x00\x00\x02\x00\x00\x00"));
    assert_eq!(c.out.len(), 2);
    assert_eq!(c.out[1].rows, Some(0));
}

#[test]
fn an_err_at_the_end_of_lost_bytes_ends_the_answer() {
    let mut c = Conn::client(ParserLimits::default());
    c.write(&query("SELECT a FROM t"));
    let mut head = result_head();
    head.extend(packet(4, b"\x01x"));
    c.send(Direction::Ingress, &head, 10_000);
    let mut tail = b"rrrr".to_vec();
    tail.extend(packet(
        9,
        b"\xff\x25\x05#70100Query execution was interrupted",
    ));
    c.read(&tail);
    assert_eq!(c.out.len(), 1);
    let err = c.out[0].error.as_ref().expect("error");
    assert_eq!(err.code, "1317");
    assert_eq!(c.out[0].incomplete, None);
}

#[test]
fn an_answer_that_makes_no_sense_is_a_desync_until_the_next_command() {
    let mut c = Conn::client(ParserLimits::default());
    c.write(&query("SELECT a FROM t"));
    // A column count, then something that is no column definition.
    let mut bad = packet(1, b"\x01");
    bad.extend(packet(2, b"\x42nonsense"));
    bad.extend(packet(3, b"\x00\x00\x00\x02\x00\x00\x00"));
    c.read(&bad);
    assert_eq!(c.out.len(), 1);
    assert_eq!(c.out[0].incomplete, Some(Incomplete::Desync));
    assert_eq!(c.parser.stats().desyncs, 1);
    c.write(&query("SELECT b FROM t"));
    c.read(&packet(1, b"\x00\x00\x00\x02\x00\x00\x00"));
    assert_eq!(c.out.len(), 2);
    assert_eq!(c.out[1].incomplete, None);
}

#[test]
fn unknown_commands_are_counted_not_queued() {
    let mut c = Conn::client(ParserLimits::default());
    c.write(&packet(0, b"\x99junk"));
    assert_eq!(c.parser.pending_len(), 0);
    assert_eq!(c.parser.stats().unknown_commands, 1);
}

#[test]
fn a_command_after_a_gap_over_its_header_is_found_at_the_next_write() {
    let mut c = Conn::client(ParserLimits::default());
    // A first write cut short: its header is captured, the rest and the next packet's
    // header are not.
    let q = query("SELECT 1");
    c.send(Direction::Egress, &q[..6], (q.len() - 6) as u32 + 20);
    c.read(&packet(1, b"\x00\x00\x00\x02\x00\x00\x00"));
    assert_eq!(c.out.len(), 1);
    c.write(&query("SELECT 2"));
    c.read(&packet(1, b"\x00\x00\x00\x02\x00\x00\x00"));
    assert_eq!(c.out.len(), 2);
    assert_eq!(c.out[1].query_text.as_deref(), Some("SELECT ?"));
}

/// xorshift64*, for reproducible garbage.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    let limits = ParserLimits {
        max_header_bytes: 256,
        max_pending: 4,
        request_timeout: Duration::from_millis(1),
    };
    for seed in 0..200u64 {
        for role in [Role::Client, Role::Server] {
            for handshake in [false, true] {
                let mut parser = if handshake {
                    MysqlParser::with_handshake(limits, role)
                } else {
                    MysqlParser::mid_stream(limits, role)
                };
                let bytes = garbage(seed, 4096);
                let mut out = Vec::new();
                for (i, piece) in bytes.chunks(1 + (seed as usize % 97)).enumerate() {
                    let direction = if (i + seed as usize).is_multiple_of(3) {
                        Direction::Ingress
                    } else {
                        Direction::Egress
                    };
                    let gap = if i % 7 == 3 { piece[0] as u32 * 13 } else { 0 };
                    let chunk = Chunk {
                        direction,
                        tid: 1,
                        ts_ns: i as u64 * 1_000_000,
                        len: piece.len() as u32 + gap,
                        data: piece,
                    };
                    parser.feed(&chunk, &mut out);
                    assert!(parser.pending_len() <= 4);
                    assert!(parser.framers_held_bytes() <= 2 * 256);
                    assert!(parser.statements_len() <= MAX_STATEMENTS);
                    parser.expire(i as u64 * 1_000_000, &mut out);
                }
                parser.close(u64::MAX, &mut out);
                assert_eq!(parser.pending_len(), 0);
            }
        }
    }
}

#[test]
fn a_write_after_lost_bytes_that_starts_like_a_command_resumes_the_framing() {
    let mut c = Conn::client(ParserLimits::default());
    let mut two = query("SELECT 1");
    two.extend(query("SELECT 2"));
    // The capture keeps the first command's start; the gap hides the second's header.
    c.send(Direction::Egress, &two[..6], (two.len() - 6) as u32);
    assert_eq!(c.parser.pending_len(), 1);
    assert_eq!(c.parser.stats().framing_lost, 1);
    // The next write, read a byte at a time, starts with a command.
    for byte in query("SELECT 3").chunks(1) {
        c.write(byte);
    }
    assert_eq!(c.parser.pending_len(), 2);
    // A next write that is no command does not resume it.
    c.send(Direction::Egress, b"abc", 100);
    c.write(b"\x01\x00\x00\x07\x03z");
    assert_eq!(c.parser.pending_len(), 2);
}
