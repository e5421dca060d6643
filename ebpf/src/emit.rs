//! Writing events into the ring buffer. Events are reserved in the ring buffer and filled in
//! place: a 4 KiB payload does not fit the 512-byte BPF stack.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user,
    bpf_probe_read_user_buf,
};
use sonde_common::{
    CAPTURE_BYTES, ConnEvent, DataEventN, EventHeader, MAX_IOVECS, SMALL_CAPTURE_BYTES, SmallEvent,
    kind, stat,
};

use crate::{
    maps::{EVENTS, count, submit_flags},
    socket::TcpInfo,
};

/// The current task's ids and the time, for an event of no connection yet.
#[inline(always)]
pub fn current_header() -> EventHeader {
    header_now(bpf_get_current_pid_tgid(), 0)
}

/// An event header stamped now, for the task `pid_tgid` (from bpf_get_current_pid_tgid).
#[inline(always)]
pub fn header_now(pid_tgid: u64, conn_id: u64) -> EventHeader {
    EventHeader {
        kind: 0,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        fd: 0,
        // SAFETY: helper without preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        conn_id,
    }
}

/// What every event of one syscall shares.
pub struct CallCtx {
    pub header: EventHeader,
    pub direction: u32,
    pub syscall: u32,
}

/// One data event for `len` bytes at user address `src`; `src == 0` reports a gap of `len`
/// bytes that cannot be copied (sendfile, iovecs past the limit). Small calls get a small
/// record, so the ring buffer is not filled with mostly-empty 4 KiB records.
#[inline(never)]
pub fn data(call: &CallCtx, src: u64, len: u64) {
    let len32 = if len > u32::MAX as u64 {
        u32::MAX
    } else {
        len as u32
    };
    if src == 0 || len32 as usize <= SMALL_CAPTURE_BYTES {
        fill::<SMALL_CAPTURE_BYTES>(call, src, len32);
    } else {
        fill::<CAPTURE_BYTES>(call, src, len32);
    }
}

#[inline(always)]
fn fill<const N: usize>(call: &CallCtx, src: u64, len32: u32) {
    let Some(mut entry) = EVENTS.reserve::<DataEventN<N>>(0) else {
        count(stat::RINGBUF_FULL, 1);
        return;
    };
    let ev = entry.as_mut_ptr();
    let mut n = len32 as usize;
    if n > N {
        n = N;
    }
    // SAFETY: `ev` points at a reserved, exclusively owned record in the ring buffer.
    unsafe {
        (*ev).header = EventHeader {
            kind: kind::DATA,
            ..call.header
        };
        (*ev).len = len32;
        (*ev).direction = call.direction;
        (*ev).syscall = call.syscall;
        let mut captured = 0u32;
        if src != 0 && n > 0 {
            // n <= N was checked just above, so the slice is in bounds.
            let dst = &mut (&mut (*ev).data)[..n];
            if bpf_probe_read_user_buf(src as *const u8, dst).is_ok() {
                captured = n as u32;
            } else {
                count(stat::COPY_FAILED, 1);
            }
        }
        (*ev).captured = captured;
        if captured < len32 {
            count(stat::TRUNCATED_EVENTS, 1);
        }
    }
    entry.submit(submit_flags());
    count(stat::EVENTS_SUBMITTED, 1);
}

/// Data events for an iovec array: one event per iovec, so each copy has a constant bound.
/// `remaining` is the byte count the syscall really moved.
#[inline(never)]
pub fn iovecs(call: &CallCtx, iov: u64, iovcnt: u64, mut remaining: u64) {
    let mut i = 0u32;
    while i < MAX_IOVECS {
        if i as u64 >= iovcnt || remaining == 0 {
            break;
        }
        // struct iovec { void *iov_base; size_t iov_len; } = 16 bytes on 64-bit.
        // SAFETY: user memory read through the helper, which checks the address.
        let Ok(vec) = (unsafe { bpf_probe_read_user((iov + i as u64 * 16) as *const [u64; 2]) })
        else {
            count(stat::COPY_FAILED, 1);
            break;
        };
        let take = if vec[1] < remaining {
            vec[1]
        } else {
            remaining
        };
        if take > 0 {
            data(call, vec[0], take);
        }
        remaining -= take;
        i += 1;
    }
    if remaining > 0 {
        count(stat::IOVEC_OVERFLOW, 1);
        data(call, 0, remaining);
    }
}

pub fn conn(header: EventHeader, role: u32, info: &TcpInfo) {
    let Some(mut entry) = EVENTS.reserve::<ConnEvent>(0) else {
        count(stat::RINGBUF_FULL, 1);
        return;
    };
    entry.write(ConnEvent {
        header: EventHeader {
            kind: kind::CONN_OPEN,
            ..header
        },
        family: info.family as u32,
        role,
        local_port: info.local_port as u32,
        peer_port: info.peer_port as u32,
        local_addr: info.local_addr,
        peer_addr: info.peer_addr,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    });
    // Wake the agent at once for a new connection (rare, and the agent reads the process's
    // /proc entry on it, which a short-lived client may not keep for long).
    const BPF_RB_FORCE_WAKEUP: u64 = 2;
    entry.submit(BPF_RB_FORCE_WAKEUP);
    count(stat::EVENTS_SUBMITTED, 1);
}

pub fn small(kind: u32, header: EventHeader) {
    let Some(mut entry) = EVENTS.reserve::<SmallEvent>(0) else {
        count(stat::RINGBUF_FULL, 1);
        return;
    };
    entry.write(SmallEvent {
        header: EventHeader { kind, ..header },
    });
    entry.submit(submit_flags());
    count(stat::EVENTS_SUBMITTED, 1);
}
