//! OTLP over gRPC, through the tonic client generated from the official proto definitions.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::sink::Delivery;
use super::{ExportConfig, ExportError};

pub(crate) struct GrpcSink {
    endpoint: Endpoint,
    metadata: MetadataMap,
    /// Built on first use; dropped after a connection failure so that the next attempt dials
    /// afresh (the collector may have come back at the same address).
    client: Option<TraceServiceClient<Channel>>,
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
        })
    }

    pub(crate) async fn send(
        &mut self,
        request: ExportTraceServiceRequest,
    ) -> Result<Delivery, ExportError> {
        let endpoint = &self.endpoint;
        let client = self
            .client
            .get_or_insert_with(|| TraceServiceClient::new(endpoint.connect_lazy()));
        let mut request = tonic::Request::new(request);
        *request.metadata_mut() = self.metadata.clone();
        match client.export(request).await {
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
