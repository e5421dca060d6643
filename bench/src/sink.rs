//! A counting OTLP/gRPC receiver: the official trace and metrics services, counting spans by
//! kind and throwing them away, on its own thread with a single-threaded tokio runtime. sonde
//! and the Python SDK export to it in every run.

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
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
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tokio::sync::oneshot;

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

#[derive(Clone)]
struct Collector(Arc<Counters>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let c = &self.0;
        let (mut spans, mut server, mut client) = (0, 0, 0);
        for rs in &request.get_ref().resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    spans += 1;
                    if span.kind == SpanKind::Server as i32 {
                        server += 1;
                    } else if span.kind == SpanKind::Client as i32 {
                        client += 1;
                    }
                }
            }
        }
        c.spans.fetch_add(spans, Ordering::Relaxed);
        c.server.fetch_add(server, Ordering::Relaxed);
        c.client.fetch_add(client, Ordering::Relaxed);
        c.trace_requests.fetch_add(1, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        _request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.metric_requests.fetch_add(1, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

pub struct Sink {
    port: u16,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    /// Starts the receiver on a free loopback port.
    pub fn start() -> anyhow::Result<Sink> {
        let listener = StdListener::bind(("127.0.0.1", 0)).context("binding the OTLP sink")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let collector = Collector(counters.clone());
        let thread = std::thread::Builder::new()
            .name("otlp-sink".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                    let served = tonic::transport::Server::builder()
                        .add_service(TraceServiceServer::new(collector.clone()))
                        .add_service(MetricsServiceServer::new(collector))
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
            thread: Some(thread),
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Not joined: a client that keeps its connection open would hold the graceful
        // shutdown, and the process is ending anyway.
        drop(self.thread.take());
    }
}
