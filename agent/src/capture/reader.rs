//! The capture thread: waits on the ring buffer, drains it into the pipeline, and keeps the
//! kernel's counters mirrored into sonde's own metrics.

use std::{
    os::fd::AsRawFd,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use super::Pipeline;
use crate::{load::Kernel, stats::SelfStats, trace::clock::Clock};

/// How long one wait on the ring buffer lasts. The kernel wakes the agent only once a batch
/// is pending (see WAKEUP_BYTES), so this timer is what drains a trickle of events: it bounds
/// the extra latency of a span at low rates.
const POLL_MS: i32 = 20;
/// How often request timeouts and kernel counters are checked.
const TICK: Duration = Duration::from_millis(200);

pub fn run(
    mut kernel: Kernel,
    mut pipeline: Pipeline,
    stats: Arc<SelfStats>,
    stop: Arc<AtomicBool>,
) {
    let fd = kernel.events.as_raw_fd();
    let mut last_tick = Instant::now();
    // Processes the agent matched but could not add to the kernel's watch list.
    let mut watch_failures = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if !stopping {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd that lives across the call.
            unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        }
        while let Some(item) = kernel.events.next() {
            pipeline.handle(&item);
        }
        for conn_id in pipeline.drain_muted() {
            kernel.mute(conn_id);
        }
        for pid in pipeline.newly_matched.drain(..) {
            if let Err(e) = kernel.watch_pid(pid) {
                watch_failures += 1;
                tracing::warn!("cannot watch pid {pid}: {e}");
            }
        }
        if stopping || last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            pipeline.tick(Clock::monotonic_now_ns());
            let k = kernel.stats();
            // The kernel's counters are totals: mirror them, do not add.
            for (counter, value) in [
                (&stats.events_lost_kernel, k.ringbuf_full),
                (&stats.copy_failures_kernel, k.copy_failed),
                (&stats.events_truncated, k.truncated_events),
                (&stats.kernel_connections_full, k.conns_full),
                (&stats.iovec_overflows, k.iovec_overflow),
                (&stats.watch_list_full, k.watch_pids_full + watch_failures),
                (&stats.self_ports_full, k.self_ports_full),
            ] {
                counter.store(value, Ordering::Relaxed);
            }
        }
        if stopping {
            break;
        }
    }
    let _ = SelfStats::get(&stats.events_read);
}
