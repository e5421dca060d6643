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
                tracing::warn!("cannot watch pid {pid}: {e}");
            }
        }
        if stopping || last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            pipeline.tick(Clock::monotonic_now_ns());
            let k = kernel.stats();
            stats
                .events_lost_kernel
                .store(k.ringbuf_full, Ordering::Relaxed);
            stats
                .copy_failures_kernel
                .store(k.copy_failed, Ordering::Relaxed);
            stats
                .events_truncated
                .store(k.truncated_events, Ordering::Relaxed);
        }
        if stopping {
            break;
        }
    }
    let _ = SelfStats::get(&stats.events_read);
}
