//! Recorded byte streams of one connection, protocol-neutral: reads the `.stream` format of
//! `tests/fixtures/http/README.md` (chunks, gaps, times, threads, expire, limits) with the
//! additions of `tests/fixtures/mysql/README.md` (`+` continuation lines, `@ports`,
//! `@secret`), cuts chunks into smaller reads, and drives the golden and split tests. Each
//! protocol renders its exchanges its own way, through a [`Replay`] adapter.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use sonde::protocol::{
    Chunk, DbExchange, Direction, Exchange, Incomplete, ParserLimits, ProtocolParser, Role,
};

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
    /// (local, peer) ports of the connection, as detection sees them (`@ports`).
    pub ports: Option<(u16, u16)>,
    pub steps: Vec<Step>,
    /// Strings that no exchange may contain (passwords of the recorded session, `@secret`).
    pub secrets: Vec<String>,
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
    split_steps_after(fixture, 0, seed, max_cuts, fine)
}

/// As [`split_steps`], but the first `whole` steps stay as recorded (the chunks detection
/// looks at: it sees one whole syscall at a time).
pub fn split_steps_after(
    fixture: &Fixture,
    whole: usize,
    seed: u64,
    max_cuts: u64,
    fine: bool,
) -> Vec<Step> {
    let mut rng = Rng(seed | 1);
    let mut steps = fixture.steps[..whole].to_vec();
    for step in &fixture.steps[whole..] {
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

/// Replays `steps` through `parser`, then closes the connection at `close_ns`.
pub fn replay(parser: &mut dyn ProtocolParser, steps: &[Step], close_ns: u64) -> Vec<Exchange> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Chunk(c) => parser.feed(&c.as_chunk(), &mut out),
            Step::Expire(now) => parser.expire(*now, &mut out),
        }
    }
    parser.close(close_ns, &mut out);
    out
}

/// The database exchanges of `out` (a database parser gives no other kind).
pub fn db_exchanges(out: Vec<Exchange>) -> Vec<DbExchange> {
    out.into_iter()
        .map(|x| match x {
            Exchange::Db(d) => d,
            other => panic!("not a database exchange: {other:?}"),
        })
        .collect()
}

/// `client` or `server`, as every protocol renders a role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}

/// How an exchange ended, as every protocol renders it.
pub fn end_name(incomplete: Option<Incomplete>) -> &'static str {
    match incomplete {
        None => "ok",
        Some(Incomplete::Timeout) => "timeout",
        Some(Incomplete::ConnectionClosed) => "closed",
        Some(Incomplete::Desync) => "desync",
    }
}

/// What the golden and split tests need of one protocol.
pub trait Replay {
    /// The directory under `tests/fixtures`.
    const PROTOCOL: &'static str;

    /// How many leading steps the split tests leave whole (those detection looks at).
    fn whole_steps(_fixture: &Fixture) -> usize {
        0
    }

    /// The rendered lines of replaying `steps` of `fixture` (from detection to close).
    fn rendered(fixture: &Fixture, steps: &[Step]) -> Vec<String>;
}

/// Every fixture of the protocol, sorted by name.
pub fn fixtures<R: Replay>() -> Vec<Fixture> {
    load_all(&fixture_dir(R::PROTOCOL))
}

/// Every fixture renders as its `.expected` file says; with `SONDE_BLESS` set, rewrites the
/// `.expected` files instead.
pub fn check_golden<R: Replay>() {
    let bless_mode = std::env::var_os("SONDE_BLESS").is_some();
    let mut failures = Vec::new();
    let fixtures = fixtures::<R>();
    for fixture in &fixtures {
        let got = R::rendered(fixture, &fixture.steps);
        if bless_mode {
            bless(fixture, &got);
            continue;
        }
        let want = expected_lines(fixture);
        if got != want {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  got:\n    {}",
                fixture.name,
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}

/// Each of `required` is the name of a fixture of the protocol.
pub fn check_required<R: Replay>(required: &[&str]) {
    let names: Vec<String> = fixtures::<R>().into_iter().map(|f| f.name).collect();
    for required in required {
        assert!(
            names.iter().any(|n| n == required),
            "missing fixture {required}"
        );
    }
}

/// Every captured byte in its own read renders as the chunks as recorded.
pub fn check_every_byte_split<R: Replay>() {
    for fixture in fixtures::<R>() {
        let whole = R::rendered(&fixture, &fixture.steps);
        let split = split_steps_after(&fixture, R::whole_steps(&fixture), 1, 0, true);
        assert_eq!(
            R::rendered(&fixture, &split),
            whole,
            "fixture {}",
            fixture.name
        );
    }
}

/// Up to `max_cuts` random cuts per chunk (from `seed`) render as the chunks as recorded.
pub fn check_random_split<R: Replay>(
    seed: u64,
    max_cuts: u64,
) -> Result<(), proptest::test_runner::TestCaseError> {
    for fixture in fixtures::<R>() {
        let whole = R::rendered(&fixture, &fixture.steps);
        let split = split_steps_after(&fixture, R::whole_steps(&fixture), seed, max_cuts, false);
        proptest::prop_assert_eq!(
            R::rendered(&fixture, &split),
            whole,
            "fixture {} split into {} steps",
            fixture.name,
            split.len()
        );
    }
    Ok(())
}

/// The split tests of one protocol: `split_tests!(HttpReplay);` in a test binary.
#[macro_export]
macro_rules! split_tests {
    ($replay:ty) => {
        #[test]
        fn every_byte_in_its_own_read_changes_nothing() {
            $crate::fixture_stream::check_every_byte_split::<$replay>();
        }

        proptest::proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

            #[test]
            fn any_split_of_the_reads_changes_nothing(
                seed in proptest::prelude::any::<u64>(),
                max_cuts in 1u64..12,
            ) {
                $crate::fixture_stream::check_random_split::<$replay>(seed, max_cuts)?;
            }
        }
    };
}
