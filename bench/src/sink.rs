//! A counting OTLP/gRPC receiver: the trace and metrics services' `Export` methods, on their
//! own thread with a single-threaded tokio runtime. sonde and the Python SDK export to it.
//!
//! It decodes only what it counts: messages that mirror the OTLP request down to each
//! span's `kind`, so prost skips every other field without allocating. A receiver that
//! decoded whole spans could be slower than the exporter it measures and show its own
//! backlog as the exporter's loss.

use std::convert::Infallible;
use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use anyhow::Context as _;
use tokio::sync::oneshot;
use tonic::codegen::{BoxFuture, Service, http};

/// `ExportTraceServiceRequest` down to the span kind (field numbers from the OTLP protos).
#[derive(Clone, PartialEq, prost::Message)]
struct TraceRequest {
    #[prost(message, repeated, tag = "1")]
    resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResourceSpans {
    #[prost(message, repeated, tag = "2")]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    spans: Vec<SpanKindOnly>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SpanKindOnly {
    #[prost(int32, tag = "6")]
    kind: i32,
}

/// Any request or response whose content is not looked at (and an empty response).
#[derive(Clone, PartialEq, prost::Message)]
struct Ignored {}

/// The receiver thread's name (its CPU is reported in the CPU budgets).
pub const THREAD: &str = "otlp-sink";

/// The proto `SpanKind` values counted apart.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

#[derive(Default)]
struct Counters {
    spans: AtomicU64,
    server: AtomicU64,
    client: AtomicU64,
    trace_requests: AtomicU64,
    metric_requests: AtomicU64,
}

/// Counts received so far; subtract two snapshots for one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub spans: u64,
    pub server: u64,
    pub client: u64,
    pub trace_requests: u64,
    pub metric_requests: u64,
}

impl std::ops::Sub for Received {
    type Output = Received;
    fn sub(self, o: Received) -> Received {
        Received {
            spans: self.spans - o.spans,
            server: self.server - o.server,
            client: self.client - o.client,
            trace_requests: self.trace_requests - o.trace_requests,
            metric_requests: self.metric_requests - o.metric_requests,
        }
    }
}

impl Counters {
    fn traces(&self, request: &TraceRequest) {
        let (mut spans, mut server, mut client) = (0, 0, 0);
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            spans += 1;
            server += u64::from(span.kind == SERVER);
            client += u64::from(span.kind == CLIENT);
        }
        self.spans.fetch_add(spans, Ordering::Relaxed);
        self.server.fetch_add(server, Ordering::Relaxed);
        self.client.fetch_add(client, Ordering::Relaxed);
        self.trace_requests.fetch_add(1, Ordering::Relaxed);
    }
}

const TRACES: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// The unary method behind each path.
struct Traces(Arc<Counters>);
struct Metrics(Arc<Counters>);

impl tonic::server::UnaryService<TraceRequest> for Traces {
    type Response = Ignored;
    type Future = BoxFuture<tonic::Response<Ignored>, tonic::Status>;
    fn call(&mut self, request: tonic::Request<TraceRequest>) -> Self::Future {
        self.0.traces(request.get_ref());
        Box::pin(async { Ok(tonic::Response::new(Ignored {})) })
    }
}

impl tonic::server::UnaryService<Ignored> for Metrics {
    type Response = Ignored;
    type Future = BoxFuture<tonic::Response<Ignored>, tonic::Status>;
    fn call(&mut self, _request: tonic::Request<Ignored>) -> Self::Future {
        self.0.metric_requests.fetch_add(1, Ordering::Relaxed);
        Box::pin(async { Ok(tonic::Response::new(Ignored {})) })
    }
}

/// Routes one request to the counting method of its path.
fn dispatch<B>(
    counters: Arc<Counters>,
    req: http::Request<B>,
) -> BoxFuture<http::Response<tonic::body::Body>, Infallible>
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    match req.uri().path() {
        TRACES => Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Traces(counters), req).await)
        }),
        METRICS => Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(Metrics(counters), req).await)
        }),
        _ => Box::pin(
            async move { Ok(tonic::Status::unimplemented("not an OTLP export").into_http()) },
        ),
    }
}

/// The two collector services (what the generated servers are, with the counting messages
/// above in place of the full ones). The router sends `/{NAME}/...` to each.
macro_rules! collector {
    ($name:ident, $service:literal) => {
        #[derive(Clone)]
        struct $name(Arc<Counters>);

        impl<B> Service<http::Request<B>> for $name
        where
            B: tonic::codegen::Body + Send + 'static,
            B::Error: Into<tonic::codegen::StdError> + Send + 'static,
        {
            type Response = http::Response<tonic::body::Body>;
            type Error = Infallible;
            type Future = BoxFuture<Self::Response, Self::Error>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<B>) -> Self::Future {
                dispatch(self.0.clone(), req)
            }
        }

        impl tonic::server::NamedService for $name {
            const NAME: &'static str = $service;
        }
    };
}

collector!(
    TraceCollector,
    "opentelemetry.proto.collector.trace.v1.TraceService"
);
collector!(
    MetricsCollector,
    "opentelemetry.proto.collector.metrics.v1.MetricsService"
);

pub struct Sink {
    port: u16,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
}

impl Sink {
    /// Starts the receiver on a free loopback port.
    pub fn start() -> anyhow::Result<Sink> {
        let listener = StdListener::bind(("127.0.0.1", 0)).context("binding the OTLP sink")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let (traces, metrics) = (
            TraceCollector(counters.clone()),
            MetricsCollector(counters.clone()),
        );
        std::thread::Builder::new()
            .name(THREAD.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let served = tonic::transport::Server::builder()
                        .add_service(traces)
                        .add_service(metrics)
                        .serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(listener),
                            async {
                                let _ = stopped.await;
                            },
                        )
                        .await;
                    if let Err(e) = served {
                        eprintln!("OTLP sink stopped: {e}");
                    }
                });
            })?;
        Ok(Sink {
            port,
            counters,
            stop: Some(stop),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Received {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Received {
            spans: get(&c.spans),
            server: get(&c.server),
            client: get(&c.client),
            trace_requests: get(&c.trace_requests),
            metric_requests: get(&c.metric_requests),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // The thread is not joined: a client that keeps its connection open would hold the
        // graceful shutdown, and the process is ending anyway.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn counts_kinds_and_skips_the_rest() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans as R, ScopeSpans as S, Span};
        let span = |kind| Span {
            name: "GET /x".into(),
            kind,
            trace_id: vec![1; 16],
            ..Default::default()
        };
        let full = ExportTraceServiceRequest {
            resource_spans: vec![R {
                scope_spans: vec![S {
                    spans: vec![span(2), span(3), span(3), span(1)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let decoded = TraceRequest::decode(full.encode_to_vec().as_slice()).unwrap();
        let counters = Counters::default();
        counters.traces(&decoded);
        assert_eq!(counters.spans.load(Ordering::Relaxed), 4);
        assert_eq!(counters.server.load(Ordering::Relaxed), 1);
        assert_eq!(counters.client.load(Ordering::Relaxed), 2);
    }
}
