//! The export task: takes batches off the queue when one is full or the schedule delay has
//! passed, sends them, and retries a failed batch with backoff while new spans wait in the
//! bounded queue. At shutdown it flushes what is queued until the deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::queue::{SpanBuffer, SpanQueue};
use super::sink::Sink;
use super::{ExportConfig, ExportError};
use crate::stats::SelfStats;
use crate::trace::span::SpanRecord;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Short enough that export resumes within seconds of the collector coming back.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long `shutdown` waits past its deadline for a send that overran it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);

/// The running export stage. Dropping it without `shutdown` stops the task and drops (and
/// counts) whatever is still queued.
pub struct Exporter {
    stop: oneshot::Sender<Instant>,
    task: JoinHandle<()>,
    buffer: Arc<SpanBuffer>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// Starts the export task on the current tokio runtime. Fails without a runtime, or on an
    /// endpoint or header that can never work.
    pub fn start(
        config: ExportConfig,
        stats: Arc<SelfStats>,
    ) -> Result<(Exporter, SpanQueue), ExportError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ExportError::NoRuntime)?;
        let sink = Sink::new(&config)?;
        let buffer = Arc::new(SpanBuffer::new(
            config.max_queue,
            config.max_batch,
            stats.clone(),
        ));
        let (stop, stop_rx) = oneshot::channel();
        let worker = Worker {
            buffer: buffer.clone(),
            sink,
            stats,
            schedule_delay: config.schedule_delay,
            stop: stop_rx,
            deadline: None,
            failures_in_a_row: 0,
        };
        let task = runtime.spawn(worker.run());
        let queue = SpanQueue::new(buffer.clone());
        Ok((Exporter { stop, task, buffer }, queue))
    }

    /// Exports everything queued (spans pushed from now on are dropped and counted), retrying
    /// failures until `deadline` has passed, then stops. What could not be sent by then is
    /// counted in `spans_dropped`.
    pub async fn shutdown(self, deadline: Duration) {
        let Exporter {
            stop,
            mut task,
            buffer,
        } = self;
        let until = Instant::now() + deadline;
        // An Err means the task has already ended; awaiting it below returns at once.
        let _ = stop.send(until);
        if timeout_at(until + SHUTDOWN_GRACE, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
            buffer.close();
            buffer.discard_all();
        }
    }
}

struct Worker {
    buffer: Arc<SpanBuffer>,
    sink: Sink,
    stats: Arc<SelfStats>,
    schedule_delay: Duration,
    /// Fires once with the shutdown deadline; not polled again after that.
    stop: oneshot::Receiver<Instant>,
    /// Set once shutting down.
    deadline: Option<Instant>,
    failures_in_a_row: u64,
}

impl Worker {
    async fn run(mut self) {
        let mut next_export = Instant::now() + self.schedule_delay;
        while self.deadline.is_none() {
            if self.buffer.len() < self.buffer.max_batch() {
                tokio::select! {
                    stop = &mut self.stop => {
                        self.begin_shutdown(stop);
                        break;
                    }
                    () = self.buffer.batch_ready().notified() => {}
                    () = sleep_until(next_export) => {}
                }
                // A wake-up left over from a batch already taken: keep waiting.
                if self.buffer.len() < self.buffer.max_batch() && Instant::now() < next_export {
                    continue;
                }
            }
            next_export = Instant::now() + self.schedule_delay;
            self.export_one_batch().await;
        }

        self.buffer.close();
        while self.buffer.len() > 0 && !self.past_deadline() {
            self.export_one_batch().await;
        }
        self.buffer.discard_all();
    }

    /// A dropped `Exporter` (sender gone) means: stop now.
    fn begin_shutdown(&mut self, stop: Result<Instant, oneshot::error::RecvError>) {
        self.deadline = Some(stop.unwrap_or_else(|_| Instant::now()));
    }

    fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Sends the batch at the head of the queue until it is delivered, fails for good, or the
    /// shutdown deadline passes. Transient failures are retried without limit: the queue
    /// behind this batch stays bounded, so an outage costs bounded memory, and the oldest
    /// spans go out first when the collector returns.
    async fn export_one_batch(&mut self) {
        let batch = self.buffer.take_batch();
        if !batch.is_empty() {
            self.deliver(&batch).await;
        }
        self.buffer.finish_batch();
    }

