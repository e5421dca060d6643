//! End to end with Redis: a real redis-server on loopback, real clients (redis-cli,
//! redis-benchmark, a std TCP client, a Celery worker), the real sonde binary and a real OTLP
//! receiver. Counts are exact.

use std::{
    io::Write as _,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use sonde_tests::{
    agent::{Sonde, privileged},
    otlp::{OtlpReceiver, ReceivedSpan},
    redis_server::RedisServer,
};

const WAIT: Duration = Duration::from_secs(30);
/// The proto status code of an error.
const STATUS_ERROR: i32 = 2;

fn otlp_env(receiver: &OtlpReceiver) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
}

fn start_sonde(receiver: &OtlpReceiver, port: u16) -> anyhow::Result<Sonde> {
    Sonde::start(&["--port".into(), port.to_string()], &otlp_env(receiver))
}

/// As [`start_sonde`], with room for `spans` in the export queue: a benchmark makes spans in
/// a burst far faster than one exporter sends them, and a full queue drops (as in every
/// OpenTelemetry SDK, `OTEL_BSP_MAX_QUEUE_SIZE` defaults to 2048).
fn start_sonde_for_burst(
    receiver: &OtlpReceiver,
    port: u16,
    spans: usize,
) -> anyhow::Result<Sonde> {
    let mut env = otlp_env(receiver);
    env.push(("OTEL_BSP_MAX_QUEUE_SIZE", spans.to_string()));
    Sonde::start(&["--port".into(), port.to_string()], &env)
}

/// Client spans of Redis commands sent to `port`.
fn redis_clients(spans: &[ReceivedSpan], port: u16) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.is_client()
                && s.attr("db.system.name") == Some("redis")
                && s.attr("server.port") == Some(&port.to_string())
        })
        .cloned()
        .collect()
}

fn with_op<'a>(spans: &'a [ReceivedSpan], op: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.attr("db.operation.name") == Some(op))
        .collect()
}

fn describe(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .take(30)
        .map(|s| format!("{} kind={} {:?}\n", s.name, s.kind, s.attributes))
        .collect()
}

