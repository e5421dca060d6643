//! End to end: RED histograms and the service graph from real servers, read over OTLP, on
//! /metrics, and through a real Prometheus server scraping /metrics. Counts are exact.

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, metric::Data, number_data_point};
use sonde_tests::{
    agent::{Sonde, curl_keepalive, privileged},
    otlp::{OtlpReceiver, render_value},
    ports::free_port,
    prometheus_server::PrometheusServer,
    redis_server::RedisServer,
    servers::Nginx,
};

const WAIT: Duration = Duration::from_secs(30);
/// sonde's service-graph pairing window, plus a margin: after it no half is still waiting.
const PAIR_WINDOW_AND_MARGIN: Duration = Duration::from_secs(3);

type Labels = BTreeMap<String, String>;

fn port_args(ports: &[u16]) -> Vec<String> {
    ports
        .iter()
        .flat_map(|p| ["--port".to_owned(), p.to_string()])
        .collect()
}

fn otlp_env(endpoint: String, protocol: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "500".to_owned()),
    ]
}

/// Runs curl over one keep-alive connection for `urls`; returns how many got any HTTP answer
/// (nginx answers 404 for paths it does not have).
fn curl_any(urls: &[String]) -> anyhow::Result<usize> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-w", "%{http_code}\\n"]);
    for url in urls {
        cmd.args(["-o", "/dev/null", url]);
    }
    let out = cmd.output().context("running curl")?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.len() == 3 && *l != "000")
        .count())
}

/// The samples named exactly `name` in Prometheus text: (labels, value).
fn samples(text: &str, name: &str) -> Vec<(Labels, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, labels) = match series.split_once('{') {
                Some((m, rest)) => (m, parse_labels(rest.strip_suffix('}')?)),
                None => (series, Labels::new()),
            };
            if metric != name {
                return None;
            }
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

/// `a="x",b="y\"z"` to a map, undoing the text format's escapes.
fn parse_labels(text: &str) -> Labels {
    let mut labels = Labels::new();
    let mut chars = text.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() || chars.next() != Some('"') {
            return labels;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

fn with(labels: &Labels, pairs: &[(&str, &str)]) -> bool {
    pairs
        .iter()
        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
}

fn sum(samples: &[(Labels, f64)], pairs: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(l, _)| with(l, pairs))
        .map(|(_, v)| v)
        .sum()
}

/// Polls /metrics until `pred` holds or `timeout` passes; returns the last text.
fn wait_for_text(sonde: &Sonde, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = sonde.metrics().unwrap_or_default();
        if pred(&text) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A cumulative OTLP point, flattened: service, attributes, time, and count (histograms) or
/// value (sums).
#[derive(Clone, Debug)]
struct OtlpPoint {
    service: String,
    attributes: Labels,
    time_ns: u64,
    start_ns: u64,
    value: u64,
    bucket_counts: Vec<u64>,
    bounds: Vec<f64>,
}

fn otlp_points(metrics: &[ResourceMetrics], name: &str) -> Vec<OtlpPoint> {
    let mut out = Vec::new();
    for rm in metrics {
        let service = rm
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .map(render_value)
            .unwrap_or_default();
        for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if metric.name != name {
                continue;
            }
            let attrs = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| -> Labels {
                kvs.iter()
                    .map(|kv| {
                        let v = kv.value.as_ref().map(render_value).unwrap_or_default();
                        (kv.key.clone(), v)
                    })
                    .collect()
            };
            match &metric.data {
                Some(Data::Histogram(h)) => out.extend(h.data_points.iter().map(|p| OtlpPoint {
                    service: service.clone(),
                    attributes: attrs(&p.attributes),
                    time_ns: p.time_unix_nano,
                    start_ns: p.start_time_unix_nano,
                    value: p.count,
                    bucket_counts: p.bucket_counts.clone(),
                    bounds: p.explicit_bounds.clone(),
                })),
                Some(Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| OtlpPoint {
                    service: service.clone(),
                    attributes: attrs(&p.attributes),
                    time_ns: p.time_unix_nano,
                    start_ns: p.start_time_unix_nano,
                    value: match p.value {
                        Some(number_data_point::Value::AsInt(i)) => i as u64,
                        Some(number_data_point::Value::AsDouble(d)) => d as u64,
                        None => 0,
                    },
                    bucket_counts: Vec::new(),
                    bounds: Vec::new(),
                })),
                _ => {}
            }
        }
    }
    out
}

