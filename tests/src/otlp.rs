//! A real OTLP receiver for tests: the official `TraceService` and `MetricsService` over gRPC
//! (tonic) and `POST /v1/traces` / `POST /v1/metrics` with protobuf bodies (axum), both on
//! loopback, keeping everything received in memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How a span reached the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

/// One received span, flattened out of its ResourceSpans / ScopeSpans.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSpan {
    pub name: String,
    /// The proto `SpanKind` (2 = SERVER, 3 = CLIENT).
    pub kind: i32,
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    /// Empty for a root span.
    pub parent_span_id: Vec<u8>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Values rendered as strings: ints and bools in decimal / `true`, strings as they are.
    pub attributes: BTreeMap<String, String>,
    /// The attributes of the span's resource, rendered the same way.
    pub resource: BTreeMap<String, String>,
    /// The proto status code (0 = UNSET, 2 = ERROR).
    pub status_code: i32,
    pub status_message: String,
    /// The instrumentation scope's name.
    pub scope: String,
    pub via: Transport,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    pub fn resource_attr(&self, key: &str) -> Option<&str> {
        self.resource.get(key).map(String::as_str)
    }

    pub fn service_name(&self) -> Option<&str> {
        self.resource_attr("service.name")
    }

    pub fn is_server(&self) -> bool {
        self.kind == SpanKind::Server as i32
    }

    pub fn is_client(&self) -> bool {
        self.kind == SpanKind::Client as i32
    }

    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_empty()
    }
}

/// Everything received so far, shared by both servers.
#[derive(Default)]
struct Inbox {
    spans: Mutex<Vec<ReceivedSpan>>,
    metrics: Mutex<Vec<ResourceMetrics>>,
}

impl Inbox {
    fn add_traces(&self, request: ExportTraceServiceRequest, via: Transport) {
        let mut flat = Vec::new();
        for resource_spans in request.resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| render_attributes(&r.attributes))
                .unwrap_or_default();
            for scope_spans in resource_spans.scope_spans {
                let scope = scope_spans.scope.map(|s| s.name).unwrap_or_default();
                for span in scope_spans.spans {
                    let status = span.status.unwrap_or_default();
                    flat.push(ReceivedSpan {
                        name: span.name,
                        kind: span.kind,
                        trace_id: span.trace_id,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                        start_ns: span.start_time_unix_nano,
                        end_ns: span.end_time_unix_nano,
                        attributes: render_attributes(&span.attributes),
                        resource: resource.clone(),
                        status_code: status.code,
                        status_message: status.message,
                        scope: scope.clone(),
                        via,
                    });
                }
            }
        }
        lock(&self.spans).extend(flat);
    }

    fn add_metrics(&self, request: ExportMetricsServiceRequest) {
        lock(&self.metrics).extend(request.resource_metrics);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn render_attributes(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = kv.value.as_ref().map(render_value).unwrap_or_default();
            (kv.key.clone(), value)
        })
        .collect()
}

/// An attribute value as a test would write it: `GET`, `200`, `true`, `[a, b]`, `{k=v}`.
pub fn render_value(value: &AnyValue) -> String {
    use any_value::Value;
    match &value.value {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(bytes)) => bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
        Some(Value::ArrayValue(array)) => {
            let items: Vec<String> = array.values.iter().map(render_value).collect();
            format!("[{}]", items.join(", "))
        }
        Some(Value::KvlistValue(list)) => {
            let items: Vec<String> = list
                .values
                .iter()
                .map(|kv| {
                    let v = kv.value.as_ref().map(render_value).unwrap_or_default();
                    format!("{}={v}", kv.key)
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// The gRPC side: the generated service traits, storing into the inbox.
struct GrpcCollector(Arc<Inbox>);

#[tonic::async_trait]
impl TraceService for GrpcCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.add_traces(request.into_inner(), Transport::Grpc);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcCollector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.add_metrics(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

const PROTOBUF: &str = "application/x-protobuf";

/// The HTTP side: protobuf bodies only, as OTLP/HTTP with `http/protobuf` sends them.
fn decode_body<M: Message + Default>(
    headers: &HeaderMap,
    body: Bytes,
) -> Result<M, (StatusCode, String)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with(PROTOBUF) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected {PROTOBUF}, got {content_type:?}"),
        ));
    }
    M::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))
}

fn protobuf_response(message: &impl Message) -> Response {
    ([(header::CONTENT_TYPE, PROTOBUF)], message.encode_to_vec()).into_response()
}