/// Runs `redis-cli` with `args`, feeding `stdin` (one command a line); returns its stdout.
fn redis_cli(args: &[&str], stdin: &str) -> anyhow::Result<String> {
    let mut child = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting redis-cli")?;
    child
        .stdin
        .take()
        .context("redis-cli stdin")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("redis-cli failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stops sonde (flushing every span) and returns the Redis client spans to `port`.
async fn finish(
    sonde: Sonde,
    receiver: &OtlpReceiver,
    port: u16,
    enough: impl Fn(&[ReceivedSpan]) -> bool,
) -> anyhow::Result<Vec<ReceivedSpan>> {
    receiver
        .wait_for_spans(|s| enough(&redis_clients(s, port)), WAIT)
        .await;
    // sonde's own counters, for a failure's diagnosis.
    let health = sonde.metrics().unwrap_or_default();
    for line in health.lines().filter(|l| l.starts_with("sonde_")) {
        eprintln!("{line}");
    }
    let status = sonde.stop()?;
    assert!(status.success(), "sonde exit: {status}");
    Ok(redis_clients(&receiver.spans(), port))
}

/// redis-cli reading 50 commands from stdin over one connection: exactly 50 client spans
/// with the right operation names (plus the COMMAND DOCS redis-cli sends first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_fifty_commands() -> anyhow::Result<()> {
    if !privileged("redis_cli_fifty_commands") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let mut script = String::new();
    for i in 0..10 {
        script += &format!("SET key:{i} value-{i}\nGET key:{i}\nINCR counter:{i}\n");
        script += &format!("HSET hash:{i} field secret-{i}\nDEL key:{i}\n");
    }
    let p = port.to_string();
    tokio::task::spawn_blocking(move || redis_cli(&["-p", &p], &script)).await??;

    let spans = finish(sonde, &receiver, port, |s| s.len() >= 51).await?;
    let commands: Vec<_> = spans
        .iter()
        .filter(|s| s.attr("db.operation.name") != Some("COMMAND DOCS"))
        .cloned()
        .collect();
    assert_eq!(commands.len(), 50, "{}", describe(&spans));
    assert_eq!(
        with_op(&spans, "COMMAND DOCS").len(),
        1,
        "{}",
        describe(&spans)
    );
    for op in ["SET", "GET", "INCR", "HSET", "DEL"] {
        assert_eq!(
            with_op(&commands, op).len(),
            10,
            "{op}: {}",
            describe(&spans)
        );
    }
    for s in &commands {
        let op = s.attr("db.operation.name").unwrap_or_default();
        assert_eq!(s.name, op);
        assert_eq!(s.attr("db.namespace"), Some("0"));
        assert_eq!(s.attr("server.address"), Some("127.0.0.1"));
        let text = s.attr("db.query.text").unwrap_or_default();
        assert!(
            !text.contains("value-") && !text.contains("secret-"),
            "{text}"
        );
        assert_ne!(s.status_code, STATUS_ERROR, "{s:?}");
    }
    assert!(
        with_op(&commands, "SET")
            .iter()
            .any(|s| s.attr("db.query.text") == Some("SET key:3 ?"))
    );
    assert!(
        with_op(&commands, "HSET")
            .iter()
            .any(|s| s.attr("db.query.text") == Some("HSET hash:3 ? ?"))
    );
    Ok(())
}

/// redis-benchmark pipelining 16 commands per write: exactly 10000 GET and 10000 SET spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_pipelined_exact_counts() -> anyhow::Result<()> {
    if !privileged("redis_benchmark_pipelined_exact_counts") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde_for_burst(&receiver, port, 65536)?;
    let p = port.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("redis-benchmark")
            .args([
                "-p", &p, "-P", "16", "-n", "10000", "-t", "get,set", "-c", "1", "-q",
            ])
            .output()
    })
    .await??;
    assert!(out.status.success(), "redis-benchmark failed");

    let spans = finish(sonde, &receiver, port, |s| {
        with_op(s, "GET").len() >= 10000 && with_op(s, "SET").len() >= 10000
    })
    .await?;
    assert_eq!(with_op(&spans, "SET").len(), 10000);
    assert_eq!(with_op(&spans, "GET").len(), 10000);
    let partial = spans
        .iter()
        .filter(|s| s.attr("sonde.partial").is_some())
        .count();
    assert_eq!(partial, 0, "{}", describe(&spans));
    Ok(())
}

/// redis-cli -3 (HELLO 3 first): map, set and double replies read as RESP3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_client() -> anyhow::Result<()> {
    if !privileged("resp3_client") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let p = port.to_string();
    let script = "HSET h f v\nHGETALL h\nSADD s m\nSMEMBERS s\nZADD z 1.5 m\nZSCORE z m\n";
    let out = tokio::task::spawn_blocking(move || redis_cli(&["-3", "-p", &p], script)).await??;
    assert!(out.contains("1.5"), "{out}");

    let spans = finish(sonde, &receiver, port, |s| with_op(s, "ZSCORE").len() == 1).await?;
    let hello = with_op(&spans, "HELLO");
    assert_eq!(hello.len(), 1, "{}", describe(&spans));
    assert_eq!(hello[0].attr("db.query.text"), Some("HELLO ?"));
    for op in ["HSET", "HGETALL", "SADD", "SMEMBERS", "ZADD", "ZSCORE"] {
        let found = with_op(&spans, op);
        assert_eq!(found.len(), 1, "{op}: {}", describe(&spans));
        assert_ne!(found[0].status_code, STATUS_ERROR);
        assert!(found[0].attr("sonde.partial").is_none());
    }
    Ok(())
}

