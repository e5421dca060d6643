//! SpanRecords to an OTLP `ExportTraceServiceRequest`: one `ResourceSpans` per distinct
//! process resource, each with one `ScopeSpans` named "sonde".

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};

use crate::trace::span::{AttrValue, Resource, SpanKind, SpanRecord, SpanStatus};

/// The instrumentation scope of every span sonde makes.
pub const SCOPE_NAME: &str = "sonde";

/// The W3C trace flag in the low byte of `Span.flags`: sonde records every call it sees, so
/// every span it exports is sampled.
pub(crate) const W3C_FLAG_SAMPLED: u32 = 0x01;

/// Builds one request from a batch, grouping spans by their resource (the same `Arc`) in the
/// order the resources first appear.
pub fn export_request(spans: &[SpanRecord]) -> ExportTraceServiceRequest {
    let mut groups: Vec<(&Arc<Resource>, Vec<Span>)> = Vec::new();
    let mut group_of: HashMap<*const Resource, usize> = HashMap::new();
    for record in spans {
        let index = *group_of
            .entry(Arc::as_ptr(&record.resource))
            .or_insert_with(|| {
                groups.push((&record.resource, Vec::new()));
                groups.len() - 1
            });
        groups[index].1.push(span_to_proto(record));
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(resource, spans)| ResourceSpans {
                resource: Some(resource_to_proto(resource)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope()),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

fn resource_to_proto(resource: &Resource) -> ProtoResource {
    ProtoResource {
        attributes: attributes_to_proto(&resource.attributes),
        ..Default::default()
    }
}

pub fn span_to_proto(record: &SpanRecord) -> Span {
    Span {
        trace_id: record.trace_id.to_vec(),
        span_id: record.span_id.to_vec(),
        parent_span_id: record
            .parent_span_id
            .map(|id| id.to_vec())
            .unwrap_or_default(),
        flags: W3C_FLAG_SAMPLED,
        name: record.name.to_string(),
        kind: kind_to_proto(record.kind) as i32,
        start_time_unix_nano: record.start_unix_ns,
        end_time_unix_nano: record.end_unix_ns,
        attributes: attributes_to_proto(&record.attributes),
        status: status_to_proto(&record.status),
        ..Default::default()
    }
}

fn kind_to_proto(kind: SpanKind) -> span::SpanKind {
    match kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
    }
}

fn status_to_proto(status: &SpanStatus) -> Option<Status> {
    match status {
        // An absent status is UNSET; no need to send it.
        SpanStatus::Unset => None,
        SpanStatus::Error { message } => Some(Status {
            message: message.clone(),
            code: status::StatusCode::Error as i32,
        }),
    }
}

fn attributes_to_proto<K: AsRef<str>>(attributes: &[(K, AttrValue)]) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue {
            key: key.as_ref().to_owned(),
            value: Some(value_to_proto(value)),
        })
        .collect()
}

pub fn value_to_proto(value: &AttrValue) -> AnyValue {
    let value = match value {
        AttrValue::Str(s) => any_value::Value::StringValue(s.to_string()),
        AttrValue::Int(i) => any_value::Value::IntValue(*i),
        AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
    };
    AnyValue { value: Some(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(service: &str) -> Arc<Resource> {
        Arc::new(Resource {
            attributes: vec![
                ("service.name".into(), service.into()),
                ("process.pid".into(), AttrValue::Int(42)),
            ],
        })
    }

    fn record(n: u8, resource: &Arc<Resource>) -> SpanRecord {
        SpanRecord {
            trace_id: [n; 16],
            span_id: [n; 8],
            parent_span_id: None,
            name: format!("GET /{n}").into(),
            kind: SpanKind::Server,
            start_unix_ns: 1_000,
            end_unix_ns: 2_000,
            attributes: Vec::new(),
            status: SpanStatus::Unset,
            resource: resource.clone(),
        }
    }

    fn string(v: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        })
    }

    #[test]
    fn ids_kind_and_times_are_copied() {
        let res = resource("app");
        let mut child = record(1, &res);
        child.trace_id = *b"0123456789abcdef";
        child.span_id = *b"spanid01";
        child.parent_span_id = Some(*b"parent01");
        child.kind = SpanKind::Client;
        child.start_unix_ns = 1_700_000_000_000_000_001;
        child.end_unix_ns = 1_700_000_000_012_300_001;
        let span = span_to_proto(&child);
        assert_eq!(span.trace_id, b"0123456789abcdef");
        assert_eq!(span.span_id, b"spanid01");
        assert_eq!(span.parent_span_id, b"parent01");
        assert_eq!(span.kind, span::SpanKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_001);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_012_300_001);
        assert_eq!(span.name, "GET /1");
        assert_eq!(span.flags, 1);
        assert_eq!(span.status, None);

        let root = span_to_proto(&record(2, &res));
        assert!(root.parent_span_id.is_empty());
        assert_eq!(root.kind, span::SpanKind::Server as i32);
    }

    #[test]
    fn every_attribute_type_is_converted() {
        let res = resource("app");
        let mut rec = record(1, &res);
        rec.attributes = vec![
            ("http.request.method", "GET".into()),
            ("http.response.status_code", AttrValue::Int(200)),
            ("sonde.partial", AttrValue::Bool(true)),
        ];
        let attrs = span_to_proto(&rec).attributes;
        assert_eq!(
            attrs,
            vec![
                KeyValue {
                    key: "http.request.method".into(),
                    value: string("GET"),
                },
                KeyValue {
                    key: "http.response.status_code".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::IntValue(200)),
                    }),
                },
                KeyValue {
                    key: "sonde.partial".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::BoolValue(true)),
                    }),
                },
            ]
        );
    }

    #[test]
    fn error_status_keeps_message() {
        let res = resource("app");
        let mut rec = record(1, &res);
        rec.status = SpanStatus::Error {
            message: "HTTP 503".into(),
        };
        assert_eq!(
            span_to_proto(&rec).status,
            Some(Status {
                message: "HTTP 503".into(),
                code: status::StatusCode::Error as i32,
            })
        );
    }

    #[test]
    fn spans_are_grouped_by_resource_in_first_seen_order() {
        let app = resource("app");
        let db = resource("db");
        let batch = [
            record(1, &app),
            record(2, &db),
            record(3, &app),
            record(4, &db),
            record(5, &app),
        ];
        let request = export_request(&batch);
        assert_eq!(request.resource_spans.len(), 2);

        let names: Vec<(Option<AnyValue>, Vec<String>)> = request
            .resource_spans
            .iter()
            .map(|rs| {
                let resource = rs.resource.as_ref().expect("resource set");
                assert_eq!(resource.attributes.len(), 2);
                assert_eq!(rs.scope_spans.len(), 1);
                let scope = &rs.scope_spans[0];
                assert_eq!(scope.scope.as_ref().map(|s| s.name.as_str()), Some("sonde"));
                (
                    resource.attributes[0].value.clone(),
                    scope.spans.iter().map(|s| s.name.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    string("app"),
                    vec!["GET /1".into(), "GET /3".into(), "GET /5".into()]
                ),
                (string("db"), vec!["GET /2".into(), "GET /4".into()]),
            ]
        );
    }

    #[test]
    fn empty_batch_gives_empty_request() {
        assert!(export_request(&[]).resource_spans.is_empty());
    }
}
