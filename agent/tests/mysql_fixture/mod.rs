//! Replays the recorded MySQL byte streams under tests/fixtures/mysql (format in the README
//! there, read by `fixture_stream`) through detection and `MysqlParser`, and renders
//! exchanges as one text line each.

#![allow(dead_code, reason = "each test binary uses a different part")]

use sonde::protocol::DbExchange;
use sonde::protocol::mysql::{MysqlParser, detect_parser};

use crate::fixture_stream::{Fixture, Replay, Step, end_name, role_name};

pub struct Mysql;

impl Replay for Mysql {
    const PROTOCOL: &'static str = "mysql";

    /// The chunks up to the one detection accepts (all when none is).
    fn whole_steps(fixture: &Fixture) -> usize {
        detection_step(fixture).map_or(fixture.steps.len(), |i| i + 1)
    }

    fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String> {
        run(fixture, steps).iter().map(render).collect()
    }
}

/// The index of the step detection accepts: the chunks before it are dropped (as the
/// connection table drops them), and that one starts the parser. None when no chunk is
/// accepted.
pub fn detection_step(fixture: &Fixture) -> Option<usize> {
    fixture.steps.iter().position(|step| {
        matches!(step, Step::Chunk(c)
            if detect_parser(&c.as_chunk(), fixture.ports, fixture.limits).is_some())
    })
}

/// Replays `steps` as the connection table would (detection first), then closes the
/// connection.
pub fn run(fixture: &Fixture, steps: &[Step]) -> Vec<DbExchange> {
    let mut parser: Option<MysqlParser> = None;
    let mut out = Vec::new();
    for step in steps {
        match (step, parser.as_mut()) {
            (Step::Chunk(c), Some(p)) => p.feed(&c.as_chunk(), &mut out),
            (Step::Chunk(c), None) => {
                parser = detect_parser(&c.as_chunk(), fixture.ports, fixture.limits);
                if let Some(p) = parser.as_mut() {
                    p.feed(&c.as_chunk(), &mut out);
                }
            }
            (Step::Expire(now), Some(p)) => p.expire(*now, &mut out),
            (Step::Expire(_), None) => {}
        }
    }
    if let Some(p) = parser.as_mut() {
        p.close(fixture.close_ns, &mut out);
    }
    out
}

/// One line per exchange, fields in the order of the README, the quoted ones last.
pub fn render(x: &DbExchange) -> String {
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    let rows = x.rows.map_or("-".to_owned(), |r| r.to_string());
    let error = match &x.error {
        Some(e) => format!("err={} msg={:?}", e.code, e.message),
        None => "err=-".to_owned(),
    };
    let text = x
        .query_text
        .as_ref()
        .map_or("-".to_owned(), |t| format!("{t:?}"));
    format!(
        "{} {} {} start={} end={} tid={} ns={} op={} coll={} rows={rows} {error} text={text}",
        role_name(x.role),
        x.system.as_str(),
        end_name(x.incomplete),
        x.start_ns,
        x.end_ns,
        x.tid,
        opt(&x.namespace),
        opt(&x.operation).replace(' ', "_"),
        opt(&x.collection),
    )
}
