//! Replays the recorded PostgreSQL byte streams under tests/fixtures/postgres (the `.stream`
//! format of tests/fixtures/http, read by `http_fixture::load`) through `PostgresParser`, and
//! renders exchanges as one text line each (format in tests/fixtures/postgres/README.md).

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};

use sonde::protocol::postgres::{PostgresParser, classify};
use sonde::protocol::{DbExchange, Exchange, Incomplete, ProtocolParser, Role};

use crate::http_fixture::{Fixture, RecordedChunk, Step, load};

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/postgres")
}

/// Every `*.stream` file, sorted by name.
pub fn load_all() -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "stream"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures found");
    paths.iter().map(|p| load(p)).collect()
}

/// Where detection picks the connection up, as the connection table does it: the first chunk
/// `classify` accepts (chunks before it are dropped). Returns the parser and that step's
/// index; None when no chunk looks like PostgreSQL.
pub fn detect(fixture: &Fixture) -> Option<(PostgresParser, usize)> {
    fixture.steps.iter().enumerate().find_map(|(i, step)| {
        let Step::Chunk(c) = step else {
            return None;
        };
        let (frontend, opening) = classify(&c.as_chunk(), None)?;
        Some((PostgresParser::new(fixture.limits, frontend, opening), i))
    })
}

/// Replays `steps` (from the detected chunk on) through `parser`, then closes the connection.
pub fn run(mut parser: PostgresParser, steps: &[Step], close_ns: u64) -> Vec<DbExchange> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Chunk(c) => parser.feed(&c.as_chunk(), &mut out),
            Step::Expire(now) => parser.expire(*now, &mut out),
        }
    }
    parser.close(close_ns, &mut out);
    out.into_iter()
        .map(|x| match x {
            Exchange::Db(d) => d,
            other => panic!("not a database exchange: {other:?}"),
        })
        .collect()
}

/// Detects and replays a fixture as recorded.
pub fn run_fixture(fixture: &Fixture) -> Vec<DbExchange> {
    match detect(fixture) {
        Some((parser, first)) => run(parser, &fixture.steps[first..], fixture.close_ns),
        None => Vec::new(),
    }
}

/// One line per exchange, the fields in the order of the README.
pub fn render(x: &DbExchange) -> String {
    let role = match x.role {
        Role::Client => "client",
        Role::Server => "server",
    };
    let end = match x.incomplete {
        None => "ok",
        Some(Incomplete::Timeout) => "timeout",
        Some(Incomplete::ConnectionClosed) => "closed",
        Some(Incomplete::Desync) => "desync",
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    let rows = x.rows.map_or("-".to_owned(), |r| r.to_string());
    let (code, message) = match &x.error {
        Some(e) => (e.code.clone(), format!(" errmsg={:?}", e.message)),
        None => ("-".to_owned(), String::new()),
    };
    let text = x
        .query_text
        .as_ref()
        .map_or("-".to_owned(), |t| format!("{t:?}"));
    format!(
        "{role} {end} op={} coll={} ns={} rows={rows} err={code} start={} end={} tid={} text={text}{message}",
        opt(&x.operation),
        opt(&x.collection),
        opt(&x.namespace),
        x.start_ns,
        x.end_ns,
        x.tid,
    )
}

/// The expected lines of a fixture (comments and blank lines dropped).
pub fn expected_lines(fixture: &Fixture) -> Vec<String> {
    let text = std::fs::read_to_string(&fixture.expected_path)
        .unwrap_or_else(|_| panic!("missing {}", fixture.expected_path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Cuts one chunk at `cuts` points of its `len` bytes (captured and not). Pieces before the
/// end of the captured bytes are captured; the piece across it keeps the captured tail and
/// the start of the gap; later pieces are all gap.
pub fn split_chunk(c: &RecordedChunk, mut cuts: Vec<u32>) -> Vec<RecordedChunk> {
    cuts.retain(|&p| p > 0 && p < c.len);
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0u32;
    for end in cuts.into_iter().chain([c.len]) {
        let captured_end = (end as usize).min(c.data.len());
        let captured_start = (start as usize).min(c.data.len());
        pieces.push(RecordedChunk {
            len: end - start,
            data: c.data[captured_start..captured_end].to_vec(),
            ..c.clone()
        });
        start = end;
    }
    pieces
}
