//! Pipeline throughput: recorded ring-buffer streams (built with
//! `sonde_common::decode::encode`, laid out exactly as the kernel writes them) fed through
//! `sonde::capture::Pipeline`, built the way `run.rs` builds it, into a real export queue.
//!
//! The queue is drained by a real `Exporter` (OTLP http/protobuf) that posts to a tiny
//! in-process sink answering 200 to every request, so spans are really encoded and sent. The
//! exporter runs on its own tokio thread: criterion times the pipeline thread only (events/s
//! on one core); the export stage's cost is reported separately below.
//!
//! After criterion, a second pass feeds each stream again outside criterion and reports, from
//! a counting global allocator and the thread's CPU clock: events per CPU-second of the
//! pipeline thread (immune to preemption by other load), allocations and bytes per span on
//! the pipeline thread and on the export thread, and how many spans the exporter delivered.
//! The results also go to `target/sonde-bench/pipeline.json` for `cargo xtask bench`.
//!
//! Adding a protocol: write a `fn(&mut Recorder)` that records one connection's worth of
//! exchanges and add it to [`STREAMS`].

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sonde::{
    capture::Pipeline,
    config::Limits,
    conn::ConnTable,
    discovery::{ExeMatcher, ProcessRegistry},
    export::{ExportConfig, Exporter, ExporterKind, SpanQueue},
    metrics::Metrics,
    protocol::ParserLimits,
    stats::SelfStats,
    trace::{SpanBuilder, clock::Clock, route::Routes},
};
use sonde_common::{
    ConnEvent, EventHeader, SMALL_CAPTURE_BYTES, SmallDataEvent, decode::encode, direction, kind,
    role,
};

// ---------------------------------------------------------------------------------------
// Allocation counting, by the role of the allocating thread.

const PIPELINE: usize = 0;
const EXPORT: usize = 1;
/// The in-process sink: not sonde's cost, not counted in either role.
const SINK: usize = 2;

thread_local! {
    // Const-initialised and without Drop: reading it never allocates.
    static ROLE: Cell<usize> = const { Cell::new(EXPORT) };
}

/// Off while criterion and the CPU rounds run: counting costs atomics on every allocation.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// One cache line per role, so that counting threads do not share one.
#[repr(align(64))]
struct Counter {
    allocs: AtomicU64,
    bytes: AtomicU64,
}

static COUNTERS: [Counter; 3] = [const {
    Counter {
        allocs: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
    }
}; 3];

struct Counting;