/// MULTI, queued commands and EXEC are each a span; the EXEC span ends at the results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_exec() -> anyhow::Result<()> {
    if !privileged("multi_exec") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let p = port.to_string();
    let script = "MULTI\nSET a 1\nINCR a\nLPUSH a x\nEXEC\n";
    tokio::task::spawn_blocking(move || redis_cli(&["-p", &p], script)).await??;

    let spans = finish(sonde, &receiver, port, |s| with_op(s, "EXEC").len() == 1).await?;
    for op in ["MULTI", "SET", "INCR", "LPUSH", "EXEC"] {
        assert_eq!(with_op(&spans, op).len(), 1, "{op}: {}", describe(&spans));
    }
    let exec = with_op(&spans, "EXEC")[0];
    let queued_end = with_op(&spans, "LPUSH")[0].end_ns;
    assert!(exec.end_ns >= queued_end);
    // LPUSH on a string fails inside the transaction: the EXEC span says so.
    assert_eq!(exec.status_code, STATUS_ERROR);
    assert_eq!(exec.attr("error.type"), Some("WRONGTYPE"));
    Ok(())
}

/// BLPOP waits ~500 ms until another client pushes: its span covers the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blpop_covers_the_wait() -> anyhow::Result<()> {
    if !privileged("blpop_covers_the_wait") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let mut waiter = redis.client()?;
    let mut pusher = redis.client()?;
    let push = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        pusher.command(&["LPUSH", "jobs", "job-1"])
    });
    let got =
        tokio::task::spawn_blocking(move || waiter.command(&["BLPOP", "jobs", "5"])).await??;
    assert_eq!(got, "[$jobs, $job-1]");
    push.join()
        .map_err(|_| anyhow::anyhow!("pusher panicked"))??;

    let spans = finish(sonde, &receiver, port, |s| with_op(s, "BLPOP").len() == 1).await?;
    let blpop = with_op(&spans, "BLPOP");
    assert_eq!(blpop.len(), 1, "{}", describe(&spans));
    let ms = (blpop[0].end_ns - blpop[0].start_ns) / 1_000_000;
    assert!((400..1500).contains(&ms), "BLPOP span lasted {ms} ms");
    assert_eq!(blpop[0].attr("db.query.text"), Some("BLPOP jobs ?"));
    assert_eq!(with_op(&spans, "LPUSH").len(), 1);
    Ok(())
}

/// A WRONGTYPE reply: status ERROR and error.type WRONGTYPE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongtype_error() -> anyhow::Result<()> {
    if !privileged("wrongtype_error") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let mut c = redis.client()?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        c.command(&["SET", "k", "v"])?;
        let reply = c.command(&["LPUSH", "k", "x"])?;
        assert!(reply.starts_with("-WRONGTYPE"), "{reply}");
        Ok(())
    })
    .await??;

    let spans = finish(sonde, &receiver, port, |s| with_op(s, "LPUSH").len() == 1).await?;
    let lpush = with_op(&spans, "LPUSH");
    assert_eq!(lpush.len(), 1, "{}", describe(&spans));
    assert_eq!(lpush[0].status_code, STATUS_ERROR);
    assert_eq!(lpush[0].attr("error.type"), Some("WRONGTYPE"));
    assert_eq!(lpush[0].attr("db.response.status_code"), Some("WRONGTYPE"));
    let set = with_op(&spans, "SET");
    assert_eq!(set.len(), 1);
    assert_ne!(set[0].status_code, STATUS_ERROR);
    Ok(())
}