/// The latest point of each series (service + attributes) that matches `pairs`.
fn latest(points: &[OtlpPoint], pairs: &[(&str, &str)]) -> Vec<OtlpPoint> {
    let mut by_series: BTreeMap<(String, Vec<(String, String)>), OtlpPoint> = BTreeMap::new();
    for p in points.iter().filter(|p| with(&p.attributes, pairs)) {
        let key = (
            p.service.clone(),
            p.attributes.clone().into_iter().collect(),
        );
        match by_series.get(&key) {
            Some(seen) if seen.time_ns > p.time_ns => {}
            _ => {
                by_series.insert(key, p.clone());
            }
        }
    }
    by_series.into_values().collect()
}

/// curl's service name, or the one of a process that ended before sonde could read /proc.
const CURL: [&str; 2] = ["curl", "unknown_service"];

const SEMCONV_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// 100 requests to nginx over keep-alive: the server histogram of that route counts exactly
/// 100, over OTLP/gRPC (cumulative, with the semantic conventions' buckets) and on /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_server_histogram_exact_over_otlp_and_metrics() -> anyhow::Result<()> {
    if !privileged("http_server_histogram_exact_over_otlp_and_metrics") {
        return Ok(());
    }
    const N: usize = 100;
    let receiver = OtlpReceiver::start().await?;
    let nginx = Nginx::start(&[("index.html", b"hello, metrics\n".to_vec())])?;
    let port = nginx.port();
    let port_s = port.to_string();
    let sonde = Sonde::start(
        &port_args(&[port]),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;

    let url = format!("http://127.0.0.1:{port}/index.html");
    let mut ok = 0;
    for _ in 0..2 {
        let urls = vec![url.clone(); N / 2];
        ok += tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    }
    assert_eq!(ok, N, "curl saw {ok} OK answers");

    let route = [
        ("http.route", "/index.html"),
        ("server.port", port_s.as_str()),
    ];
    let server_count = |m: &[ResourceMetrics]| -> u64 {
        latest(&otlp_points(m, "http.server.request.duration"), &route)
            .iter()
            .map(|p| p.value)
            .sum()
    };
    receiver
        .wait_for_metrics(|m| server_count(m) >= N as u64, WAIT)
        .await;
    let text = wait_for_text(
        &sonde,
        |t| {
            sum(
                &samples(t, "http_server_request_duration_seconds_count"),
                &[("server_port", &port_s)],
            ) >= N as f64
        },
        WAIT,
    );
    assert!(sonde.stop()?.success());

    // OTLP: one series for the route, exactly N, cumulative from one start time.
    let metrics = receiver.metrics();
    let all = otlp_points(&metrics, "http.server.request.duration");
    let series = latest(&all, &route);
    assert_eq!(series.len(), 1, "{series:#?}");
    let point = &series[0];
    println!(
        "OTLP http.server.request.duration count {} over {} exports",
        point.value,
        all.len()
    );
    assert_eq!(point.value, N as u64, "{point:?}");
    assert_eq!(point.service, "nginx");
    assert_eq!(
        point
            .attributes
            .get("http.request.method")
            .map(String::as_str),
        Some("GET")
    );
    assert_eq!(
        point
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("200")
    );
    assert_eq!(point.bounds, SEMCONV_BOUNDS);
    assert_eq!(point.bucket_counts.iter().sum::<u64>(), N as u64);
    let exports: Vec<&OtlpPoint> = all.iter().filter(|p| with(&p.attributes, &route)).collect();
    assert!(
        exports.windows(2).all(|w| w[0].start_ns == w[1].start_ns
            && w[0].value <= w[1].value
            && w[0].time_ns <= w[1].time_ns),
        "cumulative points must share their start and only grow: {exports:#?}"
    );
    // The client side too: curl's histogram to that port. A curl run may end before sonde
    // reads its /proc entry; its metrics then count under `unknown_service` (never one
    // series per pid).
    let clients = latest(
        &otlp_points(&metrics, "http.client.request.duration"),
        &[("server.port", &port_s)],
    );
    assert_eq!(clients.iter().map(|p| p.value).sum::<u64>(), N as u64);
    assert!(
        clients.len() <= 2 && clients.iter().all(|p| CURL.contains(&p.service.as_str())),
        "{clients:#?}"
    );

    // /metrics: the same series, the same count.
    let counts = samples(&text, "http_server_request_duration_seconds_count");
    let on_port: Vec<_> = counts
        .iter()
        .filter(|(l, _)| with(l, &[("server_port", &port_s)]))
        .collect();
    assert_eq!(on_port.len(), 1, "{on_port:?}\n{text}");
    let (labels, count) = on_port[0];
    println!("/metrics {labels:?} count {count}");
    assert_eq!(*count, N as f64, "{text}");
    assert!(
        with(
            labels,
            &[
                ("service_name", "nginx"),
                ("http_request_method", "GET"),
                ("http_route", "/index.html"),
                ("http_response_status_code", "200"),
            ]
        ),
        "{labels:?}"
    );
    let inf = samples(&text, "http_server_request_duration_seconds_bucket");
    assert_eq!(
        sum(&inf, &[("server_port", &port_s), ("le", "+Inf")]),
        N as f64
    );
    Ok(())
}

