//! The OTLP metrics task: every `OTEL_METRIC_EXPORT_INTERVAL` it sends every series
//! (cumulative), and at shutdown it reports the service-graph halves still waiting and sends
//! once more.
//!
//! A failed export is not retried: the next one carries the same cumulative totals, so an
//! outage loses no counts and holds no memory beyond the store itself.

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::oneshot,
    task::JoinHandle,
    time::{Instant, sleep_until, timeout_at},
};

use super::{Metrics, MetricsError};
use crate::{
    export::{ExportConfig, metrics_sink::MetricsSink},
    stats::SelfStats,
};

/// How long `shutdown` waits past its deadline for a send that overran it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

/// The running task; with the console exporter, none (metrics are on /metrics only).
pub struct MetricsExporter {
    task: Option<(oneshot::Sender<Instant>, JoinHandle<()>)>,
}

impl std::fmt::Debug for MetricsExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsExporter")
            .field("running", &self.task.is_some())
            .finish()
    }
}

impl MetricsExporter {
    /// Starts the task on the current tokio runtime (none for the console exporter).
    pub fn start(
        metrics: Metrics,
        config: &ExportConfig,
        interval: Duration,
        stats: Arc<SelfStats>,
    ) -> Result<MetricsExporter, MetricsError> {
        let Some(sink) = MetricsSink::new(config)? else {
            return Ok(MetricsExporter { task: None });
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MetricsError::NoRuntime)?;
        let (stop, stop_rx) = oneshot::channel();
        let worker = Worker {
            sink,
            metrics,
            stats,
            // A zero interval would spin.
            interval: interval.max(Duration::from_millis(10)),
            failures_in_a_row: 0,
        };
        let task = runtime.spawn(worker.run(stop_rx));
        Ok(MetricsExporter {
            task: Some((stop, task)),
        })
    }

    /// Sends the final totals, giving up at `deadline` from now.
    pub async fn shutdown(self, deadline: Duration) {
        let Some((stop, mut task)) = self.task else {
            return;
        };
        let until = Instant::now() + deadline;
        // An Err means the task has already ended; awaiting it returns at once.
        let _ = stop.send(until);
        if timeout_at(until + SHUTDOWN_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

struct Worker {
    sink: MetricsSink,
    metrics: Metrics,
    stats: Arc<SelfStats>,
    interval: Duration,
    failures_in_a_row: u64,
}

impl Worker {
    async fn run(mut self, mut stop: oneshot::Receiver<Instant>) {
        let mut next = Instant::now() + self.interval;
        let deadline = loop {
            tokio::select! {
                // A dropped sender means: stop now.
                until = &mut stop => break until.unwrap_or_else(|_| Instant::now()),
                () = sleep_until(next) => {}
            }
            next = Instant::now() + self.interval;
            self.export(None).await;
        };
        self.metrics.expire_all();
        self.export(Some(deadline)).await;
    }

    async fn export(&mut self, deadline: Option<Instant>) {
        let request = self.metrics.export_request();
        if request.resource_metrics.is_empty() {
            return;
        }
        let result = match deadline {
            None => self.sink.send(request).await,
            Some(deadline) => match timeout_at(deadline, self.sink.send(request)).await {
                Ok(result) => result,
                Err(_elapsed) => {
                    SelfStats::add(&self.stats.export_failures, 1);
                    tracing::warn!("final metric export did not finish before the deadline");
                    return;
                }
            },
        };
        match result {
            Ok(rejected) => {
                if rejected > 0 {
                    tracing::debug!(rejected, "the collector rejected metric data points");
                }
                if self.failures_in_a_row > 0 {
                    tracing::info!(
                        failed_attempts = self.failures_in_a_row,
                        "metric export resumed"
                    );
                    self.failures_in_a_row = 0;
                }
            }
            Err(error) => {
                SelfStats::add(&self.stats.export_failures, 1);
                if self.failures_in_a_row == 0 {
                    tracing::warn!(%error, "metric export failed; the next one sends the same totals");
                }
                self.failures_in_a_row += 1;
            }
        }
    }
}
