//! Replays a recorded stream through the Redis parser. The role comes from detection on the
//! fixture's first recorded chunk (a fixture starts with a command, as the connection table
//! needs), so that splitting the chunks cannot move where parsing starts. Exchanges render
//! as one line each; the connection closes after the last step.

#![allow(dead_code, reason = "each test binary uses a different part")]

use sonde::protocol::redis::{RedisParser, RedisStats, detect};
use sonde::protocol::{DbExchange, Direction, Role};

use crate::fixture_stream::{Fixture, Replay, Step, db_exchanges, end_name, replay, role_name};

pub struct Redis;

impl Replay for Redis {
    const PROTOCOL: &'static str = "redis";

    fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String> {
        self::rendered(fixture, steps)
    }
}

/// The role detection gives the first chunk of the fixture as recorded.
pub fn role(fixture: &Fixture) -> Role {
    let Some(Step::Chunk(first)) = fixture.steps.first() else {
        panic!("{}: a fixture starts with a chunk", fixture.name);
    };
    let chunk = first.as_chunk();
    assert!(
        detect(&chunk, None, fixture.limits).is_some(),
        "{}: the first chunk is not detected as a Redis command",
        fixture.name
    );
    match chunk.direction {
        Direction::Egress => Role::Client,
        Direction::Ingress => Role::Server,
    }
}

/// The exchanges and the parser's counters after replaying `steps`.
pub fn run(fixture: &Fixture, steps: &[Step]) -> (Vec<DbExchange>, RedisStats) {
    let mut parser = RedisParser::new(fixture.limits, role(fixture));
    let exchanges = db_exchanges(replay(&mut parser, steps, fixture.close_ns));
    (exchanges, parser.stats())
}

/// One line per exchange, then one line of counters.
pub fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String> {
    let (exchanges, stats) = run(fixture, steps);
    let mut lines: Vec<String> = exchanges.iter().map(render).collect();
    lines.push(format!(
        "stats desyncs={} overflows={} orphans={} pushes={} blocking_timeouts={}",
        stats.desyncs,
        stats.pending_overflows,
        stats.orphan_replies,
        stats.pushes,
        stats.blocking_timeouts
    ));
    lines
}

/// `ROLE OP END ns=N start=NS end=NS tid=N err=CODE(MESSAGE) text=QUERY` (the text last: it
/// has spaces).
pub fn render(x: &DbExchange) -> String {
    let err = x
        .error
        .as_ref()
        .map_or("-".to_owned(), |e| format!("{}({})", e.code, e.message));
    format!(
        "{} {} {} ns={} start={} end={} tid={} err={err} text={}",
        role_name(x.role),
        x.operation.as_deref().unwrap_or("-"),
        end_name(x.incomplete),
        x.namespace.as_deref().unwrap_or("-"),
        x.start_ns,
        x.end_ns,
        x.tid,
        x.query_text.as_deref().unwrap_or("-"),
    )
}
