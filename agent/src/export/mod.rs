//! The export stage: a bounded queue of finished spans, batched and sent over OTLP (gRPC or
//! http/protobuf) or printed to the console.
//!
//! Why not opentelemetry-otlp's `SpanExporter`: every span carries the resource of the process
//! that made the call (one service per watched process), while the SDK exporter has one
//! resource per exporter. So sonde makes the OTLP `ExportTraceServiceRequest` itself, one
//! `ResourceSpans` per distinct resource: [`encode::TraceEncoder`] writes its protobuf bytes
//! straight from the batch (the bytes prost would write for [`proto::export_request`], which
//! builds the same request as structs and is kept as the reference the encoder is tested
//! against). The bytes go out on the `TraceService/Export` gRPC method through tonic
//! (`grpc.rs`) or as a POST to `{endpoint}/v1/traces` with `Content-Type:
//! application/x-protobuf` (`http.rs`).
//!
//! Files: `queue.rs` the bounded hand-off from the pipeline thread, `batcher.rs` the export
//! task (batching, retry with backoff, shutdown flush), `sink.rs` the choice of exporter,
//! `encode.rs` the protobuf encoding, `console.rs` the readable tree, `env.rs` the `OTEL_*`
//! variables.

mod batcher;
pub mod console;
pub mod encode;
mod env;
mod grpc;
mod http;
pub(crate) mod metrics_sink;
pub mod proto;
mod queue;
mod sink;

use std::time::Duration;

pub use batcher::Exporter;
pub use env::{endpoint_port, parse_headers};
pub use queue::SpanQueue;

/// Where finished spans go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExporterKind {
    /// A readable tree per trace on stdout; the default when no endpoint is set.
    Console,
    /// OTLP over gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc`).
    OtlpGrpc,
    /// OTLP over HTTP with protobuf bodies (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`).
    OtlpHttp,
}

impl ExporterKind {
    /// The endpoint the OpenTelemetry SDKs use when none is configured.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            ExporterKind::Console => "",
            ExporterKind::OtlpGrpc => "http://localhost:4317",
            ExporterKind::OtlpHttp => "http://localhost:4318",
        }
    }
}

/// The export settings, resolved from flags, the config file and `OTEL_*` variables.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportConfig {
    pub kind: ExporterKind,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` as given, e.g. `http://127.0.0.1:4317`. Empty means the
    /// kind's default. For http/protobuf, `/v1/traces` is appended.
    pub endpoint: String,
    /// `OTEL_EXPORTER_OTLP_HEADERS`, parsed by [`parse_headers`].
    pub headers: Vec<(String, String)>,
    /// `OTEL_BSP_SCHEDULE_DELAY`: the longest a span waits before its batch goes out.
    pub schedule_delay: Duration,
    /// `OTEL_BSP_MAX_QUEUE_SIZE`: spans held while waiting or while the collector is down.
    pub max_queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans per export request.
    pub max_batch: usize,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`: the limit for one export request.
    pub timeout: Duration,
}

pub const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_QUEUE: usize = 2048;
pub const DEFAULT_MAX_BATCH: usize = 512;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for ExportConfig {
    /// The console exporter with the OpenTelemetry specification's batching defaults.
    fn default() -> Self {
        ExportConfig {
            kind: ExporterKind::Console,
            endpoint: String::new(),
            headers: Vec::new(),
            schedule_delay: DEFAULT_SCHEDULE_DELAY,
            max_queue: DEFAULT_MAX_QUEUE,
            max_batch: DEFAULT_MAX_BATCH,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl ExportConfig {
    /// The endpoint to connect to: the configured one, else the kind's default.
    pub fn effective_endpoint(&self) -> &str {
        let given = self.endpoint.trim();
        if given.is_empty() {
            self.kind.default_endpoint()
        } else {
            given
        }
    }

    /// The TCP port the exporter connects to, if it connects at all (not for the console).
    pub fn export_port(&self) -> Option<u16> {
        match self.kind {
            ExporterKind::Console => None,
            ExporterKind::OtlpGrpc | ExporterKind::OtlpHttp => {
                endpoint_port(self.effective_endpoint())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the exporter must be started from within a tokio runtime")]
    NoRuntime,
    #[error("invalid OTLP endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("invalid OTLP header {name:?} (from OTEL_EXPORTER_OTLP_HEADERS)")]
    InvalidHeader { name: String },
    #[error("invalid value {value:?} for {var}: {reason}")]
    InvalidSetting {
        var: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("OTLP/gRPC export failed: {0}")]
    Grpc(Box<tonic::Status>),
    #[error("OTLP/HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("OTLP/HTTP export answered with status {status}")]
    HttpStatus { status: u16 },
    #[error("writing spans to the console failed: {0}")]
    Console(#[from] std::io::Error),
}

impl ExportError {
    /// Whether sending the same batch again may succeed (the OTLP specification's list of
    /// retryable responses, plus every connection failure).
    pub fn is_retryable(&self) -> bool {
        use tonic::Code;
        match self {
            ExportError::Grpc(status) => matches!(
                status.code(),
                Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::Aborted
                    | Code::OutOfRange
                    | Code::Unavailable
                    | Code::DataLoss
                    | Code::ResourceExhausted
                    // tonic reports some connection-level failures as Unknown.
                    | Code::Unknown
            ),
            ExportError::Http(_) => true,
            ExportError::HttpStatus { status } => matches!(status, 429 | 502 | 503 | 504),
            ExportError::NoRuntime
            | ExportError::InvalidEndpoint { .. }
            | ExportError::InvalidHeader { .. }
            | ExportError::InvalidSetting { .. }
            | ExportError::Console(_) => false,
        }
    }
}
