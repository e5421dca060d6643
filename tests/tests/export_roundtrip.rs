//! The agent's exporter against a real OTLP receiver: every span arrives intact over gRPC and
//! http/protobuf, and a collector outage costs bounded memory and is recovered from.

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use sonde::export::{ExportConfig, Exporter, ExporterKind};
use sonde::stats::SelfStats;
use sonde::trace::span::{AttrValue, Resource, SpanKind, SpanRecord, SpanStatus};
use sonde_tests::otlp::{OtlpReceiver, ReceivedSpan, Transport};

const SPANS: usize = 50;
/// Each trace: one SERVER span and four CLIENT children.
const SPANS_PER_TRACE: usize = 5;

fn resource(service: &str, pid: i64) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![
            ("service.name".into(), service.into()),
            ("process.pid".into(), AttrValue::Int(pid)),
            ("telemetry.distro.name".into(), "sonde".into()),
        ],
    })
}

fn trace_id(trace: usize) -> [u8; 16] {
    let mut id = [0xab; 16];
    id[8..].copy_from_slice(&(trace as u64).to_be_bytes());
    id
}

fn span_id(n: usize) -> [u8; 8] {
    (n as u64 + 1).to_be_bytes()
}

/// `count` spans in traces of five; even traces come from `app`, odd ones from `worker`.
fn make_spans(count: usize) -> Vec<SpanRecord> {
    let app = resource("app", 100);
    let worker = resource("worker", 200);
    (0..count)
        .map(|n| {
            let trace = n / SPANS_PER_TRACE;
            let root = trace * SPANS_PER_TRACE;
            let start = 1_700_000_000_000_000_000 + n as u64 * 1_000;
            let common = |name: String, kind, attributes| SpanRecord {
                trace_id: trace_id(trace),
                span_id: span_id(n),
                parent_span_id: (n != root).then(|| span_id(root)),
                name: name.into(),
                kind,
                start_unix_ns: start,
                end_unix_ns: start + 12_300_000,
                attributes,
                status: SpanStatus::Unset,
                resource: if trace.is_multiple_of(2) {
                    app.clone()
                } else {
                    worker.clone()
                },
            };
            if n == root {
                let mut span = common(
                    "GET /items/{id}".into(),
                    SpanKind::Server,
                    vec![
                        ("http.request.method", "GET".into()),
                        ("http.route", "/items/{id}".into()),
                        ("http.response.status_code", AttrValue::Int(500)),
                    ],
                );
                span.status = SpanStatus::Error {
                    message: "HTTP 500".into(),
                };
                span
            } else {
                common(
                    "SELECT items".into(),
                    SpanKind::Client,
                    vec![
                        ("db.system.name", "postgresql".into()),
                        (
                            "db.query.text",
                            format!("SELECT * FROM items -- {n}").into(),
                        ),
                        ("server.port", AttrValue::Int(5432)),
                        ("sonde.partial", AttrValue::Bool(n.is_multiple_of(2))),
                    ],
                )
            }
        })
        .collect()
}

fn config(kind: ExporterKind, endpoint: String) -> ExportConfig {
    ExportConfig {
        kind,
        endpoint,
        schedule_delay: Duration::from_millis(20),
        max_queue: 2048,
        max_batch: 16,
        timeout: Duration::from_secs(2),
        ..ExportConfig::default()
    }
}

fn expected_attributes(span: &SpanRecord) -> BTreeMap<String, String> {
    span.attributes
        .iter()
        .map(|(k, v)| {
            let v = match v {
                AttrValue::Str(s) => s.to_string(),
                AttrValue::Int(i) => i.to_string(),
                AttrValue::Bool(b) => b.to_string(),
            };
            (k.to_string(), v)
        })
        .collect()
}

