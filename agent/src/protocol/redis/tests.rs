//! Unit tests of the whole parser on small hand-made conversations (the golden fixtures in
//! agent/tests/fixtures/redis cover recorded ones).

use std::time::Duration;

use super::RedisParser;
use crate::protocol::{Chunk, DbExchange, Direction, Exchange, Incomplete, ParserLimits, Role};

const OUT: Direction = Direction::Egress;
const IN: Direction = Direction::Ingress;

struct Conn {
    parser: RedisParser,
    ts: u64,
    out: Vec<Exchange>,
}

impl Conn {
    fn client() -> Self {
        Self::with(ParserLimits::default(), Role::Client)
    }

    fn with(limits: ParserLimits, role: Role) -> Self {
        Self {
            parser: RedisParser::new(limits, role),
            ts: 0,
            out: Vec::new(),
        }
    }

    /// One chunk of `data` plus `gap` uncaptured bytes, 1000 ns after the previous one.
    fn gap(&mut self, direction: Direction, data: &[u8], gap: u32) -> &mut Self {
        self.ts += 1000;
        let chunk = Chunk {
            direction,
            tid: 7,
            ts_ns: self.ts,
            len: data.len() as u32 + gap,
            data,
        };
        self.parser.feed(&chunk, &mut self.out);
        self
    }

    fn send(&mut self, direction: Direction, data: &[u8]) -> &mut Self {
        self.gap(direction, data, 0)
    }

    fn take(&mut self) -> Vec<DbExchange> {
        self.out
            .drain(..)
            .map(|x| match x {
                Exchange::Db(x) => x,
                Exchange::Http(_) => panic!("not a db exchange"),
            })
            .collect()
    }
}

fn ops(xs: &[DbExchange]) -> Vec<&str> {
    xs.iter()
        .map(|x| x.operation.as_deref().unwrap_or("-"))
        .collect()
}

fn texts(xs: &[DbExchange]) -> Vec<&str> {
    xs.iter()
        .map(|x| x.query_text.as_deref().unwrap_or("-"))
        .collect()
}

#[test]
fn one_command_one_exchange() {
    let mut c = Conn::client();
    c.send(OUT, b"*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nalice\r\n")
        .send(IN, b"+OK\r\n");
    let xs = c.take();
    assert_eq!(xs.len(), 1);
    let x = &xs[0];
    assert_eq!(x.operation.as_deref(), Some("SET"));
    assert_eq!(x.query_text.as_deref(), Some("SET user:1 ?"));
    assert_eq!(x.namespace.as_deref(), Some("0"));
    assert_eq!((x.start_ns, x.end_ns, x.tid), (1000, 2000, 7));
    assert_eq!(x.role, Role::Client);
    assert!(x.error.is_none() && x.incomplete.is_none());
}

#[test]
fn pipelined_commands_end_at_their_own_replies() {
    let mut c = Conn::client();
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$2\r\nk{}\r\n", i % 10).as_bytes());
    }
    c.send(OUT, &batch);
    c.send(IN, &b"$1\r\nv\r\n".repeat(5));
    c.send(IN, &b"$-1\r\n".repeat(15));
    let xs = c.take();
    assert_eq!(xs.len(), 20);
    assert!(xs[..5].iter().all(|x| x.end_ns == 2000));
    assert!(xs[5..].iter().all(|x| x.end_ns == 3000));
    assert_eq!(xs[19].query_text.as_deref(), Some("GET k9"));
}

