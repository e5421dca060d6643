//! Unit tests over hand-built byte streams. The recorded conversations live in
//! `agent/tests/fixtures/postgres` (golden and split tests).

use std::time::Duration;

use super::*;
use crate::protocol::{
    Chunk, DbExchange, Direction, Exchange, Incomplete, ParserLimits, ProtocolParser, Role,
};

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend(cstr(k));
        body.extend(cstr(v));
    }
    body.push(0);
    let mut m = (body.len() as u32 + 4).to_be_bytes().to_vec();
    m.extend(body);
    m
}

fn query(sql: &str) -> Vec<u8> {
    msg(b'Q', &cstr(sql))
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut b = cstr(name);
    b.extend(cstr(sql));
    b.extend(0i16.to_be_bytes());
    msg(b'P', &b)
}

fn bind(portal: &str, statement: &str, params: &[&[u8]]) -> Vec<u8> {
    let mut b = cstr(portal);
    b.extend(cstr(statement));
    b.extend(0i16.to_be_bytes());
    b.extend((params.len() as i16).to_be_bytes());
    for p in params {
        b.extend((p.len() as i32).to_be_bytes());
        b.extend_from_slice(p);
    }
    b.extend(0i16.to_be_bytes());
    msg(b'B', &b)
}

fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut b = cstr(portal);
    b.extend(max_rows.to_be_bytes());
    msg(b'E', &b)
}

fn sync() -> Vec<u8> {
    msg(b'S', &[])
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstr(tag))
}

fn ready() -> Vec<u8> {
    msg(b'Z', b"I")
}

fn row(value: &[u8]) -> Vec<u8> {
    let mut b = 1i16.to_be_bytes().to_vec();
    b.extend((value.len() as i32).to_be_bytes());
    b.extend_from_slice(value);
    msg(b'D', &b)
}

fn error(code: &str, message: &str) -> Vec<u8> {
    let mut b = vec![b'S'];
    b.extend(cstr("ERROR"));
    b.push(b'C');
    b.extend(cstr(code));
    b.push(b'M');
    b.extend(cstr(message));
    b.push(0);
    msg(b'E', &b)
}

