//! Replays the recorded HTTP byte streams under tests/fixtures/http (format in the README
//! there, read by `fixture_stream`) through `HttpParser`, and renders exchanges as one text
//! line each.

#![allow(dead_code, reason = "each test binary uses a different part")]

use sonde::protocol::http::{HttpExchange, HttpParser};
use sonde::protocol::{Exchange, ParserLimits};

use crate::fixture_stream::{Fixture, Replay, Step, end_name, replay, role_name};

pub struct Http;

impl Replay for Http {
    const PROTOCOL: &'static str = "http";

    fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String> {
        run(fixture.limits, steps, fixture.close_ns)
            .iter()
            .map(render)
            .collect()
    }
}

/// Replays `steps`, then closes the connection.
pub fn run(limits: ParserLimits, steps: &[Step], close_ns: u64) -> Vec<HttpExchange> {
    replay(&mut HttpParser::new(limits), steps, close_ns)
        .into_iter()
        .map(|x| match x {
            Exchange::Http(h) => h,
            other => panic!("not an HTTP exchange: {other:?}"),
        })
        .collect()
}

/// One line per exchange; the fields in the order of the README, user agent last.
pub fn render(x: &HttpExchange) -> String {
    let status = x.status.map_or("-".to_owned(), |s| s.to_string());
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    format!(
        "{} {} {} HTTP/1.{} {status} {} req={} resp={} start={} end={} tid={} host={} tp={} ua={}",
        role_name(x.role),
        x.method,
        x.target,
        x.version_minor,
        end_name(x.incomplete),
        x.request_body_bytes,
        x.response_body_bytes,
        x.request_start_ns,
        x.response_end_ns,
        x.tid,
        opt(&x.host),
        opt(&x.traceparent),
        opt(&x.user_agent),
    )
}