/// A password sent with AUTH (redis-cli -a) and HELLO 3 AUTH appears in nothing the
/// receiver got, nor in sonde's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_password_never_leaves() -> anyhow::Result<()> {
    if !privileged("auth_password_never_leaves") {
        return Ok(());
    }
    const PASSWORD: &str = "pw-Zq81-never-exported";
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start_with_password(Some(PASSWORD))?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let p = port.to_string();
    tokio::task::spawn_blocking(move || {
        redis_cli(
            &["-p", &p, "--no-auth-warning", "-a", PASSWORD],
            "SET k v\nGET k\n",
        )?;
        redis_cli(
            &["-3", "-p", &p, "--no-auth-warning", "-a", PASSWORD],
            "PING\n",
        )?;
        // A wrong password, and the right one as a bare AUTH argument.
        redis_cli(
            &["-p", &p],
            &format!("AUTH {PASSWORD}x\nAUTH {PASSWORD}\nPING\n"),
        )
    })
    .await??;

    receiver
        .wait_for_spans(
            |s| with_op(&redis_clients(s, port), "PING").len() >= 2,
            WAIT,
        )
        .await;
    let output = format!("{}\n{}", sonde.log_text(), sonde.stdout_text());
    assert!(!output.contains(PASSWORD), "password in sonde's output");
    let spans = finish(sonde, &receiver, port, |_| true).await?;
    let auths = with_op(&spans, "AUTH");
    assert!(auths.len() >= 3, "{}", describe(&spans));
    assert!(
        auths
            .iter()
            .all(|s| s.attr("db.query.text") == Some("AUTH ?"))
    );
    assert!(auths.iter().any(|s| s.status_code == STATUS_ERROR));
    let everything = receiver.spans();
    assert!(!everything.is_empty());
    for s in &everything {
        let text = format!(
            "{} {:?} {:?} {}",
            s.name, s.attributes, s.resource, s.status_message
        );
        assert!(!text.contains(PASSWORD), "password in a span: {text}");
    }
    let metrics = format!("{:?}", receiver.metrics());
    assert!(!metrics.contains(PASSWORD), "password in a metric");
    Ok(())
}

/// A connection opened before sonde starts: its next 100 commands give exactly 100 spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_opened_before_sonde() -> anyhow::Result<()> {
    if !privileged("connection_opened_before_sonde") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let mut c = redis.client()?;
    assert_eq!(c.command(&["PING"])?, "PONG");
    let sonde = start_sonde(&receiver, port)?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for i in 0..50 {
            c.command(&["SET", &format!("early:{i}"), "v"])?;
            c.command(&["GET", &format!("early:{i}")])?;
        }
        Ok(())
    })
    .await??;

    let spans = finish(sonde, &receiver, port, |s| s.len() >= 100).await?;
    assert_eq!(spans.len(), 100, "{}", describe(&spans));
    assert_eq!(with_op(&spans, "SET").len(), 50);
    assert_eq!(with_op(&spans, "GET").len(), 50);
    Ok(())
}

/// The server side of a Redis connection makes no spans (only clients make database spans),
/// so sonde mutes its capture once it has seen the first exchange. With both ends watched,
/// of a PING and then 200 commands the agent reads exactly the client's 402 socket calls and
/// the server's first 2 (PING read, PONG written): 404 data events, where 804 would mean the
/// server's end was never muted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_muted_after_first_exchange() -> anyhow::Result<()> {
    if !privileged("server_side_muted_after_first_exchange") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let sonde = start_sonde(&receiver, port)?;
    let before = sonde.metric("sonde_data_events_read_total")?;
    let mut c = redis.client()?;
    assert_eq!(c.command(&["PING"])?, "PONG");
    // The agent drains the ring buffer every 20 ms; give it time to mute the server's end.
    let deadline = Instant::now() + WAIT;
    while sonde.metric("sonde_connections_muted_total")? < 1.0 {
        assert!(Instant::now() < deadline, "the server side was never muted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for i in 0..100 {
            c.command(&["SET", &format!("mute:{i}"), "v"])?;
            c.command(&["GET", &format!("mute:{i}")])?;
        }
        Ok(())
    })
    .await??;
    receiver
        .wait_for_spans(|s| redis_clients(s, port).len() >= 201, WAIT)
        .await;
    let data_events = sonde.metric("sonde_data_events_read_total")? - before;
    let muted = sonde.metric("sonde_connections_muted_total")?;
    // Every kernel table's overflow counter is served, and none overflowed here.
    let text = sonde.metrics()?;
    for name in [
        "sonde_kernel_connections_full_total 0",
        "sonde_iovec_overflows_total 0",
        "sonde_watch_list_full_total 0",
        "sonde_self_ports_full_total 0",
        "sonde_events_lost_total 0",
    ] {
        assert!(text.lines().any(|l| l == name), "no `{name}` in\n{text}");
    }
    assert!(sonde.stop()?.success());
    let spans = redis_clients(&receiver.spans(), port);
    assert_eq!(spans.len(), 201, "{}", describe(&spans));
    assert_eq!(with_op(&spans, "SET").len(), 100);
    assert_eq!(with_op(&spans, "GET").len(), 100);
    assert_eq!(muted, 1.0, "only the server's end is muted");
    assert_eq!(data_events, 404.0, "data events read");
    Ok(())
}