fn auth_ok() -> Vec<u8> {
    msg(b'R', &0u32.to_be_bytes())
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A conversation: (direction, bytes, uncaptured tail) chunks, 1000 ns apart.
struct Run {
    parser: PostgresParser,
    ts: u64,
    out: Vec<Exchange>,
}

impl Run {
    fn client(opening: Opening) -> Self {
        Self::with(ParserLimits::default(), Direction::Egress, opening)
    }

    fn with(limits: ParserLimits, frontend: Direction, opening: Opening) -> Self {
        Self {
            parser: PostgresParser::new(limits, frontend, opening),
            ts: 0,
            out: Vec::new(),
        }
    }

    fn chunk(&mut self, direction: Direction, data: &[u8], gap: u32) -> &mut Self {
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

    fn send(&mut self, data: &[u8]) -> &mut Self {
        self.chunk(Direction::Egress, data, 0)
    }

    fn recv(&mut self, data: &[u8]) -> &mut Self {
        self.chunk(Direction::Ingress, data, 0)
    }

    fn close(&mut self) -> &mut Self {
        self.ts += 1000;
        self.parser.close(self.ts, &mut self.out);
        self
    }

    fn exchanges(&self) -> Vec<DbExchange> {
        self.out
            .iter()
            .map(|x| match x {
                Exchange::Db(d) => d.clone(),
                Exchange::Http(_) => panic!("http from the postgres parser"),
            })
            .collect()
    }

    fn started(&mut self) -> &mut Self {
        self.send(&startup(&[("user", "app"), ("database", "shop")]))
            .recv(&cat(&[auth_ok(), ready()]))
    }
}

#[test]
fn simple_query_after_startup() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&query("SELECT id, name FROM items WHERE id = 42"))
        .recv(&cat(&[row(b"42"), complete("SELECT 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    let x = &x[0];
    assert_eq!(x.role, Role::Client);
    assert_eq!(x.namespace.as_deref(), Some("shop"));
    assert_eq!(x.operation.as_deref(), Some("SELECT"));
    assert_eq!(x.collection.as_deref(), Some("items"));
    assert_eq!(
        x.query_text.as_deref(),
        Some("SELECT id, name FROM items WHERE id = ?")
    );
    assert_eq!(x.rows, Some(1));
    assert_eq!((x.start_ns, x.end_ns), (3000, 4000));
    assert_eq!(x.incomplete, None);
}

#[test]
fn namespace_defaults_to_the_user() {
    let mut run = Run::client(Opening::Startup);
    run.send(&startup(&[("user", "alice")]))
        .recv(&cat(&[auth_ok(), ready()]))
        .send(&query("SELECT 1"))
        .recv(&cat(&[complete("SELECT 1"), ready()]));
    assert_eq!(run.exchanges()[0].namespace.as_deref(), Some("alice"));
}

#[test]
fn multi_statement_query_one_exchange_each_and_skipped_after_error() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&query(
            "INSERT INTO a VALUES (1); SELECT * FROM nope; DELETE FROM b",
        ))
        .recv(&complete("INSERT 0 1"))
        .recv(&cat(&[
            error("42P01", "relation \"nope\" does not exist"),
            ready(),
        ]));
    let x = run.exchanges();
    assert_eq!(x.len(), 2);
    assert_eq!(x[0].operation.as_deref(), Some("INSERT"));
    assert_eq!(x[0].rows, Some(1));
    assert_eq!((x[0].start_ns, x[0].end_ns), (3000, 4000));
    assert_eq!(x[1].collection.as_deref(), Some("nope"));
    assert_eq!((x[1].start_ns, x[1].end_ns), (4000, 5000));
    let err = x[1].error.as_ref().expect("error");
    assert_eq!(err.code, "42P01");
    assert_eq!(err.message, "relation \"nope\" does not exist");
    assert_eq!(run.parser.stats().skipped_after_error, 1);
}

#[test]
fn named_statement_executed_many_times() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&cat(&[
            parse("s0", "SELECT name FROM items WHERE id = $1"),
            msg(b'D', &cat(&[vec![b'S'], cstr("s0")])),
            sync(),
        ]))
        .recv(&cat(&[
            msg(b'1', &[]),
            msg(b't', &[0, 0]),
            msg(b'n', &[]),
            ready(),
        ]));
    for i in 0..3u8 {
        run.send(&cat(&[
            bind("", "s0", &[&[b'0' + i]]),
            execute("", 0),
            sync(),
        ]))
        .recv(&cat(&[
            msg(b'2', &[]),
            row(b"x"),
            complete("SELECT 1"),
            ready(),
        ]));
    }
    let x = run.exchanges();
    assert_eq!(x.len(), 3);
    for x in &x {
        assert_eq!(
            x.query_text.as_deref(),
            Some("SELECT name FROM items WHERE id = $1")
        );
        assert_eq!(x.rows, Some(1));
    }
    assert_eq!(run.parser.statements_len(), 1);
}

#[test]
fn pipelined_batch_with_one_sync() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&cat(&[
            parse("", "INSERT INTO t VALUES ($1)"),
            bind("", "", &[b"1"]),
            execute("", 0),
            bind("", "", &[b"2"]),
            execute("", 0),
            parse("", "UPDATE t SET a = $1"),
            bind("", "", &[b"3"]),
            execute("", 0),
            sync(),
        ]))
        .recv(&cat(&[
            msg(b'1', &[]),
            msg(b'2', &[]),
            complete("INSERT 0 1"),
            msg(b'2', &[]),
            complete("INSERT 0 1"),
        ]))
        .recv(&cat(&[
            msg(b'1', &[]),
            msg(b'2', &[]),
            complete("UPDATE 7"),
            ready(),
        ]));
    let x = run.exchanges();
    let ops: Vec<_> = x
        .iter()
        .map(|x| x.operation.as_deref().unwrap_or("-"))
        .collect();
    assert_eq!(ops, ["INSERT", "INSERT", "UPDATE"]);
    assert_eq!(x[2].rows, Some(7));
    assert_eq!(x[1].end_ns, 4000);
    assert_eq!(x[2].end_ns, 5000);
}

#[test]
fn extended_error_goes_to_the_execute_and_the_rest_is_skipped() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&cat(&[
            parse("", "SELECT * FROM nope"),
            bind("", "", &[]),
            execute("", 0),
            bind("", "", &[]),
            execute("", 0),
            sync(),
        ]))
        .recv(&cat(&[
            error("42P01", "relation \"nope\" does not exist"),
            ready(),
        ]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].error.as_ref().map(|e| e.code.as_str()), Some("42P01"));
    assert_eq!(x[0].operation.as_deref(), Some("SELECT"));
    assert_eq!(run.parser.stats().skipped_after_error, 1);
    assert_eq!(run.parser.pending_len(), 0);
}