#[test]
fn resp3_pushes_do_not_take_a_reply_turn() {
    let mut c = Conn::client();
    c.send(OUT, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .send(IN, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n")
        .send(IN, b"|1\r\n+ttl\r\n:3\r\n%1\r\n+a\r\n,1.5\r\n");
    let xs = c.take();
    assert_eq!(xs.len(), 1);
    assert_eq!(xs[0].end_ns, 3000);
    assert_eq!(c.parser.stats().pushes, 1);
}

#[test]
fn resp2_subscriber_messages_are_not_replies() {
    let mut c = Conn::client();
    c.send(OUT, b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n")
        .send(IN, b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
        .send(IN, b"*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n")
        .send(IN, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n")
        .send(OUT, b"*1\r\n$4\r\nPING\r\n")
        .send(IN, b"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$2\r\nyo\r\n")
        .send(IN, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n")
        .send(OUT, b"*1\r\n$11\r\nUNSUBSCRIBE\r\n")
        .send(
            IN,
            b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n",
        );
    let xs = c.take();
    assert_eq!(ops(&xs), ["SUBSCRIBE", "PING", "UNSUBSCRIBE"]);
    assert_eq!(xs[0].end_ns, 3000);
    assert_eq!(xs[1].end_ns, 7000);
    assert_eq!(c.parser.stats().pushes, 3);
    // Out of subscribed mode, an array that looks like a message is a reply again.
    c.send(
        OUT,
        b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n",
    )
    .send(IN, b"*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n");
    assert_eq!(ops(&c.take()), ["LRANGE"]);
}

#[test]
fn blocking_commands_that_time_out_are_counted_not_reported() {
    let mut c = Conn::client();
    c.send(OUT, b"*3\r\n$5\r\nBRPOP\r\n$6\r\ncelery\r\n$1\r\n1\r\n")
        .send(IN, b"*-1\r\n")
        .send(OUT, b"*3\r\n$5\r\nBRPOP\r\n$6\r\ncelery\r\n$1\r\n1\r\n")
        .send(IN, b"_\r\n")
        .send(OUT, b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
        .send(IN, b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n");
    let xs = c.take();
    assert_eq!(texts(&xs), ["BLPOP q ?"]);
    assert_eq!((xs[0].start_ns, xs[0].end_ns), (5000, 6000));
    assert_eq!(c.parser.stats().blocking_timeouts, 2);
}

#[test]
fn blocking_commands_wait_past_the_request_timeout() {
    let limits = ParserLimits {
        request_timeout: Duration::from_millis(1),
        ..ParserLimits::default()
    };
    let mut c = Conn::with(limits, Role::Client);
    c.send(OUT, b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n5\r\n");
    c.parser.expire(3_000_000_000, &mut c.out);
    assert!(c.take().is_empty());
    c.parser.expire(7_000_000_000, &mut c.out);
    let xs = c.take();
    assert_eq!(xs[0].incomplete, Some(Incomplete::Timeout));
    // Its late reply is skipped, not given to the next command.
    c.send(OUT, b"*1\r\n$4\r\nPING\r\n")
        .send(IN, b"*-1\r\n")
        .send(IN, b"+PONG\r\n");
    let xs = c.take();
    assert_eq!(ops(&xs), ["PING"]);
    assert!(xs[0].error.is_none());
}

#[test]
fn select_applies_to_what_follows_and_failures_are_undone() {
    let mut c = Conn::client();
    c.send(
        OUT,
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$2\r\n99\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    )
    .send(IN, b"+OK\r\n$-1\r\n-ERR DB index is out of range\r\n$-1\r\n")
    .send(OUT, b"*1\r\n$4\r\nPING\r\n")
    .send(IN, b"+PONG\r\n");
    let xs = c.take();
    let ns: Vec<_> = xs.iter().map(|x| x.namespace.as_deref().unwrap()).collect();
    assert_eq!(ns, ["0", "2", "2", "2", "2"]);
    assert_eq!(xs[2].error.as_ref().map(|e| e.code.as_str()), Some("ERR"));
}

#[test]
fn exec_reports_the_first_failed_command() {
    let mut c = Conn::client();
    c.send(OUT, b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$5\r\nLPUSH\r\n$1\r\na\r\n$1\r\nx\r\n*1\r\n$4\r\nEXEC\r\n")
        .send(IN, b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    let xs = c.take();
    assert_eq!(ops(&xs), ["MULTI", "SET", "LPUSH", "EXEC"]);
    assert!(xs[..3].iter().all(|x| x.error.is_none()));
    assert_eq!(xs[3].error.as_ref().unwrap().code, "WRONGTYPE");
}

#[test]
fn client_reply_off_commands_end_at_once() {
    let mut c = Conn::client();
    c.send(OUT, b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n*1\r\n$4\r\nPING\r\n")
        .send(IN, b"+OK\r\n+PONG\r\n");
    let xs = c.take();
    assert_eq!(ops(&xs), ["CLIENT REPLY", "SET", "CLIENT REPLY", "PING"]);
    assert_eq!(xs[1].end_ns, xs[1].start_ns);
    assert_eq!(xs[3].end_ns, 2000);
}

#[test]
fn a_large_bulk_string_with_gaps_is_skipped_by_count() {
    let mut c = Conn::client();
    c.send(OUT, b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    let mut first = b"$1048576\r\n".to_vec();
    first.resize(4096, b'x');
    c.gap(IN, &first, 65536 - 4096);
    let mut rest = 1048576 + 12 - 65536;
    while rest > 65536 {
        c.gap(IN, &[b'x'; 4096], 65536 - 4096);
        rest -= 65536;
    }
    let mut tail = vec![b'x'; rest - 2];
    tail.extend_from_slice(b"\r\n");
    c.send(IN, &tail);
    c.send(OUT, b"*1\r\n$4\r\nPING\r\n").send(IN, b"+PONG\r\n");
    let xs = c.take();
    assert_eq!(ops(&xs), ["GET", "PING"]);
    assert!(xs.iter().all(|x| x.incomplete.is_none()));
    assert_eq!(c.parser.stats().desyncs, 0);
}

#[test]
fn a_gap_inside_an_array_reply_ends_it_at_the_next_command() {
    let mut c = Conn::client();
    c.send(
        OUT,
        b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n",
    );
    c.gap(IN, b"*1000\r\n$3\r\nabc\r\n", 50_000);
    c.gap(IN, b"", 20_000);
    c.send(OUT, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .send(IN, b"$1\r\nv\r\n");
    let xs = c.take();
    assert_eq!(ops(&xs), ["LRANGE", "GET"]);
    assert_eq!(xs[0].incomplete, None);
    assert_eq!(xs[0].end_ns, 3000);
    assert_eq!(xs[1].incomplete, None);
    assert_eq!(xs[1].end_ns, 5000);
}

#[test]
fn a_gap_across_pipelined_replies_ends_them_as_desync() {
    let mut c = Conn::client();
    c.send(
        OUT,
        &b"*4\r\n$6\r\nLRANGE\r\n$1\r\nl\r\n$1\r\n0\r\n$2\r\n-1\r\n".repeat(2),
    );
    c.gap(IN, b"*1000\r\n$3\r\nabc\r\n", 50_000);
    c.send(OUT, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .send(IN, b"$1\r\nv\r\n");
    let xs = c.take();
    assert_eq!(ops(&xs), ["LRANGE", "LRANGE", "GET"]);
    assert_eq!(xs[0].incomplete, Some(Incomplete::Desync));
    assert_eq!(xs[1].incomplete, Some(Incomplete::Desync));
    assert_eq!(xs[2].incomplete, None);
}

#[test]
fn lost_commands_drop_their_replies_until_a_command_starts_a_write() {
    let mut c = Conn::client();
    c.gap(OUT, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nG", 10_000)
        .send(IN, b"$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        .send(OUT, b"*1\r\n$4\r\nPING\r\n")
        .send(IN, b"+PONG\r\n");
    let xs = c.take();
    // The cut command still takes its reply's turn, nameless and marked.
    assert_eq!(ops(&xs), ["GET", "-", "PING"]);
    assert_eq!(xs[0].incomplete, None);
    assert_eq!(xs[1].incomplete, Some(Incomplete::Desync));
    assert_eq!(xs[2].incomplete, None);
    assert_eq!(c.parser.stats().orphan_replies, 1);
    assert_eq!(c.parser.stats().desyncs, 1);
}

#[test]
fn too_many_pipelined_commands_drop_the_oldest() {
    let limits = ParserLimits {
        max_pending: 4,
        ..ParserLimits::default()
    };
    let mut c = Conn::with(limits, Role::Client);
    c.send(OUT, &b"*1\r\n$4\r\nPING\r\n".repeat(6))
        .send(IN, &b"+PONG\r\n".repeat(6));
    let xs = c.take();
    assert_eq!(xs.len(), 6);
    let desyncs = xs
        .iter()
        .filter(|x| x.incomplete == Some(Incomplete::Desync))
        .count();
    assert_eq!(desyncs, 2);
    assert!(
        xs[2..]
            .iter()
            .all(|x| x.incomplete.is_none() && x.end_ns == 2000)
    );
    assert_eq!(c.parser.stats().pending_overflows, 2);
}

#[test]
fn inline_commands_and_the_server_side() {
    let mut c = Conn::with(ParserLimits::default(), Role::Server);
    c.send(IN, b"PING\r\nset k \"a b\"\r\n")
        .send(OUT, b"+PONG\r\n+OK\r\n");
    let xs = c.take();
    assert_eq!(texts(&xs), ["PING", "SET k ?"]);
    assert!(xs.iter().all(|x| x.role == Role::Server));
}

#[test]
fn every_split_of_a_conversation_gives_the_same_exchanges() {
    let commands: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    let replies: &[u8] =
        b"%1\r\n$5\r\nproto\r\n:3\r\n+OK\r\n>2\r\n$10\r\ninvalidate\r\n_\r\n$5\r\nhello\r\n";
    let whole = {
        let mut c = Conn::client();
        c.send(OUT, commands).send(IN, replies);
        c.take()
    };
    assert_eq!(ops(&whole), ["HELLO", "SET", "GET"]);
    for cut in 1..commands.len() {
        for cut2 in [1, replies.len() / 2, replies.len() - 1] {
            let mut c = Conn::client();
            c.ts = 0;
            // Same times as the whole run: pieces of one chunk share its time.
            let feed = |c: &mut Conn, dir, data: &[u8], ts| {
                let chunk = Chunk {
                    direction: dir,
                    tid: 7,
                    ts_ns: ts,
                    len: data.len() as u32,
                    data,
                };
                c.parser.feed(&chunk, &mut c.out);
            };
            feed(&mut c, OUT, &commands[..cut], 1000);
            feed(&mut c, OUT, &commands[cut..], 1000);
            feed(&mut c, IN, &replies[..cut2], 2000);
            feed(&mut c, IN, &replies[cut2..], 2000);
            assert_eq!(c.take(), whole, "cut at {cut}/{cut2}");
        }
    }
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    let limits = ParserLimits {
        max_header_bytes: 64,
        max_pending: 3,
        ..ParserLimits::default()
    };
    let mut c = Conn::with(limits, Role::Client);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 40) as usize;
        let alphabet = b"*$+-:_,#!=%~>|.;?\r\n0123456789abcSETGE ";
        let data: Vec<u8> = (0..len)
            .map(|j| alphabet[((seed >> (j % 50)) as usize + j) % alphabet.len()])
            .collect();
        let dir = if i % 2 == 0 { OUT } else { IN };
        c.gap(dir, &data, (seed % 5) as u32 * 7);
        assert!(c.parser.pending_len() <= 3);
        assert!(c.parser.streams_held_bytes() <= 2 * 64);
    }
    c.parser.close(u64::MAX, &mut c.out);
    assert_eq!(c.parser.pending_len(), 0);
}