    async fn deliver(&mut self, batch: &[SpanRecord]) {
        let spans = batch.len() as u64;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let attempt = match self.deadline {
                None => self.sink.send(batch).await,
                Some(deadline) => match timeout_at(deadline, self.sink.send(batch)).await {
                    Ok(result) => result,
                    Err(_elapsed) => {
                        SelfStats::add(&self.stats.export_failures, 1);
                        SelfStats::add(&self.stats.spans_dropped, spans);
                        return;
                    }
                },
            };
            match attempt {
                Ok(delivery) => {
                    let rejected = delivery.rejected.min(spans);
                    SelfStats::add(&self.stats.spans_exported, spans - rejected);
                    SelfStats::add(&self.stats.spans_dropped, rejected);
                    self.note_success();
                    return;
                }
                Err(error) => {
                    SelfStats::add(&self.stats.export_failures, 1);
                    self.note_failure(&error);
                    if !error.is_retryable() || !self.wait_before_retry(backoff).await {
                        SelfStats::add(&self.stats.spans_dropped, spans);
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Sleeps the backoff (with jitter, so that many agents do not retry in step). A shutdown
    /// request cuts the wait short: the flush retries at once. Returns false when the
    /// shutdown deadline has passed.
    async fn wait_before_retry(&mut self, backoff: Duration) -> bool {
        let wake = Instant::now() + backoff.mul_f64(rand::random_range(0.5..1.0));
        match self.deadline {
            Some(deadline) => {
                sleep_until(wake.min(deadline)).await;
                Instant::now() < deadline
            }
            None => {
                tokio::select! {
                    stop = &mut self.stop => self.begin_shutdown(stop),
                    () = sleep_until(wake) => {}
                }
                !self.past_deadline()
            }
        }
    }

    fn note_failure(&mut self, error: &ExportError) {
        if self.failures_in_a_row == 0 {
            tracing::warn!(%error, retryable = error.is_retryable(), "span export failed");
        } else {
            tracing::debug!(%error, attempt = self.failures_in_a_row + 1, "span export failed again");
        }
        self.failures_in_a_row += 1;
    }

    fn note_success(&mut self) {
        if self.failures_in_a_row > 0 {
            tracing::info!(
                failed_attempts = self.failures_in_a_row,
                "span export resumed"
            );
            self.failures_in_a_row = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExporterKind;
    use crate::trace::span::{Resource, SpanKind, SpanStatus};

    fn span(n: u64) -> SpanRecord {
        SpanRecord {
            trace_id: [1; 16],
            span_id: n.to_be_bytes(),
            parent_span_id: None,
            name: format!("span {n}").into(),
            kind: SpanKind::Server,
            start_unix_ns: 0,
            end_unix_ns: 1,
            attributes: Vec::new(),
            status: SpanStatus::Unset,
            resource: Arc::new(Resource {
                attributes: Vec::new(),
            }),
        }
    }

    #[test]
    fn start_needs_a_runtime() {
        let result = Exporter::start(ExportConfig::default(), Arc::default());
        assert!(matches!(result, Err(ExportError::NoRuntime)));
    }

    #[tokio::test]
    async fn console_exports_on_schedule_and_flushes_on_shutdown() {
        let stats = Arc::new(SelfStats::default());
        let config = ExportConfig {
            kind: ExporterKind::Console,
            schedule_delay: Duration::from_millis(20),
            max_batch: 1000,
            ..ExportConfig::default()
        };
        let (exporter, queue) = Exporter::start(config, stats.clone()).expect("start");
        queue.push(span(1));
        // Below a full batch: the schedule delay sends it.
        let waited = Instant::now();
        while SelfStats::get(&stats.spans_exported) < 1 {
            assert!(waited.elapsed() < Duration::from_secs(5), "not exported");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        queue.push(span(2));
        queue.push(span(3));
        exporter.shutdown(Duration::from_secs(1)).await;
        assert_eq!(SelfStats::get(&stats.spans_exported), 3);
        assert_eq!(SelfStats::get(&stats.export_queue_len), 0);
        // After shutdown pushes are dropped and counted.
        queue.push(span(4));
        assert_eq!(SelfStats::get(&stats.spans_dropped), 1);
    }

    #[tokio::test]
    async fn full_batch_goes_out_before_the_delay() {
        let stats = Arc::new(SelfStats::default());
        let config = ExportConfig {
            kind: ExporterKind::Console,
            schedule_delay: Duration::from_secs(3600),
            max_batch: 4,
            ..ExportConfig::default()
        };
        let (exporter, queue) = Exporter::start(config, stats.clone()).expect("start");
        for n in 0..8 {
            queue.push(span(n));
        }
        let waited = Instant::now();
        while SelfStats::get(&stats.spans_exported) < 8 {
            assert!(waited.elapsed() < Duration::from_secs(5), "not exported");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        exporter.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn unreachable_collector_drops_at_the_deadline() {
        // Bind then free a port so that nothing listens on it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let stats = Arc::new(SelfStats::default());
        let config = ExportConfig {
            kind: ExporterKind::OtlpHttp,
            endpoint: format!("http://127.0.0.1:{port}"),
            schedule_delay: Duration::from_millis(10),
            timeout: Duration::from_millis(500),
            ..ExportConfig::default()
        };
        let (exporter, queue) = Exporter::start(config, stats.clone()).expect("start");
        for n in 0..5 {
            queue.push(span(n));
        }
        let started = Instant::now();
        exporter.shutdown(Duration::from_millis(300)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(SelfStats::get(&stats.spans_exported), 0);
        assert_eq!(SelfStats::get(&stats.spans_dropped), 5);
        assert!(SelfStats::get(&stats.export_failures) >= 1);
        assert_eq!(SelfStats::get(&stats.export_queue_len), 0);
    }
}