/// The Python interpreter of the test venv (target/pyenv, made by `cargo xtask setup`).
fn venv_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv/bin/python")
}

const CELERY_APP: &str = r#"
import os
from celery import Celery

app = Celery("tasks", broker=os.environ["BROKER"])
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x, y):
    return x + y
"#;

const CELERY_SEND: &str = r#"
import sys
from tasks import add

for i in range(int(sys.argv[1])):
    add.delay(i, i)
"#;

/// A Celery worker with a Redis broker runs 20 tasks: the broker traffic is visible, and an
/// idle worker, whose BRPOP times out every second, stays quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celery_worker_broker_traffic() -> anyhow::Result<()> {
    if !privileged("celery_worker_broker_traffic") {
        return Ok(());
    }
    const TASKS: usize = 20;
    /// Spans allowed from 5 s of an idle worker (its BRPOP with a 1 s timeout alone would
    /// be 5 or more if timed-out blocking commands were reported).
    const IDLE_BOUND: usize = 5;
    let python = venv_python();
    if !python.exists() {
        bail!("{} missing: run `cargo xtask setup`", python.display());
    }
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let app_dir = redis.dir().join("app");
    std::fs::create_dir_all(&app_dir)?;
    std::fs::write(app_dir.join("tasks.py"), CELERY_APP)?;
    std::fs::write(app_dir.join("send.py"), CELERY_SEND)?;
    let broker = format!("redis://127.0.0.1:{port}/0");
    let log = app_dir.join("worker.log");
    let sonde = start_sonde(&receiver, port)?;

    let mut worker = Command::new(&python)
        .args([
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
        ])
        .arg(format!("--logfile={}", log.display()))
        .current_dir(&app_dir)
        .env("BROKER", &broker)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the Celery worker")?;
    let result = async {
        wait_for_log(&log, "ready.", 1, Duration::from_secs(60))?;
        let sent = Command::new(&python)
            .args(["send.py", &TASKS.to_string()])
            .current_dir(&app_dir)
            .env("BROKER", &broker)
            .status()?;
        assert!(sent.success(), "sending tasks failed");
        wait_for_log(&log, "succeeded in", TASKS, Duration::from_secs(60))?;

        // Let the last spans arrive, then count what 5 idle seconds add.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = redis_clients(&receiver.spans(), port).len();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle = redis_clients(&receiver.spans(), port).len() - before;
        anyhow::Ok((before, idle))
    }
    .await;
    let _ = worker.kill();
    let _ = worker.wait();
    let (before, idle) = result?;
    let status = sonde.stop()?;
    assert!(status.success());
    let spans = redis_clients(&receiver.spans(), port);
    let lpush = with_op(&spans, "LPUSH");
    let brpop = with_op(&spans, "BRPOP");
    eprintln!(
        "celery: {} spans ({before} before idle, {idle} during 5 s idle), {} LPUSH, {} BRPOP",
        spans.len(),
        lpush.len(),
        brpop.len()
    );
    assert_eq!(lpush.len(), TASKS, "{}", describe(&spans));
    assert!(
        (1..=TASKS + 2).contains(&brpop.len()),
        "{} BRPOP spans: {}",
        brpop.len(),
        describe(&spans)
    );
    assert!(
        brpop
            .iter()
            .all(|s| s.status_code != STATUS_ERROR
                || s.attr("error.type") == Some("connection_closed")),
        "{}",
        describe(&spans)
    );
    assert!(idle < IDLE_BOUND, "{idle} spans from an idle worker in 5 s");
    Ok(())
}

/// Waits until `path` has `count` lines containing `needle`.
fn wait_for_log(
    path: &std::path::Path,
    needle: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let n = text.lines().filter(|l| l.contains(needle)).count();
        if n >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{n} of {count} lines with {needle:?} after {timeout:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