fn check_span(sent: &SpanRecord, got: &ReceivedSpan, via: Transport) -> anyhow::Result<()> {
    let id = format!("span {:?}", sent.span_id);
    ensure!(got.name == sent.name, "{id}: name {:?}", got.name);
    ensure!(got.trace_id == sent.trace_id, "{id}: trace id");
    ensure!(
        got.parent_span_id == sent.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        "{id}: parent {:?}",
        got.parent_span_id
    );
    match sent.kind {
        SpanKind::Server => ensure!(got.is_server(), "{id}: kind {}", got.kind),
        SpanKind::Client => ensure!(got.is_client(), "{id}: kind {}", got.kind),
    }
    ensure!(
        got.start_ns == sent.start_unix_ns && got.end_ns == sent.end_unix_ns,
        "{id}: times"
    );
    ensure!(
        got.attributes == expected_attributes(sent),
        "{id}: attributes {:?}",
        got.attributes
    );
    ensure!(
        got.service_name() == Some(sent.resource.service_name()),
        "{id}: resource {:?}",
        got.resource
    );
    let pid = match sent.resource.get("process.pid") {
        Some(AttrValue::Int(pid)) => pid.to_string(),
        other => anyhow::bail!("{id}: test resource without pid: {other:?}"),
    };
    ensure!(
        got.resource_attr("process.pid") == Some(pid.as_str()),
        "{id}: pid"
    );
    match &sent.status {
        SpanStatus::Unset => ensure!(got.status_code == 0, "{id}: status {}", got.status_code),
        SpanStatus::Error { message } => ensure!(
            got.status_code == 2 && &got.status_message == message,
            "{id}: status {} {:?}",
            got.status_code,
            got.status_message
        ),
    }
    ensure!(got.scope == "sonde", "{id}: scope {:?}", got.scope);
    ensure!(got.via == via, "{id}: via {:?}", got.via);
    Ok(())
}

