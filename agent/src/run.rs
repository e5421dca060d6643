//! The daemon's life: serve /healthz, start the exporter, load and attach the kernel side,
//! run the capture thread, and on SIGTERM/SIGINT flush everything and detach.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use sonde_common::filter;

use crate::{
    capture::{Pipeline, reader},
    config::Config,
    conn::ConnTable,
    discovery::{ExeMatcher, ProcessRegistry, procfs_read},
    export::Exporter,
    load::{self, LoadOptions},
    metrics::{Metrics, MetricsExporter},
    ops,
    protocol::ParserLimits,
    stats::SelfStats,
    trace::{SpanBuilder, clock::Clock, route::Routes},
};

/// Time allowed to flush spans at shutdown.
const FLUSH_DEADLINE: Duration = Duration::from_secs(5);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let stats = Arc::new(SelfStats::default());
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = Metrics::new(
        config.limits.max_metric_series,
        &config.resource_attributes,
        stats.clone(),
    );
    let listen = ops::serve(config.listen, ready.clone(), stats.clone(), metrics.clone()).await?;
    tracing::info!("operations endpoint on http://{listen} (/healthz, /metrics)");

    let (exporter, queue) =
        Exporter::start(config.export.clone(), stats.clone()).context("starting the exporter")?;
    let metrics_exporter = MetricsExporter::start(
        metrics.clone(),
        &config.export,
        config.metric_export_interval,
        stats.clone(),
    )
    .context("starting the metrics exporter")?;

    let selection = &config.selection;
    let mut flags = 0;
    if !selection.pids.is_empty() || !selection.exes.is_empty() {
        flags |= filter::BY_PID;
    }
    if !selection.ports.is_empty() {
        flags |= filter::BY_PORT;
    }
    let mut kernel = load::load(&LoadOptions {
        self_tgid: std::process::id(),
        filter_flags: flags,
        ring_buffer_bytes: config.limits.ring_buffer_bytes,
        max_connections: config.limits.kernel_connections,
    })
    .context("loading the kernel programs (sonde needs root, or CAP_BPF + CAP_PERFMON)")?;
    // Loading parsed the kernel's BTF in tens of MiB of short-lived heap: hand it back now,
    // and from here on let freed memory wait the allocator's usual delay.
    crate::alloc::release_free_memory();
    crate::alloc::purge_at_once(false);
    kernel.add_self_port(listen.port())?;
    for port in &selection.ports {
        kernel.watch_port(*port)?;
    }
    let exe = ExeMatcher::new(&selection.exes)?;
    let mut watched = procfs_read::with_descendants(&selection.pids);
    if !exe.is_empty() {
        for pid in procfs_read::all_pids() {
            if procfs_read::read(pid).is_some_and(|f| exe.matches(&f)) {
                watched.extend(procfs_read::with_descendants(&[pid]));
            }
        }
    }
    for pid in &watched {
        kernel.watch_pid(*pid)?;
    }
    kernel.attach().context("attaching the kernel programs")?;
    ready.store(true, Ordering::Relaxed);
    tracing::info!(
        "capturing: {}",
        if selection.is_everything() {
            "every process".to_owned()
        } else {
            // A --pid of a busy parent can expand to hundreds of descendants: show a few.
            let shown: Vec<u32> = watched.iter().take(10).copied().collect();
            let more = watched.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!(
                "{} pids {shown:?}{more}, ports {:?}, exe {:?}",
                watched.len(),
                selection.ports,
                selection.exes
            )
        }
    );

    let limits = ParserLimits {
        max_header_bytes: config.limits.max_header_bytes,
        max_pending: config.limits.max_pending,
        request_timeout: config.limits.request_timeout(),
    };
    let pipeline = Pipeline::new(
        ConnTable::new(config.limits.connections, limits, stats.clone()),
        SpanBuilder::new(
            ProcessRegistry::new(config.resource_attributes.clone()),
            Clock::new(),
            Routes::new(&config.routes),
        ),
        queue,
        stats.clone(),
        exe,
        metrics,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let capture = {
        let (stats, stop) = (stats.clone(), stop.clone());
        std::thread::Builder::new()
            .name("sonde-capture".into())
            .spawn(move || reader::run(kernel, pipeline, stats, stop))?
    };

    wait_for_signal().await?;
    tracing::info!("stopping: flushing spans");
    stop.store(true, Ordering::Relaxed);
    // The capture thread drains the ring buffer, then drops the kernel side (detaching).
    tokio::task::spawn_blocking(move || capture.join())
        .await?
        .map_err(|_| anyhow::anyhow!("capture thread panicked"))?;
    tokio::join!(
        exporter.shutdown(FLUSH_DEADLINE),
        metrics_exporter.shutdown(FLUSH_DEADLINE)
    );
    tracing::info!(
        "stopped: {} events read, {} spans exported, {} dropped",
        SelfStats::get(&stats.events_read),
        SelfStats::get(&stats.spans_exported),
        SelfStats::get(&stats.spans_dropped)
    );
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
