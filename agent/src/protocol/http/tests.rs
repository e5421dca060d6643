//! Edge cases of the parser. Whole conversations live in the golden fixtures
//! (agent/tests/fixtures/http); these pin down bounds, timeouts and odd framing.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::protocol::{Chunk, Direction, ParserLimits};

const IN: Direction = Direction::Ingress;
const OUT: Direction = Direction::Egress;

fn chunk(direction: Direction, ts_ns: u64, data: &[u8]) -> Chunk<'_> {
    Chunk {
        direction,
        tid: 7,
        ts_ns,
        len: data.len() as u32,
        data,
    }
}

/// A chunk of `len` bytes of which only `data` was captured.
fn cut(direction: Direction, ts_ns: u64, data: &[u8], len: u32) -> Chunk<'_> {
    Chunk {
        len,
        ..chunk(direction, ts_ns, data)
    }
}

fn run(parser: &mut HttpParser, chunks: &[Chunk<'_>]) -> Vec<HttpExchange> {
    let mut out = Vec::new();
    for c in chunks {
        parser.feed(c, &mut out);
    }
    out
}

fn parser() -> HttpParser {
    HttpParser::new(ParserLimits::default())
}

fn limits(max_header_bytes: usize, max_pending: usize) -> ParserLimits {
    ParserLimits {
        max_header_bytes,
        max_pending,
        request_timeout: Duration::from_secs(1),
    }
}

#[test]
fn detect_recognises_request_and_status_lines_only() {
    assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Some(true));
    assert_eq!(detect(b"OPTIONS * HTTP/1.1\r\n"), Some(true));
    assert_eq!(detect(b"HTTP/1.1 200 OK\r\n"), Some(false));
    assert_eq!(detect(b"HTTP/1.0 404"), Some(false));
    assert_eq!(detect(b"GET"), None);
    assert_eq!(detect(b"GETX / HTTP/1.1"), None);
    assert_eq!(detect(b"HTTP/1.1 20"), None);
    assert_eq!(detect(b"HTTP/2 200"), None);
    assert_eq!(detect(b"PRI * HTTP/2.0\r\n"), None);
    assert_eq!(detect(b"\x16\x03\x01\x02\x00"), None);
    assert_eq!(detect(b""), None);
}

#[test]
fn client_exchange_keeps_fields_and_times() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(
                OUT,
                10,
                b"GET /a?b=1 HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: t/1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n",
            ),
            chunk(IN, 20, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"),
            chunk(IN, 30, b"lo"),
        ],
    );
    assert_eq!(
        out,
        vec![HttpExchange {
            role: Role::Client,
            method: "GET".into(),
            target: "/a?b=1".into(),
            version_minor: 1,
            host: Some("api:8080".into()),
            user_agent: Some("t/1".into()),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            status: Some(200),
            request_start_ns: 10,
            response_end_ns: 30,
            tid: 7,
            request_body_bytes: 0,
            response_body_bytes: 5,
            incomplete: None,
        }]
    );
    assert_eq!(p.role(), Some(Role::Client));
}

#[test]
fn secrets_are_never_captured() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(
                IN,
                1,
                b"GET / HTTP/1.1\r\nAuthorization: Bearer s3cr3t-token\r\nCookie: sid=s3cr3t-cookie\r\nHost: h\r\n\r\n",
            ),
            chunk(
                OUT,
                2,
                b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=s3cr3t-set\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(out.len(), 1);
    let text = format!("{out:?}");
    assert!(!text.contains("s3cr3t"), "{text}");
}

#[test]
fn expire_ends_unanswered_requests_and_frees_them() {
    let mut p = HttpParser::new(limits(1024, 8));
    let second = 1_000_000_000;
    let mut out = run(
        &mut p,
        &[
            chunk(OUT, 0, b"GET /1 HTTP/1.1\r\n\r\n"),
            chunk(OUT, second / 2, b"GET /2 HTTP/1.1\r\n\r\n"),
        ],
    );
    p.expire(second, &mut out);
    assert!(out.is_empty(), "exactly the timeout is not longer than it");
    p.expire(second + 1, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].target, "/1");
    assert_eq!(out[0].incomplete, Some(Incomplete::Timeout));
    assert_eq!(out[0].response_end_ns, second + 1);
    assert_eq!(p.pending_len(), 1);
    p.expire(10 * second, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(p.pending_len(), 0);
}

