//! Reads the recorded MySQL byte streams under tests/fixtures/mysql (format in the README
//! there), replays them through detection and `MysqlParser`, and renders exchanges as one
//! text line each.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use sonde::protocol::mysql::{MysqlParser, detect_parser};
use sonde::protocol::{Chunk, DbExchange, Direction, Incomplete, ParserLimits, Role};

/// Default spacing of chunk timestamps.
const TICK_NS: u64 = 1000;
const DEFAULT_TID: u32 = 100;

#[derive(Clone, Debug)]
pub struct RecordedChunk {
    pub direction: Direction,
    pub tid: u32,
    pub ts_ns: u64,
    pub len: u32,
    pub data: Vec<u8>,
}

impl RecordedChunk {
    pub fn as_chunk(&self) -> Chunk<'_> {
        Chunk {
            direction: self.direction,
            tid: self.tid,
            ts_ns: self.ts_ns,
            len: self.len,
            data: &self.data,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Step {
    Chunk(RecordedChunk),
    Expire(u64),
}

#[derive(Clone, Debug)]
pub struct Fixture {
    pub name: String,
    pub limits: ParserLimits,
    /// (local, peer) ports of the connection, as detection sees them.
    pub ports: Option<(u16, u16)>,
    pub steps: Vec<Step>,
    /// Strings that no exchange may contain (passwords of the recorded session).
    pub secrets: Vec<String>,
    /// When the connection closes (after the last step).
    pub close_ns: u64,
    pub expected_path: PathBuf,
}

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mysql")
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

pub fn load(path: &Path) -> Fixture {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("fixture name")
        .to_owned();
    let text = std::fs::read_to_string(path).expect("fixture readable");
    let mut limits = ParserLimits::default();
    let mut ports = None;
    let mut secrets = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let (mut tid, mut next_ts) = (DEFAULT_TID, TICK_NS);
    let mut last_ts = 0;
    for (n, line) in text.lines().enumerate() {
        let at = || format!("{name}.stream line {}", n + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(directive) = line.strip_prefix('@') {
            let mut words = directive.split_whitespace();
            match words.next() {
                Some("limits") => {
                    assert!(steps.is_empty(), "{}: @limits after a chunk", at());
                    for word in words {
                        let (key, value) = word.split_once('=').expect("key=value");
                        let value: u64 = value.parse().expect("number");
                        match key {
                            "max_header_bytes" => limits.max_header_bytes = value as usize,
                            "max_pending" => limits.max_pending = value as usize,
                            "request_timeout_ms" => {
                                limits.request_timeout = Duration::from_millis(value)
                            }
                            _ => panic!("{}: unknown limit {key}", at()),
                        }
                    }
                }
                Some("ports") => {
                    let local = number(words.next(), &at) as u16;
                    let peer = number(words.next(), &at) as u16;
                    ports = Some((local, peer));
                }
                Some("secret") => secrets.push(directive["secret".len()..].trim().to_owned()),
                Some("tid") => {
                    tid = u32::try_from(number(words.next(), &at)).expect("tid fits u32")
                }
                Some("ts") => next_ts = number(words.next(), &at),
                Some("expire") => {
                    let now = number(words.next(), &at);
                    last_ts = last_ts.max(now);
                    steps.push(Step::Expire(now));
                }
                other => panic!("{}: unknown directive {other:?}", at()),
            }
            continue;
        }
        if let Some(more) = line.strip_prefix("+ ") {
            let Some(Step::Chunk(chunk)) = steps.last_mut() else {
                panic!("{}: `+` continues a chunk, but none came before", at());
            };
            assert_eq!(
                chunk.len as usize,
                chunk.data.len(),
                "{}: `+` after a chunk with a gap",
                at()
            );
            let bytes = unescape(more, &at);
            chunk.len += u32::try_from(bytes.len()).expect("chunk size");
            chunk.data.extend(bytes);
            continue;
        }
        let (direction, rest) = match line.as_bytes().first() {
            Some(b'>') => (Direction::Egress, &line[1..]),
            Some(b'<') => (Direction::Ingress, &line[1..]),
            _ => panic!("{}: a line starts with >, <, +, @ or #", at()),
        };
        let (gap, payload) = match rest.strip_prefix('+') {
            Some(g) => {
                let (digits, payload) = g.split_once(' ').unwrap_or((g, ""));
                (digits.parse::<u32>().expect("gap length"), payload)
            }
            None => (0, rest.strip_prefix(' ').unwrap_or(rest)),
        };
        let data = unescape(payload, &at);
        let len = u32::try_from(data.len()).expect("chunk size") + gap;
        steps.push(Step::Chunk(RecordedChunk {
            direction,
            tid,
            ts_ns: next_ts,
            len,
            data,
        }));
        last_ts = last_ts.max(next_ts);
        next_ts += TICK_NS;
    }
    Fixture {
        expected_path: path.with_extension("expected"),
        name,
        limits,
        ports,
        steps,
        secrets,
        close_ns: last_ts + TICK_NS,
    }
}

fn number(word: Option<&str>, at: &dyn Fn() -> String) -> u64 {
    word.and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{}: expected a number", at()))
}

/// `\r \n \t \0 \\ \xHH`, and `\{N}` for N filler bytes ('x').
pub fn unescape(text: &str, at: &dyn Fn() -> String) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *bytes
            .get(i)
            .unwrap_or_else(|| panic!("{}: trailing backslash", at()));
        i += 1;
        match e {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = text.get(i..i + 2).expect("two hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("hex"));
                i += 2;
            }
            b'{' => {
                let end = text[i..].find('}').expect("closing brace") + i;
                let n: usize = text[i..end].parse().expect("filler count");
                out.resize(out.len() + n, b'x');
                i = end + 1;
            }
            _ => panic!("{}: unknown escape \\{}", at(), e as char),
        }
    }
    out
}

/// How many leading chunks detection needs: the chunks before the one it accepts are
/// dropped (as the connection table drops them), and that one starts the parser. None when
/// no chunk is accepted.
pub fn detection_chunks(fixture: &Fixture) -> Option<usize> {
    let mut seen = 0;
    for step in &fixture.steps {
        if let Step::Chunk(c) = step {
            seen += 1;
            if detect_parser(&c.as_chunk(), fixture.ports, fixture.limits).is_some() {
                return Some(seen);
            }
        }
    }
    None
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
    let error = match &x.error {
        Some(e) => format!("err={} msg={:?}", e.code, e.message),
        None => "err=-".to_owned(),
    };
    let text = x
        .query_text
        .as_ref()
        .map_or("-".to_owned(), |t| format!("{t:?}"));
    format!(
        "{role} {} {end} start={} end={} tid={} ns={} op={} coll={} rows={rows} {error} text={text}",
        x.system.as_str(),
        x.start_ns,
        x.end_ns,
        x.tid,
        opt(&x.namespace),
        opt(&x.operation).replace(' ', "_"),
        opt(&x.collection),
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
