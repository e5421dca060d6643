//! Kernel timestamps are CLOCK_MONOTONIC; spans need Unix time.

/// Unix-epoch minus monotonic nanoseconds, sampled once at start-up. NTP slews after that
/// shift span times by at most the slew, which is acceptable for tracing.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset_ns: i128,
}

fn now(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

impl Clock {
    pub fn new() -> Self {
        Self {
            offset_ns: now(libc::CLOCK_REALTIME) - now(libc::CLOCK_MONOTONIC),
        }
    }

    pub fn monotonic_now_ns() -> u64 {
        now(libc::CLOCK_MONOTONIC) as u64
    }

    pub fn to_unix_ns(&self, monotonic_ns: u64) -> u64 {
        (monotonic_ns as i128 + self.offset_ns).max(0) as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_now_to_now() {
        let clock = Clock::new();
        let unix = clock.to_unix_ns(Clock::monotonic_now_ns());
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(unix.abs_diff(wall) < 1_000_000_000);
    }
}
