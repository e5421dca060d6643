//! OTLP over HTTP: the prost-encoded request POSTed to `{endpoint}/v1/traces`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::encode::TraceEncoder;
use super::sink::Delivery;
use super::{ExportConfig, ExportError};
use crate::trace::span::SpanRecord;

const PROTOBUF: &str = "application/x-protobuf";

pub(crate) struct HttpSink {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    encoder: TraceEncoder,
}

impl HttpSink {
    pub(crate) fn new(config: &ExportConfig) -> Result<Self, ExportError> {
        let base = config.effective_endpoint();
        let invalid = |reason: String| ExportError::InvalidEndpoint {
            endpoint: base.to_owned(),
            reason,
        };
        let url = reqwest::Url::parse(&traces_url(base)).map_err(|e| invalid(e.to_string()))?;
        if url.scheme() != "http" {
            return Err(invalid(
                "expected http://host:port (TLS is not built in)".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // The collector is named explicitly; proxy variables meant for the watched
            // services must not reroute sonde's own export.
            .no_proxy()
            .build()?;
        Ok(HttpSink {
            client,
            url,
            headers: header_map(&config.headers)?,
            encoder: TraceEncoder::new(),
        })
    }

    /// Posts one batch, encoded by [`TraceEncoder`] (the bytes of
    /// `proto::export_request(batch).encode_to_vec()`, without building the request).
    pub(crate) async fn send(&mut self, batch: &[SpanRecord]) -> Result<Delivery, ExportError> {
        let body = self.encoder.encode(batch);
        let response = post_protobuf(&self.client, &self.url, &self.headers, body).await?;
        // The body is optional to read: a collector that answers 200 with an empty or
        // unexpected body has still accepted the spans.
        let rejected = match response.bytes().await {
            Ok(body) => ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0)),
            Err(_) => 0,
        };
        Ok(Delivery { rejected })
    }
}

/// `{endpoint}/v1/traces`, as the SDKs derive it from `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim_end_matches('/'))
}

/// POSTs one protobuf-encoded OTLP request; any non-2xx status is an error. Shared by the
/// trace and metrics sinks.
pub(crate) async fn post_protobuf(
    client: &reqwest::Client,
    url: &reqwest::Url,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Result<reqwest::Response, ExportError> {
    let response = client
        .post(url.clone())
        .headers(headers.clone())
        .header(CONTENT_TYPE, PROTOBUF)
        .body(body)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        return Err(ExportError::HttpStatus {
            status: status.as_u16(),
        });
    }
    Ok(response)
}

/// Shared with the metrics sink.
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, ExportError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let invalid = || ExportError::InvalidHeader { name: name.clone() };
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        map.insert(header, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExporterKind;

    fn config(endpoint: &str) -> ExportConfig {
        ExportConfig {
            kind: ExporterKind::OtlpHttp,
            endpoint: endpoint.into(),
            headers: vec![("X-Tenant".into(), "acme".into())],
            ..ExportConfig::default()
        }
    }

    #[test]
    fn traces_path_is_appended_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/otlp/"),
            "http://c:4318/otlp/v1/traces"
        );
    }

    #[test]
    fn sink_uses_the_default_endpoint_and_headers() {
        let sink = HttpSink::new(&config("")).expect("valid");
        assert_eq!(sink.url.as_str(), "http://localhost:4318/v1/traces");
        assert_eq!(
            sink.headers.get("x-tenant").and_then(|v| v.to_str().ok()),
            Some("acme")
        );
    }

    #[test]
    fn tls_and_garbage_endpoints_are_rejected() {
        for endpoint in ["https://collector:4318", "not a url"] {
            assert!(
                matches!(
                    HttpSink::new(&config(endpoint)),
                    Err(ExportError::InvalidEndpoint { .. })
                ),
                "{endpoint}"
            );
        }
    }
}
