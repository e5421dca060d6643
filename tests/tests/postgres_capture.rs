//! End to end, PostgreSQL protocol: a real PostgreSQL server, real clients (psql, psycopg2,
//! the Rust `postgres` and `tokio-postgres` crates, pgbench), the real sonde binary, and a
//! real OTLP receiver. Counts are exact: the watched server's own side of each connection
//! reports nothing, so every query is counted once, from its client.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use sonde_tests::{
    agent::{Sonde, privileged},
    otlp::{OtlpReceiver, ReceivedSpan},
    postgres_server::{CLEARTEXT_USER, DATABASE, MD5_USER, PASSWORD, Postgres, SCRAM_USER},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const WAIT: Duration = Duration::from_secs(30);

fn start_sonde(receiver: &OtlpReceiver, port: u16) -> anyhow::Result<Sonde> {
    Sonde::start(
        &["--port".into(), port.to_string()],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ],
    )
}

/// PostgreSQL client spans to the server on `port`.
fn pg_clients(spans: &[ReceivedSpan], port: u16) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.is_client()
                && s.attr("db.system.name") == Some("postgresql")
                && s.attr("server.port") == Some(&port.to_string())
        })
        .cloned()
        .collect()
}

/// Those of them whose statement text is `text`.
fn with_text(spans: &[ReceivedSpan], port: u16, text: &str) -> Vec<ReceivedSpan> {
    pg_clients(spans, port)
        .into_iter()
        .filter(|s| s.attr("db.query.text") == Some(text))
        .collect()
}

fn describe(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .take(20)
        .map(|s| {
            format!(
                "{} kind={} status={} {:?}\n",
                s.name, s.kind, s.status_code, s.attributes
            )
        })
        .collect()
}

fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv/bin/python")
}

/// `psql -c SELECT ... WHERE id = 42`, twenty times: exactly twenty client spans, each with
/// the literal replaced, the operation, the table and the database. psql asks for TLS first
/// (sslmode=prefer) and the server declines, so the start-up also crosses an SSLRequest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_twenty_selects_exact_counts() -> anyhow::Result<()> {
    if !privileged("psql_twenty_selects_exact_counts") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    for _ in 0..20 {
        let out = pg.psql("postgres", None, "SELECT id, name FROM items WHERE id = 42")?;
        assert_eq!(out.trim(), "42|item 42");
    }
    receiver
        .wait_for_spans(|s| pg_clients(s, port).len() >= 20, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let spans = pg_clients(&receiver.spans(), port);
    assert_eq!(spans.len(), 20, "{}", describe(&spans));
    for s in &spans {
        assert_eq!(s.name, "SELECT items");
        assert_eq!(
            s.attr("db.query.text"),
            Some("SELECT id, name FROM items WHERE id = ?")
        );
        assert!(!s.attr("db.query.text").unwrap_or("").contains("42"));
        assert_eq!(s.attr("db.operation.name"), Some("SELECT"));
        assert_eq!(s.attr("db.collection.name"), Some("items"));
        assert_eq!(s.attr("db.namespace"), Some(DATABASE));
        assert_eq!(s.attr("db.response.returned_rows"), Some("1"));
        assert_eq!(s.status_code, 0, "{}", describe(&spans));
        assert_eq!(s.service_name(), Some("psql"));
        assert!(s.end_ns >= s.start_ns);
    }
    Ok(())
}

const PSYCOPG2_CLIENT: &str = r#"
import os, sys, time, psycopg2
conninfo, ready, go, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = psycopg2.connect(conninfo)
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT 1")
cur.fetchall()
open(ready, "w").close()
deadline = time.time() + 60
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("no go signal")
    time.sleep(0.02)
for i in range(n):
    cur.execute("SELECT name FROM items WHERE id = %s", (i % 100 + 1,))
    assert cur.fetchone()[0] == "item %d" % (i % 100 + 1)
conn.close()
"#;