impl Counting {
    #[inline]
    fn count(size: usize) {
        if !COUNTING.load(Ordering::Relaxed) {
            return;
        }
        let role = ROLE.try_with(Cell::get).unwrap_or(EXPORT);
        COUNTERS[role].allocs.fetch_add(1, Ordering::Relaxed);
        COUNTERS[role]
            .bytes
            .fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the daemon's allocator; counting only touches
// atomics and a const thread-local.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { sonde::alloc::Allocator.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: forwarded with the caller's layout.
        unsafe { sonde::alloc::Allocator.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count(new_size);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { sonde::alloc::Allocator.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { sonde::alloc::Allocator.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocs(role: usize) -> (u64, u64) {
    (
        COUNTERS[role].allocs.load(Ordering::Relaxed),
        COUNTERS[role].bytes.load(Ordering::Relaxed),
    )
}

// ---------------------------------------------------------------------------------------
// Recorded streams.

/// Rounds of the second pass during which allocations are counted (after the CPU rounds).
const ALLOC_ROUNDS: u32 = 3;

/// Connections per recording and exchanges per connection (keep-alive).
const CONNECTIONS: u32 = 50;
const EXCHANGES: u32 = 40;

/// Builds ring-buffer records for one connection at a time, with advancing timestamps.
struct Recorder {
    records: Vec<Vec<u8>>,
    pid: u32,
    conn_id: u64,
    fd: u32,
    ts_ns: u64,
    spans: u64,
}

impl Recorder {
    fn header(&mut self) -> EventHeader {
        self.ts_ns += 20_000;
        EventHeader {
            kind: 0,
            pid: self.pid,
            tid: self.pid,
            fd: self.fd,
            ts_ns: self.ts_ns,
            conn_id: self.conn_id,
        }
    }

    fn open(&mut self, how: u32, local_port: u16, peer_port: u16) {
        let header = self.header();
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        self.records.push(encode::conn(&ConnEvent {
            header,
            family: 2,
            role: how,
            local_port: local_port.into(),
            peer_port: peer_port.into(),
            local_addr: addr,
            peer_addr: addr,
            comm: *b"bench\0\0\0\0\0\0\0\0\0\0\0",
        }));
    }

    /// One syscall's worth of bytes; `captured` < payload length models sendfile (no bytes).
    fn data(&mut self, dir: u32, syscall: u32, payload: &[u8], captured: usize) {
        let header = self.header();
        let captured = &payload[..captured.min(payload.len())];
        let mut record = encode::data(header, payload.len() as u32, dir, syscall, captured);
        // The kernel writes a small record when the call moved few bytes (or none were
        // copied, as for sendfile); `encode::data` always builds the full-size one.
        if payload.len() <= SMALL_CAPTURE_BYTES || captured.is_empty() {
            record.truncate(size_of::<SmallDataEvent>());
            // As in the ring buffer, small records sit next to each other: a 4 KiB
            // allocation each put every record on its own page, so the benchmark measured
            // TLB and cache-set misses the daemon does not have.
            record.shrink_to_fit();
        }
        self.records.push(record);
    }

    fn send(&mut self, payload: &[u8]) {
        self.data(direction::EGRESS, 1, payload, payload.len());
    }

    fn recv(&mut self, payload: &[u8]) {
        self.data(direction::INGRESS, 0, payload, payload.len());
    }

    fn close(&mut self) {
        let header = self.header();
        self.records.push(encode::small(kind::CONN_CLOSE, header));
    }
}

struct Stream {
    name: &'static str,
    /// Records one connection: open, exchanges, close. Adds the spans it expects.
    record: fn(&mut Recorder),
}

/// Every recorded stream. Add Redis/PostgreSQL/MySQL variants here as their parsers land.
const STREAMS: &[Stream] = &[
    Stream {
        name: "http_keepalive",
        record: http_keepalive,
    },
    Stream {
        name: "http_nginx_sendfile",
        record: http_nginx_sendfile,
    },
    Stream {
        name: "redis_get_setex",
        record: redis_get_setex,
    },
    Stream {
        name: "postgres_simple_query",
        record: postgres_simple_query,
    },
];

const HTTP_REQUEST: &[u8] =
    b"GET /items/42 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
const HTTP_BODY: &[u8] = b"{\"id\":42,\"name\":\"item 42\",\"price\":4.2,\"cached\":true}";

fn http_head(content_length: usize) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ndate: Tue, 25 Nov 2025 15:00:00 GMT\r\nserver: uvicorn\r\n\
         content-length: {content_length}\r\ncontent-type: application/json\r\n\r\n"
    )
    .into_bytes()
}

/// An HTTP/1.1 server connection: request in one read, response (head and body) in one write.
fn http_keepalive(r: &mut Recorder) {
    r.open(role::ACCEPTED, 8000, 40000);
    let mut response = http_head(HTTP_BODY.len());
    response.extend_from_slice(HTTP_BODY);
    for _ in 0..EXCHANGES {
        r.recv(HTTP_REQUEST);
        r.send(&response);
        r.spans += 1;
    }
    r.close();
}

/// nginx serving a small static file: head by writev, body by sendfile (a gap: no bytes).
fn http_nginx_sendfile(r: &mut Recorder) {
    const WRITEV: u32 = 20;
    const SENDFILE: u32 = 40;
    r.open(role::ACCEPTED, 8080, 40000);
    let head =
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 25 Nov 2025 15:00:00 GMT\r\n\
Content-Type: text/plain\r\nContent-Length: 13\r\nLast-Modified: Tue, 25 Nov 2025 14:00:00 GMT\r\n\
Connection: keep-alive\r\nETag: \"6925c2a0-d\"\r\nAccept-Ranges: bytes\r\n\r\n";
    for _ in 0..EXCHANGES {
        r.data(direction::INGRESS, 45, HTTP_REQUEST, HTTP_REQUEST.len());
        r.data(direction::EGRESS, WRITEV, head, head.len());
        r.data(direction::EGRESS, SENDFILE, b"hello, world\n", 0);
        r.spans += 1;
    }
    r.close();
}

/// A Redis client (redis-py): GET then SETEX per request, one write and one read each.
fn redis_get_setex(r: &mut Recorder) {
    r.open(role::CONNECTED, 40000, 6379);
    for _ in 0..EXCHANGES / 2 {
        r.send(b"*2\r\n$3\r\nGET\r\n$7\r\nitem:42\r\n");
        r.recv(b"$7\r\nitem 42\r\n");
        r.send(b"*4\r\n$5\r\nSETEX\r\n$7\r\nitem:42\r\n$2\r\n60\r\n$7\r\nitem 42\r\n");
        r.recv(b"+OK\r\n");
        r.spans += 2;
    }
    r.close();
}

fn pg_message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// A PostgreSQL client (psycopg2, autocommit): startup, then one simple query per request.
fn postgres_simple_query(r: &mut Recorder) {
    r.open(role::CONNECTED, 40000, 5432);
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608u32.to_be_bytes());
    startup.extend_from_slice(b"user\0postgres\0database\0bench\0\0");
    let mut startup_message = ((startup.len() + 4) as u32).to_be_bytes().to_vec();
    startup_message.extend_from_slice(&startup);
    r.send(&startup_message);
    let mut hello = pg_message(b'R', &0u32.to_be_bytes());
    hello.extend(pg_message(b'S', b"server_version\x0015.18\0"));
    hello.extend(pg_message(b'K', &[0, 0, 1, 2, 3, 4, 5, 6]));
    hello.extend(pg_message(b'Z', b"I"));
    r.recv(&hello);

    let query = pg_message(b'Q', b"SELECT id, name, price FROM items WHERE id = 42\0");
    let mut row_description = Vec::new();
    row_description.extend_from_slice(&3u16.to_be_bytes());
    for (name, oid) in [("id", 23u32), ("name", 25), ("price", 1700)] {
        row_description.extend_from_slice(name.as_bytes());
        row_description.push(0);
        row_description.extend_from_slice(&[0; 6]);
        row_description.extend_from_slice(&oid.to_be_bytes());
        row_description.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    }
    let mut data_row = 3u16.to_be_bytes().to_vec();
    for value in [&b"42"[..], b"item 42", b"4.20"] {
        data_row.extend_from_slice(&(value.len() as u32).to_be_bytes());
        data_row.extend_from_slice(value);
    }
    let mut result = pg_message(b'T', &row_description);
    result.extend(pg_message(b'D', &data_row));
    result.extend(pg_message(b'C', b"SELECT 1\0"));
    result.extend(pg_message(b'Z', b"I"));
    for _ in 0..EXCHANGES {
        r.send(&query);
        r.recv(&result);
        r.spans += 1;
    }
    r.close();
}

/// One recording: [`CONNECTIONS`] connections of the stream, one after another.
struct Recording {
    records: Vec<Vec<u8>>,
    spans_expected: u64,
}

fn record(stream: &Stream) -> Recording {
    let mut r = Recorder {
        records: Vec::new(),
        // A real process, so the span builder finds a resource for it in /proc.
        pid: std::process::id(),
        conn_id: 0,
        fd: 0,
        ts_ns: 1_000_000_000,
        spans: 0,
    };
    for i in 0..CONNECTIONS {
        r.conn_id = 0x1000 + u64::from(i);
        r.fd = 10 + i;
        (stream.record)(&mut r);
    }
    Recording {
        records: r.records,
        spans_expected: r.spans,
    }
}

// ---------------------------------------------------------------------------------------
// The export stage's far end: answers 200 with an empty ExportTraceServiceResponse.

fn start_sink() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the sink");
    let port = listener.local_addr().expect("sink address").port();
    std::thread::spawn(move || {
        ROLE.with(|r| r.set(SINK));
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                ROLE.with(|r| r.set(SINK));
                let _ = serve(stream);
            });
        }
    });
    port
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut body = Vec::new();
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
        writer.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )?;
    }
}