async fn http_traces(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> Response {
    match decode_body::<ExportTraceServiceRequest>(&headers, body) {
        Ok(request) => {
            inbox.add_traces(request, Transport::Http);
            protobuf_response(&ExportTraceServiceResponse::default())
        }
        Err(rejection) => rejection.into_response(),
    }
}

async fn http_metrics(
    State(inbox): State<Arc<Inbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match decode_body::<ExportMetricsServiceRequest>(&headers, body) {
        Ok(request) => {
            inbox.add_metrics(request);
            protobuf_response(&ExportMetricsServiceResponse::default())
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// A running receiver. Dropping it stops both servers.
pub struct OtlpReceiver {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    inbox: Arc<Inbox>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts both servers on free loopback ports.
    pub async fn start() -> anyhow::Result<OtlpReceiver> {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_on(any_port, any_port).await
    }

    /// Starts both servers on the given addresses (port 0 for any), e.g. to bring a collector
    /// back on the port an exporter has been retrying.
    pub async fn start_on(grpc: SocketAddr, http: SocketAddr) -> anyhow::Result<OtlpReceiver> {
        let inbox = Arc::new(Inbox::default());
        let (stop, stopped) = watch::channel(false);

        let grpc_listener = TcpListener::bind(grpc)
            .await
            .with_context(|| format!("bind OTLP/gRPC receiver on {grpc}"))?;
        let grpc_addr = grpc_listener.local_addr()?;
        let grpc_server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(GrpcCollector(inbox.clone())))
            .add_service(MetricsServiceServer::new(GrpcCollector(inbox.clone())))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(grpc_listener),
                wait_for_stop(stopped.clone()),
            );

        let http_listener = TcpListener::bind(http)
            .await
            .with_context(|| format!("bind OTLP/HTTP receiver on {http}"))?;
        let http_addr = http_listener.local_addr()?;
        let router = axum::Router::new()
            .route("/v1/traces", axum::routing::post(http_traces))
            .route("/v1/metrics", axum::routing::post(http_metrics))
            .with_state(inbox.clone());
        let http_server =
            axum::serve(http_listener, router).with_graceful_shutdown(wait_for_stop(stopped));

        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = grpc_server.await {
                    eprintln!("OTLP/gRPC receiver stopped: {e}");
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = http_server.await {
                    eprintln!("OTLP/HTTP receiver stopped: {e}");
                }
            }),
        ];
        Ok(OtlpReceiver {
            grpc_addr,
            http_addr,
            inbox,
            stop,
            tasks,
        })
    }

    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.inbox.spans).clone()
    }

    /// Every ResourceMetrics received so far, in arrival order.
    pub fn metrics(&self) -> Vec<ResourceMetrics> {
        lock(&self.inbox.metrics).clone()
    }

    /// Waits until `pred` holds for the spans received so far, or `timeout` passes; returns
    /// the spans either way (the caller's assertions then say what is missing).
    pub async fn wait_for_spans(
        &self,
        pred: impl Fn(&[ReceivedSpan]) -> bool,
        timeout: Duration,
    ) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if pred(&spans) || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// As [`OtlpReceiver::wait_for_spans`], for metrics.
    pub async fn wait_for_metrics(
        &self,
        pred: impl Fn(&[ResourceMetrics]) -> bool,
        timeout: Duration,
    ) -> Vec<ResourceMetrics> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let metrics = self.metrics();
            if pred(&metrics) || tokio::time::Instant::now() >= deadline {
                return metrics;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops both servers: open connections are told to go away and closed, so an exporter
    /// sees the collector as down from now on.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

const POLL_INTERVAL: Duration = Duration::from_millis(20);

async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    // An Err means the receiver was dropped: stop as well.
    let _ = stopped.wait_for(|stop| *stop).await;
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for OtlpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpReceiver")
            .field("grpc", &self.grpc_addr)
            .field("http", &self.http_addr)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn metrics_request(service: &str) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(service.into())),
                        }),
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
        }
    }

    /// A bare HTTP/1.1 POST; returns the status line.
    async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(body).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        String::from_utf8_lossy(&response)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn metrics_arrive_over_both_transports() -> anyhow::Result<()> {
        let receiver = OtlpReceiver::start().await?;
        let mut client = MetricsServiceClient::connect(receiver.grpc_endpoint()).await?;
        client.export(metrics_request("over-grpc")).await?;
        let status = post(
            receiver.http_addr(),
            "/v1/metrics",
            PROTOBUF,
            &metrics_request("over-http").encode_to_vec(),
        )
        .await;
        assert!(status.contains("200"), "{status}");
        let metrics = receiver
            .wait_for_metrics(|m| m.len() >= 2, Duration::from_secs(5))
            .await;
        let services: Vec<String> = metrics
            .iter()
            .filter_map(|m| m.resource.as_ref())
            .map(|r| render_attributes(&r.attributes)["service.name"].clone())
            .collect();
        assert_eq!(services, ["over-grpc", "over-http"]);
        Ok(())
    }

    #[tokio::test]
    async fn http_rejects_json_and_garbage() -> anyhow::Result<()> {
        let receiver = OtlpReceiver::start().await?;
        let addr = receiver.http_addr();
        let json = post(addr, "/v1/traces", "application/json", b"{}").await;
        assert!(json.contains("415"), "{json}");
        let garbage = post(addr, "/v1/traces", PROTOBUF, b"\xff\xff\xff").await;
        assert!(garbage.contains("400"), "{garbage}");
        assert!(receiver.spans().is_empty());
        Ok(())
    }

    #[test]
    fn values_render_as_a_test_would_write_them() {
        use any_value::Value;
        let v = |value| AnyValue { value: Some(value) };
        assert_eq!(render_value(&v(Value::IntValue(-3))), "-3");
        assert_eq!(render_value(&v(Value::DoubleValue(0.5))), "0.5");
        assert_eq!(render_value(&v(Value::BytesValue(vec![0xab, 1]))), "ab01");
        let array = opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vec![v(Value::StringValue("a".into())), v(Value::BoolValue(true))],
        };
        assert_eq!(render_value(&v(Value::ArrayValue(array))), "[a, true]");
    }
}
