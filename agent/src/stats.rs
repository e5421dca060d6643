//! sonde's own health counters, shared by every stage and served on /metrics as `sonde_*`.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct SelfStats {
    /// Ring-buffer records read by the agent.
    pub events_read: AtomicU64,
    /// Of those, socket reads and writes (the rest are connection and process events).
    pub data_events_read: AtomicU64,
    /// Events dropped in the kernel (ring buffer full); copied from the kernel's counters.
    pub events_lost_kernel: AtomicU64,
    /// Copies from user memory that failed in the kernel.
    pub copy_failures_kernel: AtomicU64,
    /// Data events whose payload was cut or left out (sendfile), from the kernel's counters.
    pub events_truncated: AtomicU64,
    /// Kernel connection-table inserts that failed (table full); from the kernel's counters.
    pub kernel_connections_full: AtomicU64,
    /// Socket calls with more iovecs than the kernel copies (the rest became a gap).
    pub iovec_overflows: AtomicU64,
    /// Processes that should have been watched but did not fit the kernel's watch list
    /// (children added by the kernel, and processes matched by the agent).
    pub watch_list_full: AtomicU64,
    /// sonde's own connections whose port did not fit the kernel's table, so their far end
    /// (a collector on this host) may be traced.
    pub self_ports_full: AtomicU64,
    /// Records that did not decode.
    pub decode_failures: AtomicU64,
    /// Streams or messages a parser could not make sense of.
    pub parse_failures: AtomicU64,
    /// Exchanges that ended without a full response (timeout, close, desync).
    pub exchanges_incomplete: AtomicU64,
    /// Connections dropped from the agent's table because it was full.
    pub connections_evicted: AtomicU64,
    /// Connections whose capture the agent stopped: no span can come of them (unknown
    /// protocol, or a database's server side).
    pub connections_muted: AtomicU64,
    /// Connections tracked now (gauge).
    pub connections_tracked: AtomicU64,
    /// Spans handed to the exporter queue.
    pub spans_created: AtomicU64,
    /// Spans the backend accepted (or the console printed).
    pub spans_exported: AtomicU64,
    /// Spans dropped: queue full, or export failed past retries.
    pub spans_dropped: AtomicU64,
    /// Export requests that failed.
    pub export_failures: AtomicU64,
    /// Spans waiting in the export queue (gauge).
    pub export_queue_len: AtomicU64,
    /// Measurements folded into a metric's overflow series (`limits.max_metric_series`).
    pub metric_series_overflow: AtomicU64,
}

impl SelfStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