#[test]
fn expire_counts_from_the_latest_response_bytes() {
    let mut p = HttpParser::new(limits(1024, 8));
    let s = 1_000_000_000;
    let mut out = run(
        &mut p,
        &[
            chunk(OUT, 0, b"GET /slow HTTP/1.1\r\n\r\n"),
            chunk(IN, s, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"),
        ],
    );
    p.expire(s + s / 2, &mut out);
    assert!(out.is_empty(), "the response is still arriving");
    p.expire(3 * s, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Some(200));
    assert_eq!(out[0].incomplete, Some(Incomplete::Timeout));
    // The rest of the expired response is skipped; the next exchange pairs correctly.
    p.feed(&chunk(IN, 4 * s, b"67890"), &mut out);
    p.feed(&chunk(OUT, 5 * s, b"GET /next HTTP/1.1\r\n\r\n"), &mut out);
    p.feed(
        &chunk(IN, 6 * s, b"HTTP/1.1 204 No Content\r\n\r\n"),
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[1].target.as_str(), out[1].status),
        ("/next", Some(204))
    );
}

#[test]
fn pending_requests_are_bounded() {
    let mut p = HttpParser::new(limits(1024, 3));
    let mut requests = Vec::new();
    for i in 0..5 {
        requests.extend_from_slice(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
    }
    let out = run(&mut p, &[chunk(OUT, 1, &requests)]);
    assert_eq!(p.pending_len(), 3);
    let dropped: Vec<_> = out
        .iter()
        .map(|x| (x.target.as_str(), x.incomplete))
        .collect();
    assert_eq!(
        dropped,
        [
            ("/0", Some(Incomplete::Desync)),
            ("/1", Some(Incomplete::Desync))
        ]
    );
    assert_eq!(p.stats().pending_overflows, 2);
}

#[test]
fn oversized_request_head_is_dropped_but_its_response_still_pairs() {
    let mut p = HttpParser::new(limits(64, 8));
    let mut head = b"GET /big HTTP/1.1\r\nX-Pad: ".to_vec();
    head.extend_from_slice(&[b'a'; 200]);
    head.extend_from_slice(b"\r\n\r\n");
    let mut out = Vec::new();
    for (i, piece) in head.chunks(10).enumerate() {
        p.feed(&chunk(IN, i as u64, piece), &mut out);
        assert!(p.streams_held_bytes() <= 64);
    }
    p.feed(&chunk(IN, 100, b"GET /small HTTP/1.1\r\n\r\n"), &mut out);
    p.feed(
        &chunk(
            OUT,
            101,
            b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n",
        ),
        &mut out,
    );
    p.feed(
        &chunk(OUT, 102, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        &mut out,
    );
    let got: Vec<_> = out
        .iter()
        .map(|x| {
            (
                x.target.as_str(),
                x.status,
                x.incomplete,
                x.request_start_ns,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/big", Some(431), Some(Incomplete::Desync), 0),
            ("/small", Some(200), None, 100)
        ]
    );
    assert_eq!(p.stats().oversized_heads, 1);
}

#[test]
fn head_buffer_never_exceeds_the_limit() {
    let max = 100;
    let mut p = HttpParser::new(limits(max, 8));
    let mut out = Vec::new();
    p.feed(&chunk(IN, 0, b"POST /x HTTP/1.1\r\n"), &mut out);
    for i in 0..1000u64 {
        p.feed(&chunk(IN, i, b"X-A: b\r\n"), &mut out);
        assert!(p.streams_held_bytes() <= max, "{}", p.streams_held_bytes());
    }
    assert_eq!(p.stats().oversized_heads, 1);
}

#[test]
fn request_head_cut_by_a_gap_keeps_its_request_line() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            cut(IN, 1, b"GET /long/path/that/was/cu", 5000),
            chunk(
                OUT,
                2,
                b"HTTP/1.1 414 URI Too Long\r\nContent-Length: 3\r\n\r\nno!",
            ),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].target, "/long/path/that/was/cu");
    assert_eq!(out[0].status, Some(414));
    assert_eq!(out[0].incomplete, Some(Incomplete::Desync));
}

#[test]
fn conflicting_content_length_loses_sync() {
    let mut p = parser();
    let mut out = run(
        &mut p,
        &[
            chunk(OUT, 1, b"GET / HTTP/1.1\r\n\r\n"),
            chunk(
                IN,
                2,
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            ),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].incomplete, Some(Incomplete::Desync));
    assert_eq!(p.stats().last_error, Some(HttpError::BadContentLength));
    // Identical repeated values are one value.
    p.feed(&chunk(OUT, 3, b"GET / HTTP/1.1\r\n\r\n"), &mut out);
    p.feed(
        &chunk(IN, 4, b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi"),
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert_eq!((out[1].incomplete, out[1].response_body_bytes), (None, 2));
}

#[test]
fn request_transfer_encoding_must_end_in_chunked() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(
                IN,
                1,
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx",
            ),
            chunk(
                OUT,
                2,
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            ),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].status, out[0].incomplete),
        (Some(400), Some(Incomplete::Desync))
    );
}

#[test]
fn switching_protocols_ends_http() {
    let mut p = parser();
    let mut out = run(
        &mut p,
        &[
            chunk(
                OUT,
                1,
                b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            ),
            chunk(
                IN,
                2,
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
            ),
            chunk(OUT, 3, b"GET /not-http HTTP/1.1\r\n\r\n"),
            chunk(IN, 4, b"HTTP/1.1 200 OK\r\n\r\n"),
        ],
    );
    p.close(5, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].status, out[0].incomplete), (Some(101), None));
    assert!(p.stats().desyncs == 0);
}

