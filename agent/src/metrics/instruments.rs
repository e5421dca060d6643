//! What sonde measures: one description per metric family, and which span feeds which
//! duration histogram with which attributes.

use crate::trace::span::{SpanKind, SpanRecord};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Histogram,
    /// A monotonic sum (OTLP `Sum`, `is_monotonic`), a Prometheus counter.
    Counter,
}

/// One metric family, named as OTLP names it; `prometheus.rs` derives the Prometheus name.
#[derive(Debug, PartialEq, Eq)]
pub struct MetricDesc {
    pub name: &'static str,
    /// UCUM, as OTLP carries it: `s`, or an annotation such as `{request}`.
    pub unit: &'static str,
    pub description: &'static str,
    pub kind: MetricKind,
}

/// The duration histograms fed from spans, in the order of the store's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instrument {
    HttpServer,
    HttpClient,
    DbClient,
}

/// Most attributes of any instrument (sizes the stack array used to look series up).
pub const MAX_KEYS: usize = 5;

impl Instrument {
    pub const ALL: [Instrument; 3] = [
        Instrument::HttpServer,
        Instrument::HttpClient,
        Instrument::DbClient,
    ];

    pub fn desc(self) -> &'static MetricDesc {
        match self {
            Instrument::HttpServer => &HTTP_SERVER_DURATION,
            Instrument::HttpClient => &HTTP_CLIENT_DURATION,
            Instrument::DbClient => &DB_CLIENT_DURATION,
        }
    }

    /// The span attributes copied onto the metric: the contract's list plus `error.type`.
    /// Nothing unbounded: routes are templates, never raw paths, and no address but ports.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Instrument::HttpServer => &[
                "http.request.method",
                "http.route",
                "http.response.status_code",
                "server.port",
                "error.type",
            ],
            Instrument::HttpClient => &[
                "http.request.method",
                "http.response.status_code",
                "server.port",
                "error.type",
            ],
            Instrument::DbClient => &[
                "db.system.name",
                "db.operation.name",
                "db.collection.name",
                "server.port",
                "error.type",
            ],
        }
    }

    /// Which histogram a span feeds, from its kind and its protocol's attributes.
    pub fn of(span: &SpanRecord) -> Option<Instrument> {
        match span.kind {
            SpanKind::Server if span.attr("http.request.method").is_some() => {
                Some(Instrument::HttpServer)
            }
            SpanKind::Client if span.attr("db.system.name").is_some() => Some(Instrument::DbClient),
            SpanKind::Client if span.attr("http.request.method").is_some() => {
                Some(Instrument::HttpClient)
            }
            _ => None,
        }
    }
}

pub static HTTP_SERVER_DURATION: MetricDesc = MetricDesc {
    name: "http.server.request.duration",
    unit: "s",
    description: "Duration of HTTP server requests.",
    kind: MetricKind::Histogram,
};

pub static HTTP_CLIENT_DURATION: MetricDesc = MetricDesc {
    name: "http.client.request.duration",
    unit: "s",
    description: "Duration of HTTP client requests.",
    kind: MetricKind::Histogram,
};

pub static DB_CLIENT_DURATION: MetricDesc = MetricDesc {
    name: "db.client.operation.duration",
    unit: "s",
    description: "Duration of database client operations.",
    kind: MetricKind::Histogram,
};

// The service graph, named as Tempo's metrics-generator and Beyla name it in Prometheus, so
// Grafana's service graph view works on them unchanged. The OTLP names are the same strings:
// the OTLP-to-Prometheus translation adds `_total` / `_seconds` only when missing.

pub static GRAPH_REQUESTS: MetricDesc = MetricDesc {
    name: "traces_service_graph_request_total",
    unit: "{request}",
    description: "Requests between two services (client -> server edge).",
    kind: MetricKind::Counter,
};

pub static GRAPH_FAILED: MetricDesc = MetricDesc {
    name: "traces_service_graph_request_failed_total",
    unit: "{request}",
    description: "Failed requests between two services: either side's span has an error status.",
    kind: MetricKind::Counter,
};

pub static GRAPH_SERVER_SECONDS: MetricDesc = MetricDesc {
    name: "traces_service_graph_request_server_seconds",
    unit: "s",
    description: "Duration of requests between two services, as the server measured it.",
    kind: MetricKind::Histogram,
};

pub static GRAPH_CLIENT_SECONDS: MetricDesc = MetricDesc {
    name: "traces_service_graph_request_client_seconds",
    unit: "s",
    description: "Duration of requests between two services, as the client measured it.",
    kind: MetricKind::Histogram,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::span::{AttrValue, Resource, SpanStatus};
    use std::sync::Arc;

    fn span(kind: SpanKind, attrs: &[(&'static str, AttrValue)]) -> SpanRecord {
        SpanRecord {
            trace_id: [1; 16],
            span_id: [1; 8],
            parent_span_id: None,
            name: "x".into(),
            kind,
            start_unix_ns: 0,
            end_unix_ns: 1,
            attributes: attrs.iter().map(|(k, v)| (*k, v.clone())).collect(),
            status: SpanStatus::Unset,
            resource: Arc::new(Resource {
                attributes: Vec::new(),
            }),
        }
    }

    #[test]
    fn spans_pick_their_histogram() {
        let get = || ("http.request.method", AttrValue::from("GET"));
        let redis = || ("db.system.name", AttrValue::from("redis"));
        assert_eq!(
            Instrument::of(&span(SpanKind::Server, &[get()])),
            Some(Instrument::HttpServer)
        );
        assert_eq!(
            Instrument::of(&span(SpanKind::Client, &[get()])),
            Some(Instrument::HttpClient)
        );
        assert_eq!(
            Instrument::of(&span(SpanKind::Client, &[redis()])),
            Some(Instrument::DbClient)
        );
        assert_eq!(Instrument::of(&span(SpanKind::Server, &[redis()])), None);
        assert!(
            Instrument::ALL
                .iter()
                .all(|i| i.keys().len() <= MAX_KEYS && i.keys().last() == Some(&"error.type"))
        );
    }
}