/// A psycopg2 program that connected (and queried) before sonde started: its next hundred
/// queries, on that already open connection, are exactly a hundred spans. psycopg2 sends
/// its parameters inside the text; the spans show `?` instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg2_connected_before_sonde_hundred_queries() -> anyhow::Result<()> {
    if !privileged("psycopg2_connected_before_sonde_hundred_queries") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let dir = tempfile::tempdir()?;
    let (ready, go) = (dir.path().join("ready"), dir.path().join("go"));
    let mut client = Command::new(python())
        .args(["-c", PSYCOPG2_CLIENT])
        .arg(pg.conninfo("postgres"))
        .arg(&ready)
        .arg(&go)
        .arg("100")
        .stdin(Stdio::null())
        .spawn()?;
    wait_for_file(&ready, &mut client)?;
    let sonde = start_sonde(&receiver, port)?;
    std::fs::write(&go, b"")?;
    let status = tokio::task::spawn_blocking(move || client.wait()).await??;
    assert!(
        status.success(),
        "psycopg2 client failed ({status}); is psycopg2-binary in target/pyenv \
         (cargo xtask setup)?"
    );
    let text = "SELECT name FROM items WHERE id = ?";
    receiver
        .wait_for_spans(|s| with_text(s, port, text).len() >= 100, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let all = pg_clients(&receiver.spans(), port);
    let spans = with_text(&all, port, text);
    assert_eq!(spans.len(), 100, "{}", describe(&all));
    assert_eq!(all.len(), 100, "{}", describe(&all));
    for s in &spans {
        assert_eq!(s.name, "SELECT items");
        // The start-up happened before sonde: the database is not known.
        assert_eq!(s.attr("db.namespace"), None);
        assert_eq!(s.attr("db.response.returned_rows"), Some("1"));
    }
    Ok(())
}

