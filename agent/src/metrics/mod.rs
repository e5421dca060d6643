//! RED metrics and the service graph, from the same finished spans the traces are made of.
//!
//! One [`Store`](store::Store) behind a mutex is the single source of truth: the pipeline
//! thread records each span into it (a lookup by a key built in a reused buffer: nothing is
//! allocated unless the series is new), /metrics renders a snapshot of it as OpenMetrics text,
//! and the OTLP task sends a snapshot every `OTEL_METRIC_EXPORT_INTERVAL`, cumulative.
//!
//! | OTLP name | Prometheus (/metrics) | attributes |
//! | --- | --- | --- |
//! | `http.server.request.duration` (s) | `http_server_request_duration_seconds` | method, route, status code, server.port, error.type |
//! | `http.client.request.duration` (s) | `http_client_request_duration_seconds` | method, status code, server.port, error.type |
//! | `db.client.operation.duration` (s) | `db_client_operation_duration_seconds` | db.system.name, db.operation.name, db.collection.name, server.port, error.type |
//! | `traces_service_graph_request_total` | same | `client`, `server` |
//! | `traces_service_graph_request_failed_total` | same | `client`, `server` |
//! | `traces_service_graph_request_server_seconds` (s) | same | `client`, `server` |
//! | `traces_service_graph_request_client_seconds` (s) | same | `client`, `server` |
//!
//! Series belong to a service (`service.name`; OTLP resource without `process.*`, Prometheus
//! label `service_name`), see `services.rs`; the service graph and overflow series belong to
//! sonde's own resource (`service_name="sonde"`). Each metric holds at most
//! `limits.max_metric_series` series, the `otel.metric.overflow=true` one included
//! (`series.rs`); `sonde_metric_series_overflow_total` counts what went there.
//!
//! Files: `histogram.rs` buckets, `instruments.rs` names and attributes, `services.rs` the
//! resources, `series.rs` the capped series table, `service_graph.rs` edge pairing,
//! `store.rs` all of it together, `snapshot.rs` the copy renderers read, `prometheus.rs` and
//! `otlp.rs` the two renderings, `exporter.rs` the OTLP task.

pub mod exporter;
pub mod histogram;
pub mod instruments;
pub mod otlp;
pub mod prometheus;
pub mod series;
pub mod service_graph;
pub mod services;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod tests;

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;

pub use exporter::MetricsExporter;
use services::ServiceResource;
use snapshot::Snapshot;
use store::Store;

use crate::{conn::ConnInfo, export::ExportError, stats::SelfStats, trace::span::SpanRecord};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("the metrics exporter must be started from within a tokio runtime")]
    NoRuntime,
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// The shared handle: cheap to clone; the pipeline records, /metrics and the exporter read.
#[derive(Clone)]
pub struct Metrics {
    store: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// `max_series`: `limits.max_metric_series`. `resource_attributes`:
    /// `OTEL_RESOURCE_ATTRIBUTES`, added to sonde's own resource.
    pub fn new(
        max_series: usize,
        resource_attributes: &[(String, String)],
        stats: Arc<SelfStats>,
    ) -> Metrics {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let agent = ServiceResource::agent(&host, resource_attributes);
        Metrics {
            store: Arc::new(Mutex::new(Store::new(max_series, agent, stats))),
        }
    }

    /// Records one finished span (`info`: its connection, for the service graph).
    pub fn record(&self, span: &SpanRecord, info: Option<&ConnInfo>) {
        self.lock().record(span, info, Instant::now());
    }

    /// Every series now. Service-graph halves that waited out their window are reported
    /// first, so a quiet pipeline does not hold them back.
    pub fn snapshot(&self) -> Snapshot {
        let mut store = self.lock();
        store.expire(Instant::now());
        store.snapshot()
    }

    /// Reports every service-graph half still waiting for its other half (shutdown).
    pub fn expire_all(&self) {
        self.lock().expire_all();
    }

    /// `text`, an OpenMetrics exposition ending in `# EOF`, with every series added before
    /// the end marker.
    pub fn append_openmetrics(&self, mut text: String) -> String {
        prometheus::append(&mut text, &self.snapshot());
        text
    }

    pub fn export_request(&self) -> ExportMetricsServiceRequest {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        otlp::export_request(&self.snapshot(), now)
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while recording leaves counts that are still counts.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
