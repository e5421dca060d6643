//! The bounded hand-off between the pipeline thread (plain, synchronous code) and the export
//! task. A full queue drops the new span instead of blocking the pipeline, as the OpenTelemetry
//! SDKs' batch processors do: the pipeline must keep up with the kernel, and the spans already
//! queued are older, so they are the ones a user is waiting for.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::stats::SelfStats;
use crate::trace::span::SpanRecord;

/// The producer's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct SpanQueue {
    buffer: Arc<SpanBuffer>,
}

impl SpanQueue {
    pub(crate) fn new(buffer: Arc<SpanBuffer>) -> Self {
        SpanQueue { buffer }
    }

    /// Queues a finished span for export. When the queue is full, or the exporter has shut
    /// down, the span is dropped and counted in `spans_dropped`.
    pub fn push(&self, span: SpanRecord) {
        self.buffer.push(span);
    }
}

impl std::fmt::Debug for SpanQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanQueue")
            .field("max_queue", &self.buffer.max_queue)
            .finish_non_exhaustive()
    }
}

/// The spans waiting for export, plus the size of the batch being sent (or retried), so that
/// the `export_queue_len` gauge shows everything held in memory.
pub(crate) struct SpanBuffer {
    state: Mutex<State>,
    /// Wakes the export task when a full batch is waiting.
    batch_ready: Notify,
    max_queue: usize,
    max_batch: usize,
    stats: Arc<SelfStats>,
}

struct State {
    spans: VecDeque<SpanRecord>,
    in_flight: usize,
    closed: bool,
}

impl SpanBuffer {
    pub(crate) fn new(max_queue: usize, max_batch: usize, stats: Arc<SelfStats>) -> Self {
        let max_queue = max_queue.max(1);
        SpanBuffer {
            state: Mutex::new(State {
                spans: VecDeque::new(),
                in_flight: 0,
                closed: false,
            }),
            batch_ready: Notify::new(),
            max_queue,
            max_batch: max_batch.clamp(1, max_queue),
            stats,
        }
    }

    pub(crate) fn max_batch(&self) -> usize {
        self.max_batch
    }

    pub(crate) fn batch_ready(&self) -> &Notify {
        &self.batch_ready
    }

    fn push(&self, span: SpanRecord) {
        let mut state = self.lock();
        if state.closed || state.spans.len() >= self.max_queue {
            drop(state);
            SelfStats::add(&self.stats.spans_dropped, 1);
            return;
        }
        state.spans.push_back(span);
        let queued = state.spans.len();
        self.publish_len(&state);
        drop(state);
        // Only when a batch fills up: the task checks the length before it waits, and a
        // notification sent before it waits is kept for it, so waking it on every push past a
        // full batch (a futex wake each while it is busy sending) would only cost CPU here.
        if queued == self.max_batch {
            self.batch_ready.notify_one();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().spans.len()
    }

    /// Takes up to one batch off the front; it stays counted in the gauge until
    /// [`SpanBuffer::finish_batch`].
    pub(crate) fn take_batch(&self) -> Vec<SpanRecord> {
        let mut state = self.lock();
        let n = state.spans.len().min(self.max_batch);
        let batch: Vec<SpanRecord> = state.spans.drain(..n).collect();
        state.in_flight = batch.len();
        self.publish_len(&state);
        batch
    }

    /// The batch taken last was delivered or given up.
    pub(crate) fn finish_batch(&self) {
        let mut state = self.lock();
        state.in_flight = 0;
        self.publish_len(&state);
    }

    /// From now on pushes are dropped (and counted): the exporter is shutting down.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
    }

    /// Drops everything still held, queued or in flight (a batch whose sender was cut
    /// off), counting it; returns how many.
    pub(crate) fn discard_all(&self) -> usize {
        let mut state = self.lock();
        let n = state.spans.len() + state.in_flight;
        state.spans.clear();
        state.in_flight = 0;
        self.publish_len(&state);
        drop(state);
        SelfStats::add(&self.stats.spans_dropped, n as u64);
        n
    }

    fn publish_len(&self, state: &State) {
        let held = (state.spans.len() + state.in_flight) as u64;
        self.stats.export_queue_len.store(held, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a consistent VecDeque behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::span::{Resource, SpanKind, SpanStatus};

    fn span(n: u8) -> SpanRecord {
        SpanRecord {
            trace_id: [n; 16],
            span_id: [n; 8],
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
    fn full_queue_drops_newest_and_counts() {
        let stats = Arc::new(SelfStats::default());
        let buffer = Arc::new(SpanBuffer::new(3, 2, stats.clone()));
        let queue = SpanQueue::new(buffer.clone());
        for n in 0..5 {
            queue.push(span(n));
        }
        assert_eq!(buffer.len(), 3);
        assert_eq!(SelfStats::get(&stats.spans_dropped), 2);
        assert_eq!(SelfStats::get(&stats.export_queue_len), 3);
        let batch = buffer.take_batch();
        assert_eq!(
            batch.iter().map(|s| s.span_id[0]).collect::<Vec<_>>(),
            [0, 1]
        );
        // The batch in flight still counts as held memory.
        assert_eq!(SelfStats::get(&stats.export_queue_len), 3);
        buffer.finish_batch();
        assert_eq!(SelfStats::get(&stats.export_queue_len), 1);
    }

    #[test]
    fn closed_queue_drops_everything() {
        let stats = Arc::new(SelfStats::default());
        let buffer = Arc::new(SpanBuffer::new(8, 4, stats.clone()));
        let queue = SpanQueue::new(buffer.clone());
        queue.push(span(1));
        buffer.close();
        queue.push(span(2));
        assert_eq!(buffer.len(), 1);
        assert_eq!(buffer.discard_all(), 1);
        assert_eq!(SelfStats::get(&stats.spans_dropped), 2);
        assert_eq!(SelfStats::get(&stats.export_queue_len), 0);
    }

    #[test]
    fn batch_is_clamped_to_queue() {
        let buffer = SpanBuffer::new(4, 100, Arc::new(SelfStats::default()));
        assert_eq!(buffer.max_batch(), 4);
    }
}