/// A real Prometheus (Debian's 2.42) scrapes /metrics every second and finds the same count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_same_count() -> anyhow::Result<()> {
    if !privileged("prometheus_scrapes_the_same_count") {
        return Ok(());
    }
    const N: usize = 60;
    let nginx = Nginx::start(&[("index.html", b"scraped\n".to_vec())])?;
    let port = nginx.port();
    let sonde = Sonde::start(&port_args(&[port]), &[])?;
    let prometheus = PrometheusServer::start(sonde.listen)?;

    let urls = vec![format!("http://127.0.0.1:{port}/index.html"); N];
    let ok = tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    assert_eq!(ok, N);

    let query =
        format!(r#"sum(http_server_request_duration_seconds_count{{server_port="{port}"}})"#);
    let found = tokio::task::spawn_blocking({
        let query = query.clone();
        move || -> anyhow::Result<_> {
            let samples = prometheus.wait_for(
                &query,
                |s| s.first().is_some_and(|s| s.value >= N as f64),
                WAIT,
            )?;
            let up = prometheus.query(r#"up{job="sonde"}"#)?;
            let by_route = prometheus.query(&format!(
                r#"http_server_request_duration_seconds_count{{server_port="{port}",service_name="nginx",http_route="/index.html"}}"#
            ))?;
            let log = prometheus.log_text();
            Ok((samples, up, by_route, log))
        }
    })
    .await??;
    let (samples, up, by_route, log) = found;
    let direct = sum(&samples_of(&sonde)?, &[("server_port", &port.to_string())]);
    assert!(sonde.stop()?.success());

    println!("prometheus: {query} = {samples:?}, up = {up:?}, /metrics = {direct}");
    assert_eq!(up.len(), 1, "{up:?}\n{log}");
    assert_eq!(up[0].value, 1.0, "the scrape failed: {log}");
    assert_eq!(samples.len(), 1, "{query}: {samples:?}\n{log}");
    assert_eq!(samples[0].value, N as f64, "{query}: {samples:?}");
    assert_eq!(direct, N as f64, "/metrics itself");
    assert_eq!(by_route.len(), 1, "{by_route:?}");
    assert!(
        by_route[0].metric.contains(r#""job":"sonde""#),
        "{by_route:?}"
    );
    Ok(())
}

fn samples_of(sonde: &Sonde) -> anyhow::Result<Vec<(Labels, f64)>> {
    Ok(samples(
        &sonde.metrics()?,
        "http_server_request_duration_seconds_count",
    ))
}

/// 5,000 distinct paths `/users/1` .. `/users/5000` (404s from nginx) make one route series,
/// `/users/{id}`, not 5,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_paths_fold_into_one_route_series() -> anyhow::Result<()> {
    if !privileged("raw_paths_fold_into_one_route_series") {
        return Ok(());
    }
    const N: usize = 5000;
    const BATCH: usize = 500;
    let nginx = Nginx::start(&[("index.html", b"x\n".to_vec())])?;
    let port = nginx.port();
    let port_s = port.to_string();
    let sonde = Sonde::start(&port_args(&[port]), &[])?;

    let mut answered = 0;
    for batch in 0..N / BATCH {
        let urls: Vec<String> = (1..=BATCH)
            .map(|i| format!("http://127.0.0.1:{port}/users/{}", batch * BATCH + i))
            .collect();
        answered += tokio::task::spawn_blocking(move || curl_any(&urls)).await??;
    }
    assert_eq!(answered, N);

    let text = wait_for_text(
        &sonde,
        |t| {
            sum(
                &samples(t, "http_server_request_duration_seconds_count"),
                &[("server_port", &port_s)],
            ) >= N as f64
                && sum(
                    &samples(t, "http_client_request_duration_seconds_count"),
                    &[("server_port", &port_s)],
                ) >= N as f64
        },
        WAIT,
    );
    let overflow = sonde.metric("sonde_metric_series_overflow_total")?;
    assert!(sonde.stop()?.success());

    let servers: Vec<_> = samples(&text, "http_server_request_duration_seconds_count")
        .into_iter()
        .filter(|(l, _)| with(l, &[("server_port", &port_s)]))
        .collect();
    println!("server series for port {port}: {servers:?}");
    assert!(servers.len() <= 3, "{servers:?}");
    assert_eq!(servers.iter().map(|(_, v)| v).sum::<f64>(), N as f64);
    assert!(
        servers.iter().all(|(l, _)| with(
            l,
            &[
                ("http_route", "/users/{id}"),
                ("http_response_status_code", "404")
            ]
        )),
        "{servers:?}"
    );
    let clients: Vec<_> = samples(&text, "http_client_request_duration_seconds_count")
        .into_iter()
        .filter(|(l, _)| with(l, &[("server_port", &port_s)]))
        .collect();
    println!("client series for port {port}: {clients:?}");
    assert!(clients.len() <= 3, "{clients:?}");
    assert_eq!(clients.iter().map(|(_, v)| v).sum::<f64>(), N as f64);
    assert_eq!(overflow, 0.0, "no series overflowed");
    Ok(())
}

/// A Python service that calls nginx for each request: watched at both ports, sonde sees
/// both ends of both hops and reports the edges curl -> proxy and proxy -> nginx, 20 each,
/// paired (no half left over as `user` or an address), on /metrics and over OTLP http.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_graph_edges_between_watched_services() -> anyhow::Result<()> {
    if !privileged("service_graph_edges_between_watched_services") {
        return Ok(());
    }
    const N: usize = 20;
    let receiver = OtlpReceiver::start().await?;
    let nginx = Nginx::start(&[("index.html", b"from nginx\n".to_vec())])?;
    let proxy = PythonProxy::start(&format!("http://127.0.0.1:{}/index.html", nginx.port()))?;
    let sonde = Sonde::start(
        &port_args(&[proxy.port, nginx.port()]),
        &otlp_env(receiver.http_endpoint(), "http/protobuf"),
    )?;

    let urls = vec![format!("http://127.0.0.1:{}/", proxy.port); N];
    let ok = tokio::task::spawn_blocking(move || curl_keepalive(&urls)).await??;
    assert_eq!(ok, N);

    // The edge's total over the names its client may have (see CURL).
    let edge_sum = |text: &str, name: &str, clients: &[&str], server: &str| -> f64 {
        let samples = samples(text, name);
        clients
            .iter()
            .map(|client| sum(&samples, &[("client", client), ("server", server)]))
            .sum()
    };
    let edge_count = |text: &str, clients: &[&str], server: &str| {
        edge_sum(text, "traces_service_graph_request_total", clients, server)
    };
    wait_for_text(
        &sonde,
        |t| {
            edge_count(t, &CURL, "proxy") >= N as f64
                && edge_count(t, &["proxy"], "nginx") >= N as f64
        },
        WAIT,
    );
    // Past the pairing window: any half still alone would now show as its own edge.
    std::thread::sleep(PAIR_WINDOW_AND_MARGIN);
    let text = sonde.metrics()?;
    receiver
        .wait_for_metrics(
            |m| {
                latest(
                    &otlp_points(m, "traces_service_graph_request_total"),
                    &[("client", "proxy"), ("server", "nginx")],
                )
                .iter()
                .any(|p| p.value >= N as u64)
            },
            WAIT,
        )
        .await;
    assert!(sonde.stop()?.success());

    let edges = samples(&text, "traces_service_graph_request_total");
    println!("edges: {edges:?}");
    assert_eq!(edge_count(&text, &CURL, "proxy"), N as f64, "{text}");
    assert_eq!(edge_count(&text, &["proxy"], "nginx"), N as f64, "{text}");
    // Every request paired: no edge from `user` into, or by address out of, these services.
    let nginx_addr = format!("127.0.0.1:{}", nginx.port());
    let proxy_addr = format!("127.0.0.1:{}", proxy.port);
    for (labels, value) in &edges {
        let (c, s) = (&labels["client"], &labels["server"]);
        assert!(
            !(c == "user" && (s == "proxy" || s == "nginx"))
                && *s != nginx_addr
                && *s != proxy_addr,
            "unpaired half: {labels:?} {value}\n{text}"
        );
    }
    for (clients, server) in [(&CURL[..], "proxy"), (&["proxy"][..], "nginx")] {
        for name in [
            "traces_service_graph_request_server_seconds_count",
            "traces_service_graph_request_client_seconds_count",
        ] {
            assert_eq!(
                edge_sum(&text, name, clients, server),
                N as f64,
                "{name} {clients:?} -> {server}"
            );
        }
        let failed = "traces_service_graph_request_failed_total";
        assert_eq!(edge_sum(&text, failed, clients, server), 0.0);
    }
    // The same edge over OTLP, under sonde's own resource.
    let otlp = latest(
        &otlp_points(&receiver.metrics(), "traces_service_graph_request_total"),
        &[("client", "proxy"), ("server", "nginx")],
    );
    assert_eq!(otlp.len(), 1, "{otlp:#?}");
    assert_eq!(otlp[0].value, N as u64);
    assert_eq!(otlp[0].service, "sonde");
    Ok(())
}

