//! OTLP over gRPC, through the tonic client generated from the official proto definitions.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::client::Grpc;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::encode::TraceEncoder;
use super::sink::Delivery;
use super::{ExportConfig, ExportError};
use crate::trace::span::SpanRecord;

/// The method the generated `TraceServiceClient::export` calls.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

pub(crate) struct GrpcSink {
    endpoint: Endpoint,
    metadata: MetadataMap,
    /// Built on first use; dropped after a connection failure so that the next attempt dials
    /// afresh (the collector may have come back at the same address).
    client: Option<Grpc<Channel>>,
    encoder: TraceEncoder,
}

impl GrpcSink {
    pub(crate) fn new(config: &ExportConfig) -> Result<Self, ExportError> {
        let url = config.effective_endpoint().to_owned();
        let invalid = |reason: String| ExportError::InvalidEndpoint {
            endpoint: url.clone(),
            reason,
        };
        if !url.starts_with("http://") {
            return Err(invalid(
                "expected http://host:port (TLS is not built in)".into(),
            ));
        }
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| invalid(e.to_string()))?
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .tcp_nodelay(true);
        Ok(GrpcSink {
            endpoint,
            metadata: metadata(&config.headers)?,
            client: None,
            encoder: TraceEncoder::new(),
        })
    }

    /// Sends one batch, encoded by [`TraceEncoder`] (the bytes the generated client's prost
    /// codec would write for `proto::export_request(batch)`), as the generated
    /// `TraceServiceClient::export` sends it.
    pub(crate) async fn send(&mut self, batch: &[SpanRecord]) -> Result<Delivery, ExportError> {
        let body = self.encoder.encode(batch);
        let endpoint = &self.endpoint;
        let client = self
            .client
            .get_or_insert_with(|| Grpc::new(endpoint.connect_lazy()));
        let result = export(client, body, self.metadata.clone()).await;
        match result {
            Ok(response) => Ok(Delivery {
                rejected: response
                    .into_inner()
                    .partial_success
                    .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0)),
            }),
            Err(status) => {
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown
                ) {
                    self.client = None;
                }
                Err(ExportError::Grpc(Box::new(status)))
            }
        }
    }
}

/// One unary `Export` call with an already encoded request.
async fn export(
    client: &mut Grpc<Channel>,
    body: Vec<u8>,
    metadata: MetadataMap,
) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
    client
        .ready()
        .await
        .map_err(|e| tonic::Status::unknown(format!("Service was not ready: {e}")))?;
    let mut request = tonic::Request::new(body);
    *request.metadata_mut() = metadata;
    request.extensions_mut().insert(tonic::GrpcMethod::new(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        "Export",
    ));
    client
        .unary(
            request,
            tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH),
            PreEncoded,
        )
        .await
}

/// A tonic codec whose requests are protobuf bytes already (from [`TraceEncoder`]) and whose
/// responses are decoded by prost, as the generated client's codec decodes them.
#[derive(Clone, Copy, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Vec<u8>;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut DecodeBuf<'_>,
    ) -> Result<Option<ExportTraceServiceResponse>, tonic::Status> {
        // INTERNAL for a response that does not parse, as tonic's prost codec maps it.
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// Shared with the metrics sink.
pub(crate) fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, ExportError> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let invalid = || ExportError::InvalidHeader { name: name.clone() };
        let key =
            MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| invalid())?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|_| invalid())?;
        map.insert(key, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExporterKind;

    fn config(endpoint: &str, headers: &[(&str, &str)]) -> ExportConfig {
        ExportConfig {
            kind: ExporterKind::OtlpGrpc,
            endpoint: endpoint.into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ExportConfig::default()
        }
    }

    #[tokio::test]
    async fn headers_become_lowercase_metadata() {
        let sink = GrpcSink::new(&config("http://127.0.0.1:4317", &[("X-Tenant", "acme")]))
            .expect("valid");
        assert_eq!(
            sink.metadata.get("x-tenant").and_then(|v| v.to_str().ok()),
            Some("acme")
        );
    }

    #[test]
    fn bad_endpoint_or_header_is_an_error() {
        assert!(matches!(
            GrpcSink::new(&config("https://collector:4317", &[])),
            Err(ExportError::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            GrpcSink::new(&config("http://127.0.0.1:4317", &[("bad header", "x")])),
            Err(ExportError::InvalidHeader { .. })
        ));
        assert!(matches!(
            GrpcSink::new(&config("http://127.0.0.1:4317", &[("k", "line\nbreak")])),
            Err(ExportError::InvalidHeader { .. })
        ));
    }
}
