//! Snapshots in the OpenMetrics text format that /metrics already serves, named by the
//! OpenTelemetry "Prometheus and OpenMetrics compatibility" rules:
//! - name: characters outside `[a-zA-Z0-9_]` become `_`, then the unit is appended when the
//!   name lacks it (`s` -> `_seconds`); counters are sampled as `{family}_total`.
//!   `http.server.request.duration` -> `http_server_request_duration_seconds_bucket`, `_count`,
//!   `_sum`.
//! - attributes become labels the same way (`http.route` -> `http_route`).
//! - the resource: only `service.name`, as the label `service_name`. Not `job`/`instance`,
//!   which the OTLP-to-Prometheus conversion would use: a scraping Prometheus owns those
//!   labels (it sets them from the scrape target and renames ours to `exported_job`).
//!
//! prometheus-client, which renders the `sonde_*` counters, escapes no label values; routes
//! and Redis commands come off the wire, so this file writes the text itself.

use std::fmt::Write as _;

use super::{
    histogram::{BOUNDS_SECONDS, Histogram},
    instruments::{MetricDesc, MetricKind},
    series::Labels,
    snapshot::{PointValue, Snapshot},
};
use crate::trace::span::AttrValue;

/// The OpenMetrics end marker; every family must come before it.
const EOF: &str = "# EOF\n";

/// The family name: for a counter without `_total` (its samples add it).
pub fn family_name(desc: &MetricDesc) -> String {
    let mut name = sanitize(desc.name);
    if let Some(suffix) = unit_suffix(desc.unit)
        && !name.ends_with(&format!("_{suffix}"))
    {
        name.push('_');
        name.push_str(suffix);
    }
    if desc.kind == MetricKind::Counter
        && let Some(stripped) = name.strip_suffix("_total")
    {
        name.truncate(stripped.len());
    }
    name
}

/// The Prometheus words of the UCUM units sonde uses; annotations (`{request}`) have none.
fn unit_suffix(unit: &str) -> Option<&'static str> {
    match unit {
        "s" => Some("seconds"),
        "ms" => Some("milliseconds"),
        "By" => Some("bytes"),
        _ => None,
    }
}

/// `[a-zA-Z0-9_]` only, not starting with a digit, no doubled `_`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push_str("key_");
    }
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Appends every family of `store` to `text`, an OpenMetrics exposition that may already end
/// with `# EOF` (prometheus-client's rendering of the `sonde_*` counters); the result ends
/// with exactly one `# EOF`.
pub fn append(text: &mut String, snapshot: &Snapshot) {
    if text.ends_with(EOF) {
        text.truncate(text.len() - EOF.len());
    }
    render(snapshot, text);
    text.push_str(EOF);
}

