//! The store from exchanges to both renderings: spans built by the real `SpanBuilder` from
//! HTTP and database exchanges, recorded, then read back as OTLP and as Prometheus text.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use opentelemetry_proto::tonic::{
    collector::metrics::v1::ExportMetricsServiceRequest,
    common::v1::{KeyValue, any_value::Value},
    metrics::v1::{HistogramDataPoint, metric::Data},
};

use super::{
    Metrics,
    series::{no_stats, overflow_count},
    services::ServiceResource,
    store::Store,
};
use crate::{
    conn::{ConnInfo, Finished},
    discovery::ProcessRegistry,
    protocol::{DbError, DbExchange, DbSystem, Exchange, Role, http::HttpExchange},
    stats::SelfStats,
    trace::{
        SpanBuilder,
        clock::Clock,
        route::Routes,
        span::{AttrValue, Resource, SpanKind, SpanRecord, SpanStatus},
    },
};

fn builder() -> SpanBuilder {
    SpanBuilder::new(
        ProcessRegistry::new(Vec::new()),
        Clock::new(),
        Routes::new(&[]),
    )
}

fn conn(local: &str, peer: &str, role: Role) -> Option<Arc<ConnInfo>> {
    Some(Arc::new(ConnInfo::new(
        std::process::id(),
        3,
        local.parse().unwrap(),
        peer.parse().unwrap(),
        Some(role),
        String::new(),
    )))
}

fn http(role: Role, target: &str, status: u16, info: Option<Arc<ConnInfo>>) -> Finished {
    Finished {
        conn_id: 1,
        pid: std::process::id(),
        info,
        exchange: Exchange::Http(HttpExchange {
            role,
            method: "GET".into(),
            target: target.into(),
            version_minor: 1,
            host: Some("127.0.0.1:8080".into()),
            user_agent: None,
            traceparent: None,
            status: Some(status),
            request_start_ns: 1_000_000,
            response_end_ns: 4_000_000, // 3 ms
            tid: 1,
            request_body_bytes: 0,
            response_body_bytes: 0,
            incomplete: None,
        }),
    }
}

fn db(system: DbSystem, op: &str, collection: Option<&str>, error: Option<&str>) -> Finished {
    Finished {
        conn_id: 2,
        pid: std::process::id(),
        info: conn("127.0.0.1:40000", "127.0.0.1:6379", Role::Client),
        exchange: Exchange::Db(DbExchange {
            system,
            role: Role::Client,
            namespace: Some("0".into()),
            operation: Some(op.into()),
            collection: collection.map(Into::into),
            query_text: Some(format!("{op} ?")),
            error: error.map(|code| DbError {
                code: code.into(),
                message: "boom".into(),
            }),
            start_ns: 10_000_000,
            end_ns: 10_200_000, // 0.2 ms
            tid: 1,
            rows: None,
            incomplete: None,
        }),
    }
}

fn new_store(max_series: usize, stats: Arc<SelfStats>) -> Store {
    Store::new(max_series, ServiceResource::agent("h", &[]), stats)
}

fn record(store: &mut Store, builder: &mut SpanBuilder, f: &Finished) {
    if let Some(span) = builder.build(&mut f.clone()) {
        store.record(&span, f.info.as_deref(), Instant::now());
    }
}

fn string_of(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        other => panic!("{other:?}"),
    }
}

/// A histogram point with its service and its attributes rendered as strings.
type ServicePoint = (String, Vec<(String, String)>, HistogramDataPoint);

/// Every histogram point of metric `name`.
fn histogram_points(request: &ExportMetricsServiceRequest, name: &str) -> Vec<ServicePoint> {
    let mut out = Vec::new();
    for rm in &request.resource_metrics {
        let service = rm
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .map(string_of)
            .unwrap_or_default();
        for metric in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
            if metric.name != name {
                continue;
            }
            let Some(Data::Histogram(h)) = &metric.data else {
                panic!("{name} is not a histogram")
            };
            for p in &h.data_points {
                let attrs = p
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.clone(), string_of(kv)))
                    .collect();
                out.push((service.clone(), attrs, p.clone()));
            }
        }
    }
    out
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn templated_routes_give_one_series_per_route() {
    let mut store = new_store(2000, no_stats());
    let mut b = builder();
    let server = conn("127.0.0.1:8080", "127.0.0.1:50000", Role::Server);
    for n in 1..=5000 {
        record(
            &mut store,
            &mut b,
            &http(Role::Server, &format!("/users/{n}"), 404, server.clone()),
        );
    }
    let request = super::otlp::export_request(&store.snapshot(), u64::MAX);
    let points = histogram_points(&request, "http.server.request.duration");
    assert_eq!(points.len(), 1, "{points:?}");
    let (service, attributes, point) = &points[0];
    // The test process is the "server" here.
    assert!(!service.is_empty());
    assert_eq!(
        attributes,
        &attrs(&[
            ("http.request.method", "GET"),
            ("http.route", "/users/{id}"),
            ("http.response.status_code", "404"),
            ("server.port", "8080"),
        ])
    );
    assert_eq!(point.count, 5000);
    // 3 ms each: all in the (0.0, 0.005] bucket.
    assert_eq!(point.bucket_counts[0], 5000);
    assert!((point.sum.unwrap() - 15.0).abs() < 1e-6);
}

