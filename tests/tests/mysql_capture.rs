//! End to end, MySQL protocol: a real MariaDB server, real clients (the mariadb CLI and
//! mysql-connector-python with server-side prepared statements), the real sonde binary, and
//! a real OTLP receiver. Counts are exact, and the password of the session appears nowhere
//! in what sonde exports or logs.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use sonde_tests::{
    agent::{Sonde, privileged},
    mariadb_server::{DATABASE, MariaDb, PASSWORD, USER},
    otlp::{OtlpReceiver, ReceivedSpan},
};

const WAIT: Duration = Duration::from_secs(30);

fn otlp_env(endpoint: String) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
}

fn start_sonde(receiver: &OtlpReceiver, port: u16) -> anyhow::Result<Sonde> {
    Sonde::start(
        &["--port".into(), port.to_string()],
        &otlp_env(receiver.grpc_endpoint()),
    )
}

/// Client spans to the server on `port` whose statement text is `text`.
fn db_clients(spans: &[ReceivedSpan], port: u16, text: &str) -> Vec<ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.is_client()
                && s.attr("server.port") == Some(&port.to_string())
                && s.attr("db.query.text") == Some(text)
        })
        .cloned()
        .collect()
}

fn describe(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .take(20)
        .map(|s| format!("{} kind={} {:?}\n", s.name, s.kind, s.attributes))
        .collect()
}

/// Runs the mariadb CLI over TCP as `app` with `sql` on its standard input. The password
/// is on its command line, as people write it (the client masks it in its argv).
fn mariadb_cli(port: u16, sql: String) -> anyhow::Result<std::process::Output> {
    let mut child = Command::new("mariadb")
        .args(["--no-defaults", "--skip-ssl", "-h127.0.0.1"])
        .arg(format!("-P{port}"))
        .arg(format!("-u{USER}"))
        .arg(format!("-p{PASSWORD}"))
        .arg(DATABASE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    use std::io::Write as _;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(sql.as_bytes())?;
    Ok(child.wait_with_output()?)
}

/// The test workloads' virtual environment: `SONDE_PYENV` (set by `cargo xtask test`), else
/// `target/pyenv`, where `cargo xtask setup` makes it.
fn python() -> PathBuf {
    let pyenv = std::env::var_os("SONDE_PYENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pyenv"));
    pyenv.join("bin/python")
}

/// Executes one prepared statement `n` times with mysql-connector-python's
/// `cursor(prepared=True)`: one COM_STMT_PREPARE, then COM_STMT_EXECUTE each time.
const PREPARED_CLIENT: &str = r#"
import sys
import mysql.connector

port, user, password, database, n = sys.argv[1:6]
conn = mysql.connector.connect(host="127.0.0.1", port=int(port), user=user,
                               password=password, database=database, ssl_disabled=True)
cur = conn.cursor(prepared=True)
for _ in range(int(n)):
    cur.execute("SELECT id, name FROM items WHERE id = ?", (7,))
    rows = cur.fetchall()
    assert rows == [(7, "seven")], rows
cur.close()
conn.close()
"#;

fn prepared_client(dir: &std::path::Path, port: u16, n: usize) -> anyhow::Result<()> {
    let script = dir.join("prepared_client.py");
    std::fs::write(&script, PREPARED_CLIENT)?;
    let out = Command::new(python())
        .arg(&script)
        .args([&port.to_string(), USER, PASSWORD, DATABASE, &n.to_string()])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "prepared client failed ({}); is mysql-connector-python in target/pyenv \
         (cargo xtask setup)? {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The password appears in no span (names, attributes, status, resource) and in none of
/// sonde's output.
fn assert_password_nowhere(spans: &[ReceivedSpan], sonde_output: &str) {
    for s in spans {
        let all = format!(
            "{} {:?} {:?} {}",
            s.name, s.attributes, s.resource, s.status_message
        );
        assert!(!all.contains(PASSWORD), "password in a span: {all}");
    }
    assert!(
        !sonde_output.contains(PASSWORD),
        "password in sonde's output"
    );
}

/// The mariadb CLI runs 100 statements in one session: exactly 100 client spans for
/// them, each with the flavour, operation, table, database and the text without its
/// literal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_hundred_selects_exact_counts() -> anyhow::Result<()> {
    if !privileged("cli_hundred_selects_exact_counts") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let server = MariaDb::start()?;
    let port = server.port();
    let sonde = start_sonde(&receiver, port)?;

    let sql = "SELECT * FROM items WHERE id = 7;\n".repeat(100);
    let out = tokio::task::spawn_blocking(move || mariadb_cli(port, sql)).await??;
    assert!(
        out.status.success(),
        "mariadb CLI: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("seven")
            .count(),
        100
    );

    let text = "SELECT * FROM items WHERE id = ?";
    receiver
        .wait_for_spans(|s| db_clients(s, port, text).len() >= 100, WAIT)
        .await;
    // Its log lives in a directory that goes with it: read it first.
    let output = sonde.log_text() + &sonde.stdout_text();
    let status = sonde.stop()?;
    assert!(status.success(), "sonde exit: {status}");
    let spans = receiver.spans();
    let selects = db_clients(&spans, port, text);
    assert_eq!(selects.len(), 100, "spans:\n{}", describe(&spans));
    for s in &selects {
        assert_eq!(s.name, "SELECT items");
        assert_eq!(s.attr("db.system.name"), Some("mariadb"));
        assert_eq!(s.attr("db.operation.name"), Some("SELECT"));
        assert_eq!(s.attr("db.collection.name"), Some("items"));
        assert_eq!(s.attr("db.namespace"), Some(DATABASE));
        assert_eq!(s.attr("server.address"), Some("127.0.0.1"));
        assert_eq!(s.attr("db.response.returned_rows"), Some("1"));
        assert_eq!(s.status_code, 0, "{:?}", s.attributes);
        assert!(s.end_ns >= s.start_ns);
    }
    // No literal leaks through any statement of the session, and the server's side of the
    // same statements is not reported a second time.
    let session: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.attr("db.system.name") == Some("mariadb"))
        .collect();
    assert!(
        session.iter().all(|s| s.is_client()),
        "{}",
        describe(&spans)
    );
    assert!(
        session
            .iter()
            .all(|s| !s.attr("db.query.text").unwrap_or("").contains('7')),
        "{}",
        describe(&spans)
    );
    assert_password_nowhere(&spans, &output);
    Ok(())
}