async fn roundtrip(kind: ExporterKind, via: Transport) -> anyhow::Result<()> {
    let receiver = OtlpReceiver::start().await?;
    let endpoint = match via {
        Transport::Grpc => receiver.grpc_endpoint(),
        Transport::Http => receiver.http_endpoint(),
    };
    let stats = Arc::new(SelfStats::default());
    let (exporter, queue) = Exporter::start(config(kind, endpoint), stats.clone())?;
    let sent = make_spans(SPANS);
    for span in &sent {
        queue.push(span.clone());
    }
    exporter.shutdown(Duration::from_secs(10)).await;

    // shutdown flushed: everything is there without waiting.
    let received = receiver.spans();
    ensure!(received.len() == SPANS, "received {} spans", received.len());
    for sent in &sent {
        let got = received
            .iter()
            .find(|r| r.span_id == sent.span_id)
            .with_context(|| format!("span {:?} missing", sent.span_id))?;
        check_span(sent, got, via)?;
    }
    let services: HashSet<&str> = received.iter().filter_map(|s| s.service_name()).collect();
    ensure!(
        services == HashSet::from(["app", "worker"]),
        "services {services:?}"
    );
    ensure!(SelfStats::get(&stats.spans_exported) == SPANS as u64);
    ensure!(SelfStats::get(&stats.spans_dropped) == 0);
    ensure!(SelfStats::get(&stats.export_failures) == 0);
    ensure!(SelfStats::get(&stats.export_queue_len) == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_roundtrip_delivers_every_span() -> anyhow::Result<()> {
    roundtrip(ExporterKind::OtlpGrpc, Transport::Grpc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_roundtrip_delivers_every_span() -> anyhow::Result<()> {
    roundtrip(ExporterKind::OtlpHttp, Transport::Http).await
}

async fn wait_until(what: &str, timeout: Duration, cond: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Nothing listens at first: failures are counted, memory stays within the queue (the
/// overflow is dropped and counted), and once a collector starts on that very port the
/// retried batch and the queued spans arrive.
async fn outage_then_recovery(kind: ExporterKind, via: Transport) -> anyhow::Result<()> {
    const MAX_QUEUE: usize = 100;
    const MAX_BATCH: usize = 10;
    const FIRST_PUSH: usize = 300;
    const SECOND_PUSH: usize = 50;
    let held_limit = (MAX_QUEUE + MAX_BATCH) as u64;

    let port = sonde_tests::ports::free_port();
    let stats = Arc::new(SelfStats::default());
    let exporter_config = ExportConfig {
        max_queue: MAX_QUEUE,
        max_batch: MAX_BATCH,
        timeout: Duration::from_secs(1),
        ..config(kind, format!("http://127.0.0.1:{port}"))
    };
    let (exporter, queue) = Exporter::start(exporter_config, stats.clone())?;
    let spans = make_spans(FIRST_PUSH + SECOND_PUSH);
    for span in &spans[..FIRST_PUSH] {
        queue.push(span.clone());
    }

    wait_until("two failed exports", Duration::from_secs(10), || {
        SelfStats::get(&stats.export_failures) >= 2
    })
    .await?;
    for span in &spans[FIRST_PUSH..] {
        queue.push(span.clone());
    }
    let held = SelfStats::get(&stats.export_queue_len);
    let dropped = SelfStats::get(&stats.spans_dropped);
    ensure!(
        held <= held_limit,
        "{held} spans held with the collector down"
    );
    ensure!(
        held + dropped == (FIRST_PUSH + SECOND_PUSH) as u64,
        "held {held} + dropped {dropped}: spans unaccounted for"
    );
    ensure!(SelfStats::get(&stats.spans_exported) == 0);

    // The collector comes back on the port the exporter keeps retrying.
    let back = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let receiver = match via {
        Transport::Grpc => OtlpReceiver::start_on(back, any).await?,
        Transport::Http => OtlpReceiver::start_on(any, back).await?,
    };
    let received = receiver
        .wait_for_spans(|s| s.len() as u64 >= held, Duration::from_secs(20))
        .await;
    ensure!(
        received.len() as u64 == held,
        "{} spans arrived after recovery, {held} were held",
        received.len()
    );
    let unique: HashSet<&[u8]> = received.iter().map(|s| s.span_id.as_slice()).collect();
    ensure!(
        unique.len() == received.len(),
        "duplicate spans after retry"
    );
    // The full queue dropped the newest spans: the first ones pushed (the batch being
    // retried) made it.
    ensure!(
        unique.contains(span_id(0).as_slice()),
        "the retried first batch did not arrive"
    );
    for got in &received {
        let sent = spans
            .iter()
            .find(|s| s.span_id.as_slice() == got.span_id)
            .context("a span that was never sent arrived")?;
        check_span(sent, got, via)?;
    }

    exporter.shutdown(Duration::from_secs(5)).await;
    let exported = SelfStats::get(&stats.spans_exported);
    ensure!(exported == held, "exported {exported}, held {held}");
    ensure!(
        exported + SelfStats::get(&stats.spans_dropped) == (FIRST_PUSH + SECOND_PUSH) as u64,
        "every span is either exported or counted as dropped"
    );
    ensure!(SelfStats::get(&stats.export_queue_len) == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_outage_is_bounded_and_recovers() -> anyhow::Result<()> {
    outage_then_recovery(ExporterKind::OtlpGrpc, Transport::Grpc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_outage_is_bounded_and_recovers() -> anyhow::Result<()> {
    outage_then_recovery(ExporterKind::OtlpHttp, Transport::Http).await
}

/// A collector that restarts: spans sent while it is gone arrive at its successor on the same
/// port, over a new connection.
async fn collector_restart(kind: ExporterKind, via: Transport) -> anyhow::Result<()> {
    const BEFORE: usize = 20;
    const DURING: usize = 30;
    let first = OtlpReceiver::start().await?;
    let addr = match via {
        Transport::Grpc => first.grpc_addr(),
        Transport::Http => first.http_addr(),
    };
    let stats = Arc::new(SelfStats::default());
    let (exporter, queue) = Exporter::start(config(kind, format!("http://{addr}")), stats.clone())?;
    let spans = make_spans(BEFORE + DURING);
    for span in &spans[..BEFORE] {
        queue.push(span.clone());
    }
    let got = first
        .wait_for_spans(|s| s.len() >= BEFORE, Duration::from_secs(10))
        .await;
    ensure!(
        got.len() == BEFORE,
        "{} spans before the restart",
        got.len()
    );
    first.stop().await;

    for span in &spans[BEFORE..] {
        queue.push(span.clone());
    }
    wait_until("a failed export", Duration::from_secs(10), || {
        SelfStats::get(&stats.export_failures) >= 1
    })
    .await?;

    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let second = match via {
        Transport::Grpc => OtlpReceiver::start_on(addr, any).await?,
        Transport::Http => OtlpReceiver::start_on(any, addr).await?,
    };
    let got = second
        .wait_for_spans(|s| s.len() >= DURING, Duration::from_secs(20))
        .await;
    ensure!(got.len() == DURING, "{} spans after the restart", got.len());
    exporter.shutdown(Duration::from_secs(5)).await;
    ensure!(SelfStats::get(&stats.spans_exported) == (BEFORE + DURING) as u64);
    ensure!(SelfStats::get(&stats.spans_dropped) == 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_survives_collector_restart() -> anyhow::Result<()> {
    collector_restart(ExporterKind::OtlpGrpc, Transport::Grpc).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_export_survives_collector_restart() -> anyhow::Result<()> {
    collector_restart(ExporterKind::OtlpHttp, Transport::Http).await
}
