//! Replays the recorded PostgreSQL byte streams under tests/fixtures/postgres (the `.stream`
//! format of tests/fixtures/http, read by `fixture_stream`) through `PostgresParser`, and
//! renders exchanges as one text line each (format in tests/fixtures/postgres/README.md).

#![allow(dead_code, reason = "each test binary uses a different part")]

use sonde::protocol::DbExchange;
use sonde::protocol::postgres::{PostgresParser, classify};

use crate::fixture_stream::{Fixture, Replay, Step, db_exchanges, end_name, replay, role_name};

pub struct Postgres;

impl Replay for Postgres {
    const PROTOCOL: &'static str = "postgres";

    /// The steps before the chunk detection accepts: detection runs on the chunks as
    /// recorded (it looks at whole syscalls); the parser then gets the pieces.
    fn whole_steps(fixture: &Fixture) -> usize {
        detect(fixture).map_or(fixture.steps.len(), |(_, first)| first)
    }

    /// Detection on the fixture as recorded picks the parser and the step it starts at;
    /// `steps` are replayed from that index on (the steps before it are the same in the
    /// split ones).
    fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String> {
        match detect(fixture) {
            Some((parser, first)) => run(parser, &steps[first..], fixture.close_ns)
                .iter()
                .map(render)
                .collect(),
            None => Vec::new(),
        }
    }
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
    db_exchanges(replay(&mut parser, steps, close_ns))
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
        "{} {} op={} coll={} ns={} rows={rows} err={code} start={} end={} tid={} text={text}{message}",
        role_name(x.role),
        end_name(x.incomplete),
        opt(&x.operation),
        opt(&x.collection),
        opt(&x.namespace),
        x.start_ns,
        x.end_ns,
        x.tid,
    )
}
