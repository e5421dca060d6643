//! Where a metrics request goes: the tonic `MetricsServiceClient` (OTLP/gRPC) or a
//! prost-encoded POST to `{endpoint}/v1/metrics` (OTLP http/protobuf), with the same endpoint,
//! headers and timeout as the spans. The console exporter sends no metrics (/metrics only).

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    metrics_service_client::MetricsServiceClient,
};
use prost::Message;
use reqwest::header::HeaderMap;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};

use super::{ExportConfig, ExportError, ExporterKind};

pub(crate) enum MetricsSink {
    // Boxed: the tonic endpoint is large.
    Grpc(Box<GrpcMetrics>),
    Http(HttpMetrics),
}

pub(crate) struct GrpcMetrics {
    endpoint: Endpoint,
    metadata: MetadataMap,
    /// Dropped after a connection failure so that the next export dials afresh.
    client: Option<MetricsServiceClient<Channel>>,
}

pub(crate) struct HttpMetrics {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
}

impl MetricsSink {
    /// None for the console exporter. Fails on an endpoint or header that can never work.
    pub(crate) fn new(config: &ExportConfig) -> Result<Option<MetricsSink>, ExportError> {
        let base = config.effective_endpoint().to_owned();
        let invalid = |reason: String| ExportError::InvalidEndpoint {
            endpoint: base.clone(),
            reason,
        };
        let tls = || invalid("expected http://host:port (TLS is not built in)".into());
        Ok(match config.kind {
            ExporterKind::Console => None,
            ExporterKind::OtlpGrpc => {
                if !base.starts_with("http://") {
                    return Err(tls());
                }
                let endpoint = Endpoint::from_shared(base.clone())
                    .map_err(|e| invalid(e.to_string()))?
                    .connect_timeout(config.timeout)
                    .timeout(config.timeout)
                    .tcp_nodelay(true);
                Some(MetricsSink::Grpc(Box::new(GrpcMetrics {
                    endpoint,
                    metadata: super::grpc::metadata(&config.headers)?,
                    client: None,
                })))
            }
            ExporterKind::OtlpHttp => {
                let url =
                    reqwest::Url::parse(&metrics_url(&base)).map_err(|e| invalid(e.to_string()))?;
                if url.scheme() != "http" {
                    return Err(tls());
                }
                let client = reqwest::Client::builder()
                    .timeout(config.timeout)
                    .connect_timeout(config.timeout)
                    // As for spans: proxy variables are meant for the watched services.
                    .no_proxy()
                    .build()?;
                Some(MetricsSink::Http(HttpMetrics {
                    client,
                    url,
                    headers: super::http::header_map(&config.headers)?,
                }))
            }
        })
    }

    /// Sends one request; returns the data points the backend rejected (partial success).
    pub(crate) async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> Result<u64, ExportError> {
        match self {
            MetricsSink::Grpc(grpc) => grpc.send(request).await,
            MetricsSink::Http(http) => http.send(request).await,
        }
    }
}

fn rejected(response: ExportMetricsServiceResponse) -> u64 {
    response
        .partial_success
        .map_or(0, |p| u64::try_from(p.rejected_data_points).unwrap_or(0))
}

impl GrpcMetrics {
    async fn send(&mut self, request: ExportMetricsServiceRequest) -> Result<u64, ExportError> {
        let endpoint = &self.endpoint;
        let client = self
            .client
            .get_or_insert_with(|| MetricsServiceClient::new(endpoint.connect_lazy()));
        let mut request = tonic::Request::new(request);
        *request.metadata_mut() = self.metadata.clone();
        match client.export(request).await {
            Ok(response) => Ok(rejected(response.into_inner())),
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

impl HttpMetrics {
    async fn send(&mut self, request: ExportMetricsServiceRequest) -> Result<u64, ExportError> {
        let response = super::http::post_protobuf(
            &self.client,
            &self.url,
            &self.headers,
            request.encode_to_vec(),
        )
        .await?;
        // An empty or odd body from a 2xx answer still means accepted.
        Ok(match response.bytes().await {
            Ok(body) => ExportMetricsServiceResponse::decode(body).map_or(0, rejected),
            Err(_) => 0,
        })
    }
}

/// `{endpoint}/v1/metrics`, as the SDKs derive it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn metrics_url(base: &str) -> String {
    format!("{}/v1/metrics", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: ExporterKind, endpoint: &str) -> ExportConfig {
        ExportConfig {
            kind,
            endpoint: endpoint.into(),
            headers: vec![("X-Tenant".into(), "acme".into())],
            ..ExportConfig::default()
        }
    }

    #[test]
    fn metrics_path_is_appended_once() {
        assert_eq!(
            metrics_url("http://127.0.0.1:4318/"),
            "http://127.0.0.1:4318/v1/metrics"
        );
    }

    #[tokio::test]
    async fn sinks_follow_the_exporter_kind() {
        assert!(
            MetricsSink::new(&config(ExporterKind::Console, ""))
                .unwrap()
                .is_none()
        );
        let Some(MetricsSink::Http(http)) =
            MetricsSink::new(&config(ExporterKind::OtlpHttp, "")).unwrap()
        else {
            panic!("expected http")
        };
        assert_eq!(http.url.as_str(), "http://localhost:4318/v1/metrics");
        assert!(http.headers.contains_key("x-tenant"));
        let Some(MetricsSink::Grpc(grpc)) =
            MetricsSink::new(&config(ExporterKind::OtlpGrpc, "http://127.0.0.1:4317")).unwrap()
        else {
            panic!("expected grpc")
        };
        assert!(grpc.metadata.get("x-tenant").is_some());
    }

    #[test]
    fn tls_endpoints_are_rejected() {
        for kind in [ExporterKind::OtlpGrpc, ExporterKind::OtlpHttp] {
            assert!(matches!(
                MetricsSink::new(&config(kind, "https://collector:4318")),
                Err(ExportError::InvalidEndpoint { .. })
            ));
        }
    }
}