#[test]
fn client_errors_carry_error_type() {
    let mut store = new_store(2000, no_stats());
    let mut b = builder();
    let client = conn("127.0.0.1:50000", "127.0.0.1:8080", Role::Client);
    record(
        &mut store,
        &mut b,
        &http(Role::Client, "/a", 200, client.clone()),
    );
    record(
        &mut store,
        &mut b,
        &http(Role::Client, "/b", 404, client.clone()),
    );
    record(&mut store, &mut b, &http(Role::Client, "/c", 404, client));
    let request = super::otlp::export_request(&store.snapshot(), u64::MAX);
    let mut points: Vec<_> = histogram_points(&request, "http.client.request.duration")
        .into_iter()
        .map(|(_, a, p)| (a, p.count))
        .collect();
    points.sort();
    assert_eq!(
        points,
        [
            (
                attrs(&[
                    ("http.request.method", "GET"),
                    ("http.response.status_code", "200"),
                    ("server.port", "8080"),
                ]),
                1
            ),
            (
                attrs(&[
                    ("http.request.method", "GET"),
                    ("http.response.status_code", "404"),
                    ("server.port", "8080"),
                    ("error.type", "404"),
                ]),
                2
            ),
        ]
    );
}

#[test]
fn database_exchanges_feed_the_db_histogram() {
    let mut store = new_store(2000, no_stats());
    let mut b = builder();
    for _ in 0..3 {
        record(&mut store, &mut b, &db(DbSystem::Redis, "GET", None, None));
    }
    record(
        &mut store,
        &mut b,
        &db(DbSystem::Redis, "HSET", None, Some("WRONGTYPE")),
    );
    record(
        &mut store,
        &mut b,
        &db(DbSystem::Postgresql, "SELECT", Some("items"), None),
    );
    // A database server's side gives no span, so no measurement.
    let mut server_side = db(DbSystem::Redis, "GET", None, None);
    if let Exchange::Db(x) = &mut server_side.exchange {
        x.role = Role::Server;
    }
    record(&mut store, &mut b, &server_side);

    let request = super::otlp::export_request(&store.snapshot(), u64::MAX);
    let mut points: Vec<_> = histogram_points(&request, "db.client.operation.duration")
        .into_iter()
        .map(|(_, a, p)| (a, p.count, p.bucket_counts[0]))
        .collect();
    points.sort();
    assert_eq!(
        points,
        [
            (
                attrs(&[
                    ("db.system.name", "postgresql"),
                    ("db.operation.name", "SELECT"),
                    ("db.collection.name", "items"),
                    ("server.port", "6379"),
                ]),
                1,
                1
            ),
            (
                attrs(&[
                    ("db.system.name", "redis"),
                    ("db.operation.name", "GET"),
                    ("server.port", "6379"),
                ]),
                3,
                3
            ),
            (
                attrs(&[
                    ("db.system.name", "redis"),
                    ("db.operation.name", "HSET"),
                    ("server.port", "6379"),
                    ("error.type", "WRONGTYPE"),
                ]),
                1,
                1
            ),
        ]
    );
    // Database clients count in the service graph at once, naming the server by address.
    let mut text = String::new();
    super::prometheus::render(&store.snapshot(), &mut text);
    assert!(
        text.contains(r#"traces_service_graph_request_total{service_name="sonde",client=""#)
            && text.contains(r#",server="127.0.0.1:6379"} 5"#),
        "{text}"
    );
}

fn span(service: &str, pid: i64, kind: SpanKind, route: &str, failed: bool) -> SpanRecord {
    SpanRecord {
        trace_id: [1; 16],
        span_id: [2; 8],
        parent_span_id: None,
        name: "GET".into(),
        kind,
        start_unix_ns: 1_000_000_000,
        end_unix_ns: 1_020_000_000, // 20 ms
        attributes: vec![
            ("http.request.method", "GET".into()),
            ("http.route", route.into()),
            ("http.response.status_code", AttrValue::Int(200)),
            ("server.address", "127.0.0.1".into()),
            ("server.port", AttrValue::Int(8080)),
        ],
        status: if failed {
            SpanStatus::Error {
                message: String::new(),
            }
        } else {
            SpanStatus::Unset
        },
        resource: Arc::new(Resource {
            attributes: vec![
                ("service.name".into(), service.into()),
                ("process.pid".into(), AttrValue::Int(pid)),
            ],
        }),
    }
}

fn info(local: &str, peer: &str) -> ConnInfo {
    ConnInfo::new(
        1,
        3,
        local.parse::<SocketAddr>().unwrap(),
        peer.parse::<SocketAddr>().unwrap(),
        None,
        String::new(),
    )
}

#[test]
fn one_source_of_truth_for_otlp_and_prometheus() {
    let metrics = Metrics::new(2000, &[], no_stats());
    let client_conn = info("127.0.0.1:50000", "127.0.0.1:8080");
    let server_conn = info("127.0.0.1:8080", "127.0.0.1:50000");
    for n in 0..20 {
        // Two nginx workers are one service; halves arrive in both orders.
        let server = span("nginx", 10 + n % 2, SpanKind::Server, "/", n == 0);
        let client = span("proxy", 20, SpanKind::Client, "", false);
        if n % 2 == 0 {
            metrics.record(&server, Some(&server_conn));
            metrics.record(&client, Some(&client_conn));
        } else {
            metrics.record(&client, Some(&client_conn));
            metrics.record(&server, Some(&server_conn));
        }
    }
    let request = metrics.export_request();
    let server_points = histogram_points(&request, "http.server.request.duration");
    assert_eq!(server_points.len(), 1);
    assert_eq!(server_points[0].0, "nginx");
    assert_eq!(server_points[0].2.count, 20);
    // 20 ms: (0.01, 0.025].
    assert_eq!(server_points[0].2.bucket_counts[2], 20);
    assert!(
        request
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.resource.as_ref().unwrap().attributes)
            .all(|kv| kv.key != "process.pid")
    );
    let graph = histogram_points(&request, "traces_service_graph_request_server_seconds");
    assert_eq!(
        graph
            .iter()
            .map(|(s, a, p)| (s.as_str(), a.clone(), p.count))
            .collect::<Vec<_>>(),
        [(
            "sonde",
            attrs(&[("client", "proxy"), ("server", "nginx")]),
            20
        )]
    );

    let text = metrics.append_openmetrics("# EOF\n".into());
    assert!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_owned()
    };
    assert_eq!(
        line("http_server_request_duration_seconds_count{"),
        r#"http_server_request_duration_seconds_count{service_name="nginx",http_request_method="GET",http_route="/",http_response_status_code="200",server_port="8080"} 20"#
    );
    assert_eq!(
        line("traces_service_graph_request_total{"),
        r#"traces_service_graph_request_total{service_name="sonde",client="proxy",server="nginx"} 20"#
    );
    assert_eq!(
        line("traces_service_graph_request_failed_total{"),
        r#"traces_service_graph_request_failed_total{service_name="sonde",client="proxy",server="nginx"} 1"#
    );
    assert_eq!(
        line("traces_service_graph_request_client_seconds_count{"),
        r#"traces_service_graph_request_client_seconds_count{service_name="sonde",client="proxy",server="nginx"} 20"#
    );
}

#[test]
fn overflowing_routes_fold_into_one_series_and_are_counted() {
    let stats = no_stats();
    let mut store = new_store(10, stats.clone());
    let now = Instant::now();
    for n in 0..100 {
        let s = span("app", 1, SpanKind::Server, &format!("/r{n}"), false);
        store.record(&s, None, now);
    }
    let request = super::otlp::export_request(&store.snapshot(), u64::MAX);
    let points = histogram_points(&request, "http.server.request.duration");
    assert_eq!(points.len(), 10);
    let overflow: Vec<_> = points
        .iter()
        .filter(|(_, a, _)| a == &attrs(&[("otel.metric.overflow", "true")]))
        .collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(overflow[0].0, "sonde");
    assert_eq!(overflow[0].2.count, 91);
    assert_eq!(points.iter().map(|p| p.2.count).sum::<u64>(), 100);
    assert_eq!(overflow_count(&stats), 91);
}