/// mysql-connector-python executes one prepared statement 50 times: exactly 50 spans,
/// each carrying the prepared text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statement_fifty_executes() -> anyhow::Result<()> {
    if !privileged("prepared_statement_fifty_executes") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let server = MariaDb::start()?;
    let port = server.port();
    let dir = server.dir().to_owned();
    let sonde = start_sonde(&receiver, port)?;

    tokio::task::spawn_blocking(move || prepared_client(&dir, port, 50)).await??;

    let text = "SELECT id, name FROM items WHERE id = ?";
    receiver
        .wait_for_spans(|s| db_clients(s, port, text).len() >= 50, WAIT)
        .await;
    // Its log lives in a directory that goes with it: read it first.
    let output = sonde.log_text() + &sonde.stdout_text();
    let status = sonde.stop()?;
    assert!(status.success(), "sonde exit: {status}");
    let spans = receiver.spans();
    let executes = db_clients(&spans, port, text);
    assert_eq!(executes.len(), 50, "spans:\n{}", describe(&spans));
    for s in &executes {
        assert_eq!(s.name, "SELECT items");
        assert_eq!(s.attr("db.system.name"), Some("mariadb"));
        assert_eq!(s.attr("db.namespace"), Some(DATABASE));
        assert_eq!(s.attr("db.response.returned_rows"), Some("1"));
        assert_eq!(s.status_code, 0, "{:?}", s.attributes);
    }
    assert_password_nowhere(&spans, &output);
    Ok(())
}

/// A statement on a missing table: the span has status ERROR and the error number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_table_is_an_error_span() -> anyhow::Result<()> {
    if !privileged("missing_table_is_an_error_span") {
        return Ok(());
    }
    let receiver = OtlpReceiver::start().await?;
    let server = MariaDb::start()?;
    let port = server.port();
    let sonde = start_sonde(&receiver, port)?;

    let sql = "SELECT * FROM missing WHERE id = 1;\n".to_owned();
    let out = tokio::task::spawn_blocking(move || mariadb_cli(port, sql)).await??;
    assert!(!out.status.success(), "the statement should fail");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1146"));

    let text = "SELECT * FROM missing WHERE id = ?";
    receiver
        .wait_for_spans(|s| !db_clients(s, port, text).is_empty(), WAIT)
        .await;
    // Its log lives in a directory that goes with it: read it first.
    let output = sonde.log_text() + &sonde.stdout_text();
    let status = sonde.stop()?;
    assert!(status.success(), "sonde exit: {status}");
    let spans = receiver.spans();
    let errors = db_clients(&spans, port, text);
    assert_eq!(errors.len(), 1, "spans:\n{}", describe(&spans));
    let s = &errors[0];
    assert_eq!(s.status_code, 2, "status ERROR: {:?}", s.attributes);
    assert_eq!(s.attr("db.response.status_code"), Some("1146"));
    assert_eq!(s.attr("error.type"), Some("1146"));
    assert_eq!(s.attr("db.collection.name"), Some("missing"));
    assert!(s.status_message.contains("missing"), "{}", s.status_message);
    assert_password_nowhere(&spans, &output);
    Ok(())
}
