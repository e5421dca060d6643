//! Recorded byte streams of one connection, protocol-neutral: reads the `.stream` format of
//! `tests/fixtures/http/README.md` (chunks, gaps, times, threads, expire, limits) and cuts
//! chunks into smaller reads for the split tests. Each protocol's test renders exchanges its
//! own way.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use sonde::protocol::{Chunk, Direction, ParserLimits};

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
    pub steps: Vec<Step>,
    /// When the connection closes (after the last step).
    pub close_ns: u64,
    pub expected_path: PathBuf,
}

/// `tests/fixtures/<protocol>` of this crate.
pub fn fixture_dir(protocol: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(protocol)
}

/// Every `*.stream` file of `dir`, sorted by name.
pub fn load_all(dir: &Path) -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "stream"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures found in {}", dir.display());
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
    let mut steps = Vec::new();
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
        let (direction, rest) = match line.as_bytes().first() {
            Some(b'>') => (Direction::Egress, &line[1..]),
            Some(b'<') => (Direction::Ingress, &line[1..]),
            _ => panic!("{}: a line starts with >, <, @ or #", at()),
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
        steps,
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

/// The expected lines of a fixture (comments and blank lines dropped).
pub fn expected_lines(fixture: &Fixture) -> Vec<String> {
    let text = std::fs::read_to_string(&fixture.expected_path)
        .unwrap_or_else(|_| panic!("missing {}", fixture.expected_path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Writes `got` as the expected lines of `fixture` (for `SONDE_BLESS=1`).
pub fn bless(fixture: &Fixture, got: &[String]) {
    let mut text = got.join("\n");
    text.push('\n');
    std::fs::write(&fixture.expected_path, text).expect("write expected");
}

/// xorshift64*: cut points from one seed, so that a failure is reproducible from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
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

/// The steps with each chunk cut into reads: `fine` cuts every captured byte apart (chunks
/// of up to 4 KiB captured), otherwise up to `max_cuts` random cuts per chunk.
pub fn split_steps(fixture: &Fixture, seed: u64, max_cuts: u64, fine: bool) -> Vec<Step> {
    let mut rng = Rng(seed | 1);
    let mut steps = Vec::new();
    for step in &fixture.steps {
        let Step::Chunk(c) = step else {
            steps.push(step.clone());
            continue;
        };
        let cuts: Vec<u32> = if fine && c.data.len() <= 4096 {
            (1..=c.data.len() as u32).collect()
        } else {
            let n = rng.below(max_cuts + 1);
            (0..n).map(|_| rng.below(u64::from(c.len)) as u32).collect()
        };
        steps.extend(split_chunk(c, cuts).into_iter().map(Step::Chunk));
    }
    steps
}
