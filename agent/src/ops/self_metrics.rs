//! sonde's own counters in the Prometheus / OpenMetrics text format (prometheus-client).

use std::sync::{Arc, atomic::Ordering};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::stats::SelfStats;

#[derive(Debug)]
struct StatsCollector(Arc<SelfStats>);

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let counters: [(&str, &str, u64); 19] = [
            (
                "sonde_events_read",
                "Ring-buffer records read by the agent.",
                s.events_read.load(Ordering::Relaxed),
            ),
            (
                "sonde_events_lost",
                "Events dropped in the kernel because the ring buffer was full.",
                s.events_lost_kernel.load(Ordering::Relaxed),
            ),
            (
                "sonde_copy_failures",
                "Copies of socket data from user memory that failed in the kernel.",
                s.copy_failures_kernel.load(Ordering::Relaxed),
            ),
            (
                "sonde_events_truncated",
                "Data events whose payload was cut to the capture size or not copied (sendfile).",
                s.events_truncated.load(Ordering::Relaxed),
            ),
            (
                "sonde_kernel_connections_full",
                "Kernel connection-table inserts that failed (limits.kernel_connections). The table is an LRU: when full it evicts its oldest entry instead, which is not counted.",
                s.kernel_connections_full.load(Ordering::Relaxed),
            ),
            (
                "sonde_iovec_overflows",
                "Socket calls with more buffers than the kernel copies; the rest is a gap.",
                s.iovec_overflows.load(Ordering::Relaxed),
            ),
            (
                "sonde_watch_list_full",
                "Processes to watch that did not fit the kernel's watch list.",
                s.watch_list_full.load(Ordering::Relaxed),
            ),
            (
                "sonde_self_ports_full",
                "sonde's own ports the kernel's table could not hold; their far end may be traced.",
                s.self_ports_full.load(Ordering::Relaxed),
            ),
            (
                "sonde_decode_failures",
                "Ring-buffer records that did not decode.",
                s.decode_failures.load(Ordering::Relaxed),
            ),
            (
                "sonde_parse_failures",
                "Streams or messages a protocol parser could not make sense of.",
                s.parse_failures.load(Ordering::Relaxed),
            ),
            (
                "sonde_exchanges_incomplete",
                "Requests that ended without a complete response.",
                s.exchanges_incomplete.load(Ordering::Relaxed),
            ),
            (
                "sonde_connections_evicted",
                "Connections dropped from the agent's full table.",
                s.connections_evicted.load(Ordering::Relaxed),
            ),
            (
                "sonde_data_events_read",
                "Socket reads and writes read from the kernel (events_read less connection and process events).",
                s.data_events_read.load(Ordering::Relaxed),
            ),
            (
                "sonde_connections_muted",
                "Connections whose capture stopped: unknown protocol, or a database's server side.",
                s.connections_muted.load(Ordering::Relaxed),
            ),
            (
                "sonde_spans_created",
                "Spans handed to the export queue.",
                s.spans_created.load(Ordering::Relaxed),
            ),
            (
                "sonde_spans_exported",
                "Spans the backend accepted (or the console printed).",
                s.spans_exported.load(Ordering::Relaxed),
            ),
            (
                "sonde_spans_dropped",
                "Spans dropped: export queue full or export failed.",
                s.spans_dropped.load(Ordering::Relaxed),
            ),
            (
                "sonde_export_failures",
                "Export requests that failed.",
                s.export_failures.load(Ordering::Relaxed),
            ),
            (
                "sonde_metric_series_overflow",
                "Measurements folded into a metric's otel.metric.overflow series (limits.max_metric_series).",
                s.metric_series_overflow.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let gauges: [(&str, &str, u64); 2] = [
            (
                "sonde_connections_tracked",
                "Connections the agent holds parser state for.",
                s.connections_tracked.load(Ordering::Relaxed),
            ),
            (
                "sonde_export_queue_length",
                "Spans waiting in the export queue.",
                s.export_queue_len.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value as i64);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

pub fn render(stats: &Arc<SelfStats>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StatsCollector(Arc::clone(stats))));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let stats = Arc::new(SelfStats::default());
        SelfStats::add(&stats.events_read, 7);
        let text = render(&stats).unwrap();
        assert!(text.contains("sonde_events_read_total 7"), "{text}");
        for name in [
            "sonde_events_lost_total",
            "sonde_spans_exported_total",
            "sonde_export_failures_total",
            "sonde_metric_series_overflow_total",
            "sonde_kernel_connections_full_total",
            "sonde_iovec_overflows_total",
            "sonde_watch_list_full_total",
            "sonde_self_ports_full_total",
            "sonde_connections_tracked",
        ] {
            assert!(text.contains(name), "{name} missing in {text}");
        }
    }
}