fn wait_for_file(path: &Path, child: &mut std::process::Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("client exited early ({status})");
        }
        anyhow::ensure!(Instant::now() < deadline, "client never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The Rust `postgres` crate prepares one named statement and executes it 200 times (Bind,
/// Execute, Sync each): exactly 200 spans, each with the statement's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_named_statement_two_hundred_executes() -> anyhow::Result<()> {
    if !privileged("rust_named_statement_two_hundred_executes") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    let conninfo = pg.conninfo("postgres");
    // The sync client runs its own runtime: on a thread of its own.
    std::thread::spawn(move || -> anyhow::Result<()> {
        let mut client = postgres::Client::connect(&conninfo, postgres::NoTls)?;
        let statement = client.prepare("SELECT name FROM items WHERE id = $1")?;
        for i in 0..200 {
            let id: i32 = i % 100 + 1;
            let row = client.query_one(&statement, &[&id])?;
            assert_eq!(row.get::<_, String>(0), format!("item {id}"));
        }
        Ok(())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
    let text = "SELECT name FROM items WHERE id = $1";
    receiver
        .wait_for_spans(|s| with_text(s, port, text).len() >= 200, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let all = pg_clients(&receiver.spans(), port);
    let spans = with_text(&all, port, text);
    assert_eq!(spans.len(), 200, "{}", describe(&all));
    for s in &spans {
        assert_eq!(s.name, "SELECT items");
        assert_eq!(s.attr("db.namespace"), Some(DATABASE));
        assert_eq!(s.attr("db.response.returned_rows"), Some("1"));
    }
    Ok(())
}

/// `pgbench -M prepared`: every statement of the TPC-B-like script is prepared once per
/// connection and executed once per transaction, so each statement has exactly as many
/// spans as pgbench ran transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_prepared_one_span_per_transaction() -> anyhow::Result<()> {
    if !privileged("pgbench_prepared_one_span_per_transaction") {
        return Ok(());
    }
    const TRANSACTIONS: usize = 50;
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let pgbench = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new(pg.program("pgbench"))
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .arg(DATABASE)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "pgbench {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    pgbench(&["-i", "-s", "1", "-q"])?;
    let sonde = start_sonde(&receiver, port)?;
    let report = pgbench(&["-n", "-M", "prepared", "-c", "1", "-t", "50"])?;
    assert!(
        report.contains(&format!(
            "number of transactions actually processed: {TRANSACTIONS}/{TRANSACTIONS}"
        )),
        "{report}"
    );
    let select = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
    let update = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";
    receiver
        .wait_for_spans(|s| with_text(s, port, select).len() >= TRANSACTIONS, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let spans = receiver.spans();
    let all = pg_clients(&spans, port);
    assert_eq!(
        with_text(&spans, port, select).len(),
        TRANSACTIONS,
        "{}",
        describe(&all)
    );
    assert_eq!(with_text(&spans, port, update).len(), TRANSACTIONS);
    let updates = with_text(&spans, port, update);
    assert!(
        updates.iter().all(|s| s.name == "UPDATE pgbench_accounts"
            && s.attr("db.response.returned_rows") == Some("1"))
    );
    let begins = all
        .iter()
        .filter(|s| s.attr("db.operation.name") == Some("BEGIN"))
        .count();
    assert_eq!(begins, TRANSACTIONS);
    Ok(())
}

/// A query on a table that does not exist: one span, status ERROR, the SQLSTATE as
/// db.response.status_code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_table_is_an_error_span() -> anyhow::Result<()> {
    if !privileged("missing_table_is_an_error_span") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    let out = pg.psql_output("SELECT * FROM nope WHERE id = 7")?;
    assert!(!out.status.success());
    receiver
        .wait_for_spans(|s| !pg_clients(s, port).is_empty(), WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let spans = pg_clients(&receiver.spans(), port);
    assert_eq!(spans.len(), 1, "{}", describe(&spans));
    let s = &spans[0];
    assert_eq!(s.name, "SELECT nope");
    assert_eq!(s.status_code, 2, "status ERROR: {}", describe(&spans));
    assert_eq!(s.attr("db.response.status_code"), Some("42P01"));
    assert_eq!(s.attr("error.type"), Some("42P01"));
    assert_eq!(s.status_message, "relation \"nope\" does not exist");
    assert_eq!(
        s.attr("db.query.text"),
        Some("SELECT * FROM nope WHERE id = ?")
    );
    Ok(())
}

/// A TCP stream whose reads return at most 4 KiB, as clients with a 4 KiB read buffer do
/// (Go's lib/pq, for one): every read is captured whole.
struct SmallReads(tokio::net::TcpStream);

impl AsyncRead for SmallReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let mut local = [0u8; 4096];
        let want = buf.remaining().min(local.len());
        let mut small = ReadBuf::new(&mut local[..want]);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut small))?;
        buf.put_slice(small.filled());
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SmallReads {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// About 5.5 MB of rows.
const BIG_ROWS: usize = 50_000;
const BIG_QUERY: &str = "SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g";

/// A 5 MB result read over a thousand reads of 4 KiB: one span, with the row count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabyte_result_one_span_with_rows() -> anyhow::Result<()> {
    if !privileged("five_megabyte_result_one_span_with_rows") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    let config: tokio_postgres::Config = pg.conninfo("postgres").parse()?;
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (client, connection) = config
        .connect_raw(SmallReads(stream), tokio_postgres::NoTls)
        .await?;
    let driver = tokio::spawn(connection);
    let rows = client.query(BIG_QUERY, &[]).await?;
    assert_eq!(rows.len(), BIG_ROWS);
    drop(client);
    driver.await??;
    let text = "SELECT g, repeat(?, ?) FROM generate_series(?, ?) g";
    receiver
        .wait_for_spans(|s| !with_text(s, port, text).is_empty(), WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let all = pg_clients(&receiver.spans(), port);
    let spans = with_text(&all, port, text);
    assert_eq!(spans.len(), 1, "{}", describe(&all));
    let s = &spans[0];
    assert_eq!(s.status_code, 0, "{}", describe(&spans));
    assert_eq!(
        s.attr("db.response.returned_rows"),
        Some(BIG_ROWS.to_string().as_str())
    );
    assert_eq!(s.attr("sonde.partial"), None);
    Ok(())
}

/// The same result read by psql, whose reads are 8 to 16 KiB: the capture keeps 4 KiB of
/// each, so most of the messages are never seen. Still exactly one span. Its row count
/// comes from the CommandComplete tag when the capture kept it (the last read is short
/// enough about half the time); otherwise the span says it is partial instead of guessing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_megabyte_result_via_psql_one_span() -> anyhow::Result<()> {
    if !privileged("five_megabyte_result_via_psql_one_span") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    let out = pg.psql("postgres", None, BIG_QUERY)?;
    assert_eq!(out.lines().count(), BIG_ROWS);
    let text = "SELECT g, repeat(?, ?) FROM generate_series(?, ?) g";
    receiver
        .wait_for_spans(|s| !with_text(s, port, text).is_empty(), WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let all = pg_clients(&receiver.spans(), port);
    let spans = with_text(&all, port, text);
    assert_eq!(spans.len(), 1, "{}", describe(&all));
    let s = &spans[0];
    eprintln!(
        "psql 5 MB result: rows={:?} partial={:?}",
        s.attr("db.response.returned_rows"),
        s.attr("sonde.partial")
    );
    match s.attr("db.response.returned_rows") {
        Some(rows) => {
            assert_eq!(rows, BIG_ROWS.to_string());
            assert_eq!(s.status_code, 0);
        }
        None => assert_eq!(
            s.attr("sonde.partial"),
            Some("true"),
            "{}",
            describe(&spans)
        ),
    }
    Ok(())
}

/// Logging in with a password (SCRAM, MD5, and cleartext, which puts the password itself
/// on the wire): the sessions' queries make spans, and the password appears in no span,
/// resource, status, log line or console output of sonde.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_authentication_never_leaks() -> anyhow::Result<()> {
    if !privileged("password_authentication_never_leaks") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    for user in [SCRAM_USER, MD5_USER, CLEARTEXT_USER] {
        let out = pg.psql(user, Some(PASSWORD), "SELECT count(*) FROM items")?;
        assert_eq!(out.trim(), "100", "{user}");
    }
    // Wrong passwords are refused, and make no span either.
    let mut wrong = Command::new(pg.program("psql"));
    wrong
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-U",
            CLEARTEXT_USER,
            "-d",
            DATABASE,
        ])
        .arg("-p")
        .arg(port.to_string())
        .args(["-c", "SELECT 1"])
        .env("PGPASSWORD", format!("{PASSWORD}-wrong"));
    assert!(!wrong.output()?.status.success());
    let text = "SELECT count(*) FROM items";
    receiver
        .wait_for_spans(|s| with_text(s, port, text).len() >= 3, WAIT)
        .await;
    let log = sonde.log_text();
    let stdout = sonde.stdout_text();
    assert!(sonde.stop()?.success());
    let spans = receiver.spans();
    let all = pg_clients(&spans, port);
    assert_eq!(with_text(&spans, port, text).len(), 3, "{}", describe(&all));
    assert_eq!(all.len(), 3, "{}", describe(&all));
    for s in &spans {
        let everything = format!(
            "{} {:?} {:?} {}",
            s.name, s.attributes, s.resource, s.status_message
        );
        assert!(!everything.contains(PASSWORD), "{everything}");
    }
    assert!(!log.contains(PASSWORD) && !stdout.contains(PASSWORD));
    Ok(())
}

/// Several statements in one simple query: one span per statement, each with its own
/// operation and table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statement_query_one_span_per_statement() -> anyhow::Result<()> {
    if !privileged("multi_statement_query_one_span_per_statement") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let pg = Postgres::start()?;
    let port = pg.port();
    let sonde = start_sonde(&receiver, port)?;
    pg.psql(
        "postgres",
        None,
        "INSERT INTO items VALUES (500, 'x'); UPDATE items SET name = 'y' WHERE id = 500; \
         DELETE FROM items WHERE id = 500",
    )?;
    receiver
        .wait_for_spans(|s| pg_clients(s, port).len() >= 3, WAIT)
        .await;
    assert!(sonde.stop()?.success());
    let mut spans = pg_clients(&receiver.spans(), port);
    spans.sort_by_key(|s| (s.end_ns, s.start_ns));
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["INSERT items", "UPDATE items", "DELETE items"]);
    assert!(
        spans
            .iter()
            .all(|s| s.attr("db.response.returned_rows") == Some("1"))
    );
    Ok(())
}