#[test]
fn failed_prepare_makes_an_exchange() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&cat(&[parse("s1", "SELECT * FROM nope"), sync()]))
        .recv(&cat(&[
            error("42P01", "relation \"nope\" does not exist"),
            ready(),
        ]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].collection.as_deref(), Some("nope"));
    assert_eq!(x[0].error.as_ref().map(|e| e.code.as_str()), Some("42P01"));
}

#[test]
fn portal_suspended_counts_rows() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&cat(&[
            parse("", "SELECT * FROM items"),
            bind("c1", "", &[]),
            execute("c1", 2),
            sync(),
        ]))
        .recv(&cat(&[
            msg(b'1', &[]),
            msg(b'2', &[]),
            row(b"a"),
            row(b"b"),
            msg(b's', &[]),
            ready(),
        ]))
        .send(&cat(&[execute("c1", 2), sync()]))
        .recv(&cat(&[row(b"c"), complete("SELECT 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 2);
    assert_eq!(x[0].rows, Some(2));
    assert_eq!(x[1].rows, Some(1));
    assert_eq!(x[1].collection.as_deref(), Some("items"));
}

#[test]
fn ssl_declined_then_startup() {
    let mut run = Run::client(Opening::Startup);
    run.send(&[0, 0, 0, 8, 4, 210, 22, 47])
        .recv(b"N")
        .started()
        .send(&query("SELECT 1"))
        .recv(&cat(&[complete("SELECT 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].namespace.as_deref(), Some("shop"));
}

#[test]
fn ssl_accepted_stops_parsing() {
    let mut run = Run::client(Opening::Startup);
    run.send(&[0, 0, 0, 8, 4, 210, 22, 47])
        .recv(b"S")
        .send(&query("SELECT 1"))
        .recv(&cat(&[complete("SELECT 1"), ready()]))
        .close();
    assert!(run.exchanges().is_empty());
    assert!(run.parser.stats().encrypted);
    assert_eq!(run.parser.held_bytes(), 0);
}

#[test]
fn passwords_are_never_kept() {
    let secret = "hunter2-secret";
    let mut run = Run::client(Opening::Startup);
    run.send(&startup(&[("user", "app"), ("database", "shop")]))
        .recv(&msg(b'R', &3u32.to_be_bytes()))
        // The password message, cut in two reads so that it would have to be buffered.
        .send(&msg(b'p', &cstr(secret))[..8])
        .send(&msg(b'p', &cstr(secret))[8..])
        .recv(&cat(&[auth_ok(), ready()]))
        .send(&query("SELECT 1"))
        .recv(&cat(&[complete("SELECT 1"), ready()]));
    assert_eq!(run.parser.held_bytes(), 0);
    let rendered = format!("{:?}", run.exchanges());
    assert!(!rendered.contains("hunter2"), "{rendered}");
    assert_eq!(run.exchanges().len(), 1);
}

#[test]
fn large_result_with_gaps_resyncs_at_ready_for_query() {
    let mut run = Run::client(Opening::Startup);
    run.started().send(&query("SELECT * FROM big"));
    // 8 KiB reads of which 4 KiB were captured: headers fall in the gaps.
    let rows: Vec<u8> = (0..2000).flat_map(|_| row(&[b'x'; 40])).collect();
    let mut stream = rows.clone();
    stream.extend(complete("SELECT 2000"));
    stream.extend(ready());
    let mut at = 0;
    while at < stream.len() {
        let end = (at + 8192).min(stream.len());
        let captured = (end - at).min(4096);
        let gap = (end - at - captured) as u32;
        run.chunk(Direction::Ingress, &stream[at..at + captured], gap);
        at = end;
    }
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].rows, Some(2000));
    assert_eq!(x[0].incomplete, None);
    assert!(run.parser.stats().backend_desyncs >= 1);
}

#[test]
fn lost_answer_ends_as_desync_when_the_client_moves_on() {
    let mut run = Run::client(Opening::Startup);
    run.started().send(&query("SELECT * FROM big"));
    let rows: Vec<u8> = (0..400).flat_map(|_| row(&[b'x'; 40])).collect();
    run.chunk(
        Direction::Ingress,
        &rows[..4096],
        rows.len() as u32 - 4096 + 17,
    );
    run.send(&query("SELECT 2"))
        .recv(&cat(&[complete("SELECT 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 2);
    assert_eq!(x[0].incomplete, Some(Incomplete::Desync));
    assert_eq!(x[0].end_ns, 4000);
    assert_eq!(x[1].incomplete, None);
    assert_eq!(x[1].rows, Some(1));
}

#[test]
fn execute_hidden_by_the_capture_limit_is_inferred() {
    let mut run = Run::client(Opening::Startup);
    let long = format!("INSERT INTO notes VALUES ('{}')", "n".repeat(6000));
    let batch = cat(&[parse("", &long), bind("", "", &[]), execute("", 0), sync()]);
    run.started()
        .chunk(Direction::Egress, &batch[..4096], batch.len() as u32 - 4096)
        .recv(&cat(&[
            msg(b'1', &[]),
            msg(b'2', &[]),
            complete("INSERT 0 1"),
            ready(),
        ]));
    // A prepare-only group lost the same way makes no span: no CommandComplete comes.
    let prepare = cat(&[
        parse("p1", &long),
        msg(b'D', &cat(&[vec![b'S'], cstr("p1")])),
        sync(),
    ]);
    run.chunk(
        Direction::Egress,
        &prepare[..4096],
        prepare.len() as u32 - 4096,
    )
    .recv(&cat(&[msg(b'1', &[]), msg(b'n', &[]), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1, "{x:?}");
    assert_eq!(x[0].operation.as_deref(), Some("INSERT"));
    assert_eq!(x[0].collection.as_deref(), Some("notes"));
    assert_eq!(x[0].rows, Some(1));
    assert_eq!(run.parser.stats().frontend_desyncs, 2);
}

#[test]
fn connection_closed_mid_query() {
    let mut run = Run::client(Opening::Startup);
    run.started().send(&query("SELECT pg_sleep(10)")).close();
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].incomplete, Some(Incomplete::ConnectionClosed));
}

#[test]
fn timeout_expires_waiting_ops() {
    let limits = ParserLimits {
        request_timeout: Duration::from_nanos(5000),
        ..ParserLimits::default()
    };
    let mut run = Run::with(limits, Direction::Egress, Opening::MidStream);
    run.send(&query("SELECT 1"));
    run.parser.expire(4000, &mut run.out);
    assert!(run.out.is_empty());
    run.parser.expire(20_000, &mut run.out);
    assert_eq!(run.exchanges()[0].incomplete, Some(Incomplete::Timeout));
    assert_eq!(run.parser.pending_len(), 0);
}

#[test]
fn server_side_reads_the_frontend() {
    let mut run = Run::with(
        ParserLimits::default(),
        Direction::Ingress,
        Opening::Startup,
    );
    run.recv(&startup(&[("user", "app"), ("database", "shop")]))
        .send(&cat(&[auth_ok(), ready()]))
        .recv(&query("SELECT 1"))
        .send(&cat(&[complete("SELECT 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].role, Role::Server);
}

#[test]
fn mid_stream_execute_of_an_unknown_statement() {
    let mut run = Run::client(Opening::MidStream);
    run.send(&cat(&[bind("", "s7", &[b"1"]), execute("", 0), sync()]))
        .recv(&cat(&[msg(b'2', &[]), complete("UPDATE 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].operation, None);
    assert_eq!(x[0].query_text, None);
    assert_eq!(x[0].namespace, None);
    assert_eq!(x[0].rows, Some(1));
    assert_eq!(run.parser.stats().unknown_statements, 1);
}

#[test]
fn copy_out_and_in() {
    let mut run = Run::client(Opening::Startup);
    run.started()
        .send(&query("COPY items TO STDOUT"))
        .recv(&cat(&[
            msg(b'H', &[0, 0, 1, 0, 0]),
            msg(b'd', b"1\ta\n"),
            msg(b'd', b"2\tb\n"),
            msg(b'c', &[]),
            complete("COPY 2"),
            ready(),
        ]))
        .send(&query("COPY items FROM STDIN"))
        .recv(&msg(b'G', &[0, 0, 1, 0, 0]))
        .send(&cat(&[msg(b'd', b"3\tc\n"), msg(b'c', &[])]))
        .recv(&cat(&[complete("COPY 1"), ready()]));
    let x = run.exchanges();
    assert_eq!(x.len(), 2);
    assert_eq!(x[0].rows, Some(2));
    assert_eq!(x[1].rows, Some(1));
    assert!(x.iter().all(|x| x.operation.as_deref() == Some("COPY")));
}

#[test]
fn pending_overflow_never_pairs_wrongly() {
    let limits = ParserLimits {
        max_pending: 4,
        ..ParserLimits::default()
    };
    let mut run = Run::with(limits, Direction::Egress, Opening::MidStream);
    let mut batch = parse("", "SELECT $1");
    for _ in 0..6 {
        batch.extend(bind("", "", &[b"1"]));
        batch.extend(execute("", 0));
    }
    batch.extend(sync());
    run.send(&batch);
    let answers: Vec<u8> = (0..6)
        .flat_map(|i| complete(&format!("SELECT {i}")))
        .collect();
    run.recv(&cat(&[answers, ready()]));
    run.send(&query("SELECT 99"))
        .recv(&cat(&[complete("SELECT 99"), ready()]));
    let rows: Vec<_> = run.exchanges().iter().map(|x| x.rows).collect();
    assert_eq!(rows, [Some(0), Some(1), Some(2), Some(3), Some(99)]);
    assert!(run.parser.stats().pending_overflows >= 3);
    assert!(run.parser.pending_len() <= 4);
}

#[test]
fn statements_are_bounded() {
    let mut run = Run::client(Opening::MidStream);
    for i in 0..MAX_STATEMENTS + 10 {
        run.send(&cat(&[parse(&format!("s{i}"), "SELECT 1"), sync()]))
            .recv(&cat(&[msg(b'1', &[]), ready()]));
    }
    assert_eq!(run.parser.statements_len(), MAX_STATEMENTS);
    assert_eq!(run.parser.stats().statements_evicted, 10);
}

#[test]
fn detection() {
    fn chunk(direction: Direction, data: &[u8]) -> Chunk<'_> {
        Chunk {
            direction,
            tid: 1,
            ts_ns: 1,
            len: data.len() as u32,
            data,
        }
    }
    let s = startup(&[("user", "u")]);
    assert_eq!(
        classify(&chunk(Direction::Egress, &s), None),
        Some((Direction::Egress, Opening::Startup))
    );
    assert_eq!(
        classify(
            &chunk(Direction::Ingress, &[0, 0, 0, 8, 4, 210, 22, 47]),
            None
        ),
        Some((Direction::Ingress, Opening::Startup))
    );
    let q = query("SELECT 1");
    assert_eq!(
        classify(&chunk(Direction::Egress, &q), Some((40000, 6000))),
        Some((Direction::Egress, Opening::MidStream))
    );
    let batch = cat(&[bind("", "s1", &[b"1"]), execute("", 0), sync()]);
    assert!(classify(&chunk(Direction::Egress, &batch), None).is_some());
    let answer = cat(&[row(b"1"), complete("SELECT 1"), ready()]);
    assert_eq!(
        classify(&chunk(Direction::Ingress, &answer), None),
        Some((Direction::Egress, Opening::MidStream))
    );
    // Half a batch: only on the default port.
    let half = &batch[..10];
    assert!(classify(&chunk(Direction::Egress, half), Some((40000, 6000))).is_none());
    assert!(classify(&chunk(Direction::Egress, half), Some((40000, 5432))).is_some());
    for other in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"*1\r\n$4\r\nPING\r\n",
        b"\x21\x00\x00\x00\x03SELECT 1",
        b"Q\x00\x00\x00\x09hello",
        b"",
    ] {
        assert!(
            classify(&chunk(Direction::Egress, other), None).is_none(),
            "{other:?}"
        );
    }
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    let limits = ParserLimits {
        max_header_bytes: 64,
        max_pending: 4,
        request_timeout: Duration::from_secs(1),
    };
    let mut seed = 0x1234_5678_9abc_def0u64;
    for round in 0..200 {
        let mut run = Run::with(limits, Direction::Egress, Opening::Startup);
        for _ in 0..50 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 56)) as u8).collect();
            let dir = if seed & 1 == 0 {
                Direction::Egress
            } else {
                Direction::Ingress
            };
            run.chunk(dir, &bytes, (seed >> 60) as u32 * (round % 3));
            assert!(run.parser.pending_len() <= 4);
            assert!(run.parser.held_bytes() <= 4 * 64 + 2 * 64);
        }
        run.close();
    }
}