/// Redis commands from a long-lived client (this test process, so that its service name is
/// known): the database histogram counts each operation exactly, with `error.type` on the
/// failed one, over OTLP and on /metrics; the service graph names the unwatched-side server
/// by address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_operations_feed_the_db_histogram() -> anyhow::Result<()> {
    if !privileged("redis_operations_feed_the_db_histogram") {
        return Ok(());
    }
    const SETS: usize = 30;
    const GETS: usize = 20;
    let receiver = OtlpReceiver::start().await?;
    let redis = RedisServer::start()?;
    let port = redis.port();
    let port_s = port.to_string();
    let sonde = Sonde::start(
        &port_args(&[port]),
        &otlp_env(receiver.grpc_endpoint(), "grpc"),
    )?;

    let mut client = redis.client()?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for n in 0..SETS {
            anyhow::ensure!(client.command(&["SET", "k", &n.to_string()])? == "OK");
        }
        for _ in 0..GETS {
            client.command(&["GET", "k"])?;
        }
        let wrong = client.command(&["HSET", "k", "f", "v"])?;
        anyhow::ensure!(wrong.starts_with("-WRONGTYPE"), "{wrong}");
        Ok(())
    })
    .await??;

    let op = |name: &'static str| [("db.system.name", "redis"), ("db.operation.name", name)];
    let count = |m: &[ResourceMetrics], name: &'static str| -> u64 {
        latest(&otlp_points(m, "db.client.operation.duration"), &op(name))
            .iter()
            .filter(|p| p.attributes.get("server.port") == Some(&port_s))
            .map(|p| p.value)
            .sum()
    };
    receiver
        .wait_for_metrics(
            |m| count(m, "SET") >= SETS as u64 && count(m, "GET") >= GETS as u64,
            WAIT,
        )
        .await;
    let prom = |name: &'static str| {
        [
            ("db_system_name", "redis"),
            ("db_operation_name", name),
            ("server_port", port_s.as_str()),
        ]
    };
    let text = wait_for_text(
        &sonde,
        |t| {
            let counts = samples(t, "db_client_operation_duration_seconds_count");
            sum(&counts, &prom("SET")) >= SETS as f64 && sum(&counts, &prom("HSET")) >= 1.0
        },
        WAIT,
    );
    assert!(sonde.stop()?.success());

    let metrics = receiver.metrics();
    println!(
        "OTLP db.client.operation.duration: SET {} GET {} HSET {}",
        count(&metrics, "SET"),
        count(&metrics, "GET"),
        count(&metrics, "HSET")
    );
    assert_eq!(count(&metrics, "SET"), SETS as u64);
    assert_eq!(count(&metrics, "GET"), GETS as u64);
    let hset = latest(
        &otlp_points(&metrics, "db.client.operation.duration"),
        &op("HSET"),
    );
    assert_eq!(hset.len(), 1, "{hset:#?}");
    assert_eq!(
        hset[0].attributes.get("error.type").map(String::as_str),
        Some("WRONGTYPE")
    );
    assert_eq!(hset[0].bounds, SEMCONV_BOUNDS);

    let counts = samples(&text, "db_client_operation_duration_seconds_count");
    println!(
        "/metrics db_client_operation_duration_seconds_count: {:?}",
        counts
            .iter()
            .filter(|(l, _)| with(l, &[("server_port", &port_s)]))
            .collect::<Vec<_>>()
    );
    assert_eq!(sum(&counts, &prom("SET")), SETS as f64, "{text}");
    assert_eq!(sum(&counts, &prom("GET")), GETS as f64, "{text}");
    assert_eq!(
        sum(
            &counts,
            &[&prom("HSET")[..], &[("error_type", "WRONGTYPE")]].concat()
        ),
        1.0
    );
    // Redis is not watched as a server (sonde never reports a database server's side): the
    // edge names it by address, at once.
    let edges = samples(&text, "traces_service_graph_request_total");
    let to_redis = sum(&edges, &[("server", &format!("127.0.0.1:{port}"))]);
    assert_eq!(to_redis, (SETS + GETS + 1) as f64, "{edges:?}");
    Ok(())
}

