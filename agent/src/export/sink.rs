//! Where a batch goes: one of the three exporters behind one `send`.

use super::grpc::GrpcSink;
use super::http::HttpSink;
use super::{ExportConfig, ExportError, ExporterKind, console};
use crate::trace::span::SpanRecord;

/// What the backend made of a delivered batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Spans the backend reported as rejected (OTLP partial success).
    pub rejected: u64,
}

pub(crate) enum Sink {
    Console,
    // Boxed: the tonic endpoint and the encoders' scratch state are large, and there is one
    // sink per exporter anyway.
    Grpc(Box<GrpcSink>),
    Http(Box<HttpSink>),
}

impl Sink {
    pub(crate) fn new(config: &ExportConfig) -> Result<Sink, ExportError> {
        Ok(match config.kind {
            ExporterKind::Console => Sink::Console,
            ExporterKind::OtlpGrpc => Sink::Grpc(Box::new(GrpcSink::new(config)?)),
            ExporterKind::OtlpHttp => Sink::Http(Box::new(HttpSink::new(config)?)),
        })
    }

    /// Sends one batch. The request is encoded anew on each attempt, which is cheap next to the
    /// backoff between attempts and keeps only the SpanRecords in memory while retrying.
    pub(crate) async fn send(&mut self, batch: &[SpanRecord]) -> Result<Delivery, ExportError> {
        match self {
            Sink::Console => {
                console::print(batch)?;
                Ok(Delivery::default())
            }
            Sink::Grpc(grpc) => grpc.send(batch).await,
            Sink::Http(http) => http.send(batch).await,
        }
    }
}