/// Only the families, without `# EOF`.
pub fn render(snapshot: &Snapshot, out: &mut String) {
    for family in &snapshot.families {
        let name = family_name(family.desc);
        let kind = match family.desc.kind {
            MetricKind::Histogram => "histogram",
            MetricKind::Counter => "counter",
        };
        let _ = writeln!(out, "# HELP {name} {}", family.desc.description);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        if let Some(unit) = unit_suffix(family.desc.unit) {
            let _ = writeln!(out, "# UNIT {name} {unit}");
        }
        for point in &family.points {
            let labels = label_text(&point.labels);
            match &point.value {
                PointValue::Counter(n) => {
                    let _ = writeln!(out, "{name}_total{{{labels}}} {n}");
                }
                PointValue::Histogram(h) => histogram(out, &name, &labels, h),
            }
        }
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    let cumulative = h.cumulative();
    for (bound, count) in BOUNDS_SECONDS.iter().zip(cumulative) {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{}\"}} {count}",
            float(*bound)
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", float(h.sum));
}

/// `service_name="nginx",http_request_method="GET",...`
fn label_text(labels: &Labels) -> String {
    let mut out = String::with_capacity(128);
    out.push_str("service_name=\"");
    escape_into(&mut out, &labels.resource.name);
    out.push('"');
    for (key, value) in &labels.attributes {
        let _ = write!(out, ",{}=\"", sanitize(key));
        match value {
            AttrValue::Str(s) => escape_into(&mut out, s),
            AttrValue::Int(i) => {
                let _ = write!(out, "{i}");
            }
            AttrValue::Bool(b) => {
                let _ = write!(out, "{b}");
            }
        }
        out.push('"');
    }
    out
}

/// Label values escape `\`, `"` and newlines.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as OpenMetrics writes it: integral values with `.0` (`le="1.0"`), as the Go
/// client does, so that the `le` label is the same whichever client exposes a series.
fn float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{
        instruments::{GRAPH_REQUESTS, GRAPH_SERVER_SECONDS, HTTP_SERVER_DURATION},
        series::OVERFLOW_KEY,
        services::ServiceResource,
        snapshot::{Family, Point},
    };
    use std::sync::Arc;

    fn labels(service: &str, attributes: Vec<(&'static str, AttrValue)>) -> Arc<Labels> {
        let mut resource = ServiceResource::agent("h", &[]);
        resource.name = service.into();
        Arc::new(Labels {
            resource: Arc::new(resource),
            attributes,
        })
    }

    #[test]
    fn names_follow_the_otlp_to_prometheus_rules() {
        assert_eq!(
            family_name(&HTTP_SERVER_DURATION),
            "http_server_request_duration_seconds"
        );
        assert_eq!(
            family_name(&GRAPH_SERVER_SECONDS),
            "traces_service_graph_request_server_seconds"
        );
        assert_eq!(family_name(&GRAPH_REQUESTS), "traces_service_graph_request");
        assert_eq!(sanitize("db.system.name"), "db_system_name");
        assert_eq!(sanitize("otel.metric.overflow"), "otel_metric_overflow");
        assert_eq!(sanitize("a..b-c"), "a_b_c");
        assert_eq!(sanitize("1x"), "key_1x");
    }

    #[test]
    fn histogram_renders_cumulative_buckets_count_and_sum() {
        let mut h = Histogram::default();
        // Powers of two: the sum is exact.
        for v in [0.00390625, 0.015625, 0.125, 16.0] {
            h.record(v);
        }
        let snapshot = Snapshot {
            families: vec![Family {
                desc: &HTTP_SERVER_DURATION,
                points: vec![Point {
                    labels: labels(
                        "nginx",
                        vec![
                            ("http.request.method", "GET".into()),
                            ("http.route", "/users/{id}".into()),
                            ("http.response.status_code", AttrValue::Int(200)),
                            ("server.port", AttrValue::Int(8080)),
                        ],
                    ),
                    start_unix_ns: 1,
                    value: PointValue::Histogram(h),
                }],
            }],
        };
        let mut text = String::new();
        render(&snapshot, &mut text);
        let l = r#"service_name="nginx",http_request_method="GET",http_route="/users/{id}",http_response_status_code="200",server_port="8080""#;
        let expected = [
            "# HELP http_server_request_duration_seconds Duration of HTTP server requests."
                .to_owned(),
            "# TYPE http_server_request_duration_seconds histogram".to_owned(),
            "# UNIT http_server_request_duration_seconds seconds".to_owned(),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.005"}} 1"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.01"}} 1"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.025"}} 2"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.05"}} 2"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.075"}} 2"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.1"}} 2"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.25"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.5"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="0.75"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="1.0"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="2.5"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="5.0"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="7.5"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="10.0"}} 3"#),
            format!(r#"http_server_request_duration_seconds_bucket{{{l},le="+Inf"}} 4"#),
            format!(r#"http_server_request_duration_seconds_count{{{l}}} 4"#),
            format!(r#"http_server_request_duration_seconds_sum{{{l}}} 16.14453125"#),
        ];
        assert_eq!(text.lines().collect::<Vec<_>>(), expected, "{text}");
    }

    #[test]
    fn counters_label_escaping_and_eof() {
        let snapshot = Snapshot {
            families: vec![Family {
                desc: &GRAPH_REQUESTS,
                points: vec![
                    Point {
                        labels: labels(
                            "sonde",
                            vec![("client", "a\"b\\c\nd".into()), ("server", "nginx".into())],
                        ),
                        start_unix_ns: 1,
                        value: PointValue::Counter(20),
                    },
                    Point {
                        labels: labels("sonde", vec![(OVERFLOW_KEY, AttrValue::Bool(true))]),
                        start_unix_ns: 1,
                        value: PointValue::Counter(3),
                    },
                ],
            }],
        };
        let mut text =
            "# HELP sonde_x x.\n# TYPE sonde_x counter\nsonde_x_total 1\n# EOF\n".to_owned();
        append(&mut text, &snapshot);
        assert_eq!(
            text,
            concat!(
                "# HELP sonde_x x.\n# TYPE sonde_x counter\nsonde_x_total 1\n",
                "# HELP traces_service_graph_request Requests between two services (client -> server edge).\n",
                "# TYPE traces_service_graph_request counter\n",
                "traces_service_graph_request_total{service_name=\"sonde\",client=\"a\\\"b\\\\c\\nd\",server=\"nginx\"} 20\n",
                "traces_service_graph_request_total{service_name=\"sonde\",otel_metric_overflow=\"true\"} 3\n",
                "# EOF\n",
            )
        );
        // Nothing recorded: the text is left as it was.
        let mut empty = "# EOF\n".to_owned();
        append(&mut empty, &Snapshot { families: vec![] });
        assert_eq!(empty, "# EOF\n");
    }

    #[test]
    fn floats_are_canonical() {
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.005), "0.005");
        assert_eq!(float(2.5), "2.5");
        assert_eq!(float(0.0), "0.0");
    }
}