/// `python3 proxy.py PORT UPSTREAM`: for each GET, fetches UPSTREAM with urllib and answers
/// with its body. HTTP/1.0, one connection per request on both hops.
struct PythonProxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

const PROXY_SCRIPT: &str = r#"
import http.server, sys, urllib.request
port, upstream = int(sys.argv[1]), sys.argv[2]
# No proxy variables: the call must go straight to nginx.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
class Proxy(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        with opener.open(upstream) as r:
            body = r.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()
"#;

impl PythonProxy {
    fn start(upstream: &str) -> anyhow::Result<PythonProxy> {
        let dir = tempfile::Builder::new().prefix("sonde-proxy-").tempdir()?;
        // The script's name is the service's name.
        let script = dir.path().join("proxy.py");
        std::fs::write(&script, PROXY_SCRIPT)?;
        let port = free_port();
        let log = dir.path().join("proxy.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new("python3")
            .arg("-u")
            .arg(&script)
            .arg(port.to_string())
            .arg(upstream)
            .env_remove("OTEL_SERVICE_NAME")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting python3 proxy.py")?;
        let mut proxy = PythonProxy {
            child,
            port,
            _dir: dir,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = proxy.child.try_wait()? {
                bail!(
                    "proxy exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                bail!("proxy not accepting on {addr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(proxy)
    }
}

impl Drop for PythonProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_text_parses() {
    let text =
        "# TYPE x histogram\nx_count{a=\"1\",route=\"/u/{id}\",q=\"a\\\"b\"} 5\nx_count 2\ny 1\n";
    let s = samples(text, "x_count");
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].0["route"], "/u/{id}");
    assert_eq!(s[0].0["q"], "a\"b");
    assert_eq!(s[0].1, 5.0);
    assert!(s[1].0.is_empty());
}