// ---------------------------------------------------------------------------------------
// The pipeline, built as run.rs builds it.

struct Harness {
    pipeline: Pipeline,
    stats: Arc<SelfStats>,
    exporter: Option<Exporter>,
    runtime: tokio::runtime::Runtime,
}

impl Harness {
    fn new(sink_port: u16, thread_name: &str) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let stats = Arc::new(SelfStats::default());
        let config = ExportConfig {
            kind: ExporterKind::OtlpHttp,
            endpoint: format!("http://127.0.0.1:{sink_port}"),
            // The daemon waits up to 5 s for a batch to fill; here the queue is drained
            // between iterations, and waiting for a partial batch would only add idle time.
            schedule_delay: Duration::from_millis(2),
            ..ExportConfig::default()
        };
        let (exporter, queue) = {
            let _entered = runtime.enter();
            Exporter::start(config, stats.clone()).expect("the exporter starts")
        };
        Harness {
            pipeline: pipeline(queue, stats.clone()),
            stats,
            exporter: Some(exporter),
            runtime,
        }
    }

    fn feed(&mut self, recording: &Recording) {
        for record in &recording.records {
            self.pipeline.handle(record);
        }
    }

    /// Waits until every span created so far was exported or dropped.
    fn drain(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        while get(&self.stats.spans_exported) + get(&self.stats.spans_dropped)
            < get(&self.stats.spans_created)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(exporter) = self.exporter.take() {
            self.runtime
                .block_on(exporter.shutdown(Duration::from_secs(5)));
        }
    }
}

