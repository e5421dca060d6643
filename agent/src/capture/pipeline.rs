//! Records in, spans out: decode -> conn -> protocol -> trace -> export queue.
//! Plain Rust with no kernel access, so it runs on recorded streams in tests and benchmarks.

use std::sync::Arc;

use sonde_common::{
    decode::{Event, decode},
    direction,
};

use crate::{
    conn::{ConnTable, Finished},
    discovery::{ExeMatcher, procfs_read},
    export::SpanQueue,
    metrics::Metrics,
    protocol::{Chunk, Direction},
    stats::SelfStats,
    trace::SpanBuilder,
};

pub struct Pipeline {
    table: ConnTable,
    builder: SpanBuilder,
    queue: SpanQueue,
    stats: Arc<SelfStats>,
    exe: ExeMatcher,
    metrics: Metrics,
    finished: Vec<Finished>,
    /// Processes that started and match --exe: the caller adds them to the kernel filter.
    pub newly_matched: Vec<u32>,
}

impl Pipeline {
    pub fn new(
        table: ConnTable,
        builder: SpanBuilder,
        queue: SpanQueue,
        stats: Arc<SelfStats>,
        exe: ExeMatcher,
        metrics: Metrics,
    ) -> Self {
        Self {
            table,
            builder,
            queue,
            stats,
            exe,
            metrics,
            finished: Vec::new(),
            newly_matched: Vec::new(),
        }
    }

    /// Handles one ring-buffer record.
    pub fn handle(&mut self, record: &[u8]) {
        SelfStats::add(&self.stats.events_read, 1);
        let event = match decode(record) {
            Ok(e) => e,
            Err(_) => {
                SelfStats::add(&self.stats.decode_failures, 1);
                return;
            }
        };
        match event {
            Event::Data {
                header,
                len,
                direction: dir,
                data,
                ..
            } => {
                SelfStats::add(&self.stats.data_events_read, 1);
                let chunk = Chunk {
                    direction: if dir == direction::INGRESS {
                        Direction::Ingress
                    } else {
                        Direction::Egress
                    },
                    tid: header.tid,
                    ts_ns: header.ts_ns,
                    len,
                    data,
                };
                self.table
                    .data(header.conn_id, header.pid, &chunk, &mut self.finished);
                if chunk.direction == Direction::Ingress
                    && let Some(req) = self.table.server_in_flight(header.conn_id)
                {
                    self.builder.server_request_started(
                        header.pid,
                        req.tid,
                        header.conn_id,
                        req.start_ns,
                        req.traceparent,
                    );
                }
            }
            Event::ConnOpen(ev) => {
                // Read the process's identity now, while it surely runs: a short-lived
                // client (curl) may have exited by the time its span is built.
                let info = self.table.open(&ev);
                self.builder.registry().remember(ev.header.pid, &info.comm);
            }
            Event::ConnClose(h) => self.table.close(h.conn_id, h.ts_ns, &mut self.finished),
            Event::ProcExec(h) => {
                self.builder.registry().forget(h.pid);
                if !self.exe.is_empty()
                    && let Some(facts) = procfs_read::read(h.pid)
                    && self.exe.matches(&facts)
                {
                    self.newly_matched.push(h.pid);
                }
            }
            Event::ProcExit(h) => {
                self.table.process_exit(h.pid, h.ts_ns, &mut self.finished);
                self.builder.process_exit(h.pid);
            }
        }
        self.flush();
    }

    /// Connections that no span can come of: the caller stops their capture in the kernel.
    pub fn drain_muted(&mut self) -> std::vec::Drain<'_, u64> {
        self.table.drain_muted()
    }

    /// Periodic work: request timeouts.
    pub fn tick(&mut self, now_ns: u64) {
        self.table.expire(now_ns, &mut self.finished);
        self.flush();
        self.stats.connections_tracked.store(
            self.table.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn flush(&mut self) {
        for mut f in self.finished.drain(..) {
            if f.exchange_incomplete() {
                SelfStats::add(&self.stats.exchanges_incomplete, 1);
            }
            if let Some(span) = self.builder.build(&mut f) {
                self.metrics.record(&span, f.info.as_deref());
                SelfStats::add(&self.stats.spans_created, 1);
                self.queue.push(span);
            }
        }
    }
}