#[test]
fn connect_tunnel_ends_http() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(OUT, 1, b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n"),
            chunk(IN, 2, b"HTTP/1.1 200 Connection Established\r\n\r\n"),
            chunk(OUT, 3, b"GET / HTTP/1.1\r\n\r\n"),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].target.as_str(), out[0].status),
        ("db:5432", Some(200))
    );
    assert!(p.is_switched());
}

#[test]
fn interim_responses_are_skipped() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(OUT, 1, b"GET / HTTP/1.1\r\n\r\n"),
            chunk(IN, 2, b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"),
            chunk(IN, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].status, out[0].response_end_ns), (Some(200), 3));
}

#[test]
fn head_response_ignores_framing_headers() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(OUT, 1, b"HEAD / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
            chunk(
                IN,
                2,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ),
        ],
    );
    let got: Vec<_> = out
        .iter()
        .map(|x| (x.method.as_str(), x.response_body_bytes))
        .collect();
    assert_eq!(got, [("HEAD", 0), ("GET", 2)]);
}

#[test]
fn response_without_a_request_is_skipped_and_counted() {
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(IN, 1, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
            chunk(OUT, 2, b"GET / HTTP/1.1\r\n\r\n"),
            chunk(IN, 3, b"HTTP/1.1 204 No Content\r\n\r\n"),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Some(204));
    assert_eq!(p.stats().orphan_responses, 1);
}

#[test]
fn many_headers_fall_back_to_a_larger_array() {
    let mut head = b"GET /h HTTP/1.1\r\n".to_vec();
    for i in 0..200 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"Host: late\r\n\r\n");
    let mut p = parser();
    let out = run(
        &mut p,
        &[
            chunk(IN, 1, &head),
            chunk(OUT, 2, b"HTTP/1.1 204 No Content\r\n\r\n"),
        ],
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].host.as_deref(), Some("late"));
}

#[test]
fn server_in_flight_is_the_oldest_unanswered_request() {
    let mut p = parser();
    let mut out = run(
        &mut p,
        &[chunk(
            IN,
            5,
            b"GET / HTTP/1.1\r\ntraceparent: 00-a-b-01\r\n\r\n",
        )],
    );
    let inflight = p.server_in_flight().expect("in flight");
    assert_eq!((inflight.start_ns, inflight.tid), (5, 7));
    assert_eq!(inflight.traceparent, Some("00-a-b-01"));
    p.feed(&chunk(OUT, 6, b"HTTP/1.1 204 No Content\r\n\r\n"), &mut out);
    assert_eq!(p.server_in_flight(), None);
}

#[test]
fn close_resets_the_parser() {
    let mut p = parser();
    let mut out = run(&mut p, &[chunk(OUT, 1, b"GET /x HTTP/1.1\r\nHost: a")]);
    assert!(p.buffered_bytes() > 0);
    p.close(9, &mut out);
    assert!(out.is_empty(), "a head never completed is no request");
    assert_eq!(p.buffered_bytes(), 0);
    assert_eq!(p.role(), None);
}

fn any_chunk() -> impl Strategy<Value = (bool, Vec<u8>, u32)> {
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(
            prop_oneof![
                Just(b"GET / HTTP/1.1\r\n".to_vec()),
                Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
                Just(b"HTTP/1.1 100 Continue\r\n".to_vec()),
                Just(b"HEAD / HTTP/1.0\r\n".to_vec()),
                Just(b"Content-Length: 3\r\n".to_vec()),
                Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"5\r\nhello\r\n0\r\n\r\n".to_vec()),
                Just(b"abc".to_vec()),
            ],
            0..6,
        )
        .prop_map(|parts| parts.concat()),
    ];
    (any::<bool>(), bytes, 0u32..100)
}

proptest! {
    #[test]
    fn arbitrary_chunks_never_panic_and_stay_bounded(
        chunks in proptest::collection::vec(any_chunk(), 0..40),
    ) {
        let mut p = HttpParser::new(limits(128, 4));
        let mut out = Vec::new();
        for (i, (ingress, data, gap)) in chunks.iter().enumerate() {
            let c = Chunk {
                direction: if *ingress { IN } else { OUT },
                tid: 1,
                ts_ns: i as u64 * 100_000_000,
                len: data.len() as u32 + gap,
                data,
            };
            p.feed(&c, &mut out);
            prop_assert!(p.pending_len() <= 4);
            prop_assert!(p.streams_held_bytes() <= 2 * 128);
        }
        p.expire(u64::MAX, &mut out);
        p.close(u64::MAX, &mut out);
        prop_assert_eq!(p.pending_len(), 0);
    }
}