fn pipeline(queue: SpanQueue, stats: Arc<SelfStats>) -> Pipeline {
    let limits = Limits::default();
    let parser_limits = ParserLimits {
        max_header_bytes: limits.max_header_bytes,
        max_pending: limits.max_pending,
        request_timeout: limits.request_timeout(),
    };
    Pipeline::new(
        ConnTable::new(limits.connections, parser_limits, stats.clone()),
        SpanBuilder::new(
            ProcessRegistry::new(Vec::new()),
            Clock::new(),
            Routes::new(&["/items/{id}".to_owned()]),
        ),
        queue,
        stats.clone(),
        ExeMatcher::new(&[]).expect("no globs"),
        Metrics::new(limits.max_metric_series, &[], stats),
    )
}

// ---------------------------------------------------------------------------------------
// Criterion: wall time of the pipeline thread per recording.

fn bench(c: &mut Criterion, sink_port: u16) {
    ROLE.with(|r| r.set(PIPELINE));
    let mut group = c.benchmark_group("pipeline");
    for stream in STREAMS {
        let recording = record(stream);
        let mut harness = Harness::new(sink_port, "bench-export-c");
        group.throughput(Throughput::Elements(recording.records.len() as u64));
        // Only the feeding is timed; between iterations the exporter drains the queue, as it
        // does between ring-buffer wake-ups, so no span is dropped and every span is freed
        // by the export thread, as in the daemon.
        group.bench_function(stream.name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    harness.feed(std::hint::black_box(&recording));
                    timed += start.elapsed();
                    harness.drain();
                }
                timed
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// The second pass: CPU time and allocations per span, and what the exporter delivered.

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; this clock always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time of this process's threads named `name`, from /proc/self/task.
fn export_threads_cpu(name: &str) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        ticks += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_secs_f64(ticks as f64 / hz)
}

struct PassResult {
    name: &'static str,
    events: u64,
    spans_expected: u64,
    spans_created: u64,
    /// Spans made while allocations were counted.
    counted_spans: u64,
    spans_exported: u64,
    spans_dropped: u64,
    pipeline_cpu: Duration,
    median_round_cpu: Duration,
    fastest_round_cpu: Duration,
    events_per_round: u64,
    wall: Duration,
    export_cpu: Duration,
    pipeline_allocs: u64,
    pipeline_bytes: u64,
    export_allocs: u64,
    export_bytes: u64,
}

/// One stream's state during the second pass.
struct Live {
    stream: &'static Stream,
    recording: Recording,
    harness: Harness,
    /// Span counters after the warm-up.
    created0: u64,
    exported0: u64,
    dropped0: u64,
    export_cpu0: Duration,
    round_cpu: Vec<Duration>,
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// The second pass over every stream. The CPU rounds go round-robin over the streams, so
/// that a burst of other work on this shared machine slows them all alike.
fn passes(sink_port: u16, rounds: u32) -> Vec<PassResult> {
    ROLE.with(|r| r.set(PIPELINE));
    let mut live: Vec<Live> = STREAMS
        .iter()
        .enumerate()
        .map(|(i, stream)| {
            let recording = record(stream);
            let mut harness = Harness::new(sink_port, &export_thread_name(i));
            // Warm up: tables, the resource cache, the exporter's connection.
            harness.feed(&recording);
            harness.drain();
            let stats = harness.stats.clone();
            Live {
                stream,
                recording,
                harness,
                created0: get(&stats.spans_created),
                exported0: get(&stats.spans_exported),
                dropped0: get(&stats.spans_dropped),
                export_cpu0: export_threads_cpu(&export_thread_name(i)),
                round_cpu: Vec::new(),
            }
        })
        .collect();
    let wall0 = Instant::now();
    for _ in 0..rounds {
        for l in &mut live {
            let cpu0 = thread_cpu();
            l.harness.feed(&l.recording);
            l.round_cpu.push(thread_cpu() - cpu0);
            // Let the exporter keep up, as it would between ring-buffer wake-ups.
            l.harness.drain();
        }
    }
    let wall = wall0.elapsed();
    live.into_iter()
        .enumerate()
        .map(|(i, mut l)| {
            let export_cpu =
                export_threads_cpu(&export_thread_name(i)).saturating_sub(l.export_cpu0);
            let stats = l.harness.stats.clone();
            let pipeline_cpu: Duration = l.round_cpu.iter().sum();
            l.round_cpu.sort();
            let median_round_cpu = l.round_cpu[l.round_cpu.len() / 2];
            let fastest_round_cpu = l.round_cpu[0];
            let counted_spans0 = get(&stats.spans_created);
            let (pa0, pb0) = allocs(PIPELINE);
            let (ea0, eb0) = allocs(EXPORT);
            COUNTING.store(true, Ordering::Relaxed);
            for _ in 0..ALLOC_ROUNDS {
                l.harness.feed(&l.recording);
                l.harness.drain();
            }
            COUNTING.store(false, Ordering::Relaxed);
            let (pa1, pb1) = allocs(PIPELINE);
            let (ea1, eb1) = allocs(EXPORT);
            PassResult {
                name: l.stream.name,
                events: l.recording.records.len() as u64 * u64::from(rounds),
                spans_expected: l.recording.spans_expected * u64::from(rounds + ALLOC_ROUNDS),
                spans_created: get(&stats.spans_created) - l.created0,
                counted_spans: get(&stats.spans_created) - counted_spans0,
                spans_exported: get(&stats.spans_exported) - l.exported0,
                spans_dropped: get(&stats.spans_dropped) - l.dropped0,
                pipeline_cpu,
                median_round_cpu,
                fastest_round_cpu,
                events_per_round: l.recording.records.len() as u64,
                wall,
                export_cpu,
                pipeline_allocs: pa1 - pa0,
                pipeline_bytes: pb1 - pb0,
                export_allocs: ea1 - ea0,
                export_bytes: eb1 - eb0,
            }
        })
        .collect()
}

/// The export runtime's thread name for stream `i` (at most 15 bytes: the kernel's limit).
fn export_thread_name(i: usize) -> String {
    format!("bench-export-{i}")
}

impl PassResult {
    /// Allocations or bytes per span, over the counted rounds.
    fn per_span(&self, x: u64) -> f64 {
        x as f64 / self.counted_spans.max(1) as f64
    }

    fn json(&self) -> String {
        format!(
            "{{\"name\":\"{}\",\"events\":{},\"spans_expected\":{},\"spans_created\":{},\
             \"counted_spans\":{},\"spans_exported\":{},\"spans_dropped\":{},\
             \"pipeline_cpu_ns\":{},\"median_round_cpu_ns\":{},\"fastest_round_cpu_ns\":{},\"events_per_round\":{},\
             \"wall_ns\":{},\
             \"export_cpu_ns\":{},\"pipeline_allocs\":{},\"pipeline_bytes\":{},\
             \"export_allocs\":{},\"export_bytes\":{}}}",
            self.name,
            self.events,
            self.spans_expected,
            self.spans_created,
            self.counted_spans,
            self.spans_exported,
            self.spans_dropped,
            self.pipeline_cpu.as_nanos(),
            self.median_round_cpu.as_nanos(),
            self.fastest_round_cpu.as_nanos(),
            self.events_per_round,
            self.wall.as_nanos(),
            self.export_cpu.as_nanos(),
            self.pipeline_allocs,
            self.pipeline_bytes,
            self.export_allocs,
            self.export_bytes
        )
    }

    fn print(&self) {
        println!(
            "{}: {:.0} events per pipeline-CPU-second (median round); {}/{} spans created, \
             {} exported, {} dropped; per span: pipeline {:.1} allocations ({:.0} B), \
             export {:.1} allocations \
             ({:.0} B), export CPU {:.2} µs",
            self.name,
            self.events_per_round as f64 / self.median_round_cpu.as_secs_f64(),
            self.spans_created,
            self.spans_expected,
            self.spans_exported,
            self.spans_dropped,
            self.per_span(self.pipeline_allocs),
            self.per_span(self.pipeline_bytes),
            self.per_span(self.export_allocs),
            self.per_span(self.export_bytes),
            self.export_cpu.as_secs_f64() * 1e6
                / (self.spans_created - self.counted_spans).max(1) as f64,
        );
    }
}

fn out_path() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        std::path::PathBuf::from,
    );
    target.join("sonde-bench").join("pipeline.json")
}

fn main() {
    let sink_port = start_sink();
    let args: Vec<String> = std::env::args().collect();
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, sink_port);
    criterion.final_summary();
    // `cargo bench` passes --bench; `cargo test --benches` (a smoke run) and --list do not
    // need the second pass.
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--list") {
        return;
    }
    let rounds = std::env::var("SONDE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        // 200 rounds of a few milliseconds each: enough CPU time per stream (about half a
        // second) that the median outlasts the machine's sub-second slowdowns.
        .unwrap_or(200);
    let results = passes(sink_port, rounds);
    for r in &results {
        r.print();
    }
    let json = format!(
        "{{\"connections\":{CONNECTIONS},\"exchanges\":{EXCHANGES},\"rounds\":{rounds},\
         \"streams\":[{}]}}\n",
        results
            .iter()
            .map(PassResult::json)
            .collect::<Vec<_>>()
            .join(",")
    );
    let path = out_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, json) {
        Ok(()) => println!("pipeline: results in {}", path.display()),
        Err(e) => eprintln!("pipeline: cannot write {}: {e}", path.display()),
    }
}
