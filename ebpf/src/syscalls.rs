//! The syscall-exit hook: socket I/O, accept, connect, close.

use aya_ebpf::{
    bindings::pt_regs,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns, bpf_probe_read_user,
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use sonde_common::{
    ConnEntry, EventHeader, MAX_MMSGS, conn_state, direction, filter, kind, role, stat,
};

use crate::{
    emit::{self, CallCtx},
    maps::{CONNS, SELF_PORTS, WATCH_PIDS, WATCH_PORTS, count, filter_flags, self_tgid},
    socket::{TcpInfo, tcp_socket},
};

// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
const READ: u64 = 0;
const WRITE: u64 = 1;
const CLOSE: u64 = 3;
const READV: u64 = 19;
const WRITEV: u64 = 20;
const DUP2: u64 = 33;
const SENDFILE: u64 = 40;
const CONNECT: u64 = 42;
const ACCEPT: u64 = 43;
const SENDTO: u64 = 44;
const RECVFROM: u64 = 45;
const SENDMSG: u64 = 46;
const RECVMSG: u64 = 47;
const ACCEPT4: u64 = 288;
const DUP3: u64 = 292;
const RECVMMSG: u64 = 299;
const SENDMMSG: u64 = 307;

const EINPROGRESS: i64 = 115;
/// Bit of the packed `selection` argument: the process itself is selected.
const PID_SELECTED: u32 = 1 << 31;

/// The syscall's first three arguments, still in the saved user registers at exit.
struct Args {
    a0: u64,
    a1: u64,
    a2: u64,
}

// TP_PROTO(struct pt_regs *regs, long ret)
// A BTF-typed tracepoint (tp_btf): `regs` is a typed kernel pointer, so its fields are plain
// loads checked by the verifier instead of bpf_probe_read_kernel helper calls. That matters
// here because this program runs at every syscall exit on the host.
#[btf_tracepoint(function = "sys_exit")]
pub fn sonde_sys_exit(ctx: BtfTracePointContext) -> i32 {
    let _ = try_sys_exit(&ctx);
    0
}

#[inline(always)]
fn try_sys_exit(ctx: &BtfTracePointContext) -> Result<(), i64> {
    let regs: *const pt_regs = ctx.arg(0);
    // SAFETY: BTF-typed pointer to the saved user registers; the verifier checks the load
    // against the kernel's struct pt_regs (same x86_64 layout as the binding).
    let nr = unsafe { core::ptr::read_volatile(&(*regs).orig_rax) };
    // Cheapest possible exit for the syscalls sonde does not care about.
    match nr {
        READ | WRITE | CLOSE | READV | WRITEV | DUP2 | SENDFILE | CONNECT | ACCEPT | SENDTO
        | RECVFROM | SENDMSG | RECVMSG | ACCEPT4 | DUP3 | RECVMMSG | SENDMMSG => {}
        _ => return Ok(()),
    }
    let ret: i64 = ctx.arg(1);
    // Failed calls (EAGAIN reads of non-blocking servers above all) carry no data; a
    // non-blocking connect "fails" with EINPROGRESS and still opens a connection.
    if ret < 0 && nr != CONNECT {
        return Ok(());
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let tid = pid_tgid as u32;

    if tgid == self_tgid() {
        // sonde's own connections: remember the local port so the far end is never traced.
        if nr == CONNECT
            && (ret == 0 || ret == -EINPROGRESS)
            && let Ok(Some(info)) = tcp_socket(arg(regs, 0)? as u32)
        {
            let _ = SELF_PORTS.insert(info.local_port as u32, 1, 0);
        }
        return Ok(());
    }
    // The process filter comes before any argument is read: unwatched processes pay as
    // little as possible.
    let flags = filter_flags();
    let pid_selected = flags & filter::BY_PID != 0 && WATCH_PIDS.get_ptr(tgid).is_some();
    if flags & (filter::BY_PID | filter::BY_PORT) != 0
        && !pid_selected
        && flags & filter::BY_PORT == 0
    {
        return Ok(());
    }
    // Only the first three arguments matter for the calls handled here.
    let args = Args {
        a0: arg(regs, 0)?,
        a1: arg(regs, 1)?,
        a2: arg(regs, 2)?,
    };
    // Packed into one argument: BPF subprograms take at most five.
    let selection = flags | if pid_selected { PID_SELECTED } else { 0 };
    let header = EventHeader {
        kind: 0,
        pid: tgid,
        tid,
        fd: 0,
        ts_ns: 0,
        conn_id: 0,
    };

    match nr {
        CLOSE => {
            if ret == 0 {
                forget(header, args.a0 as u32);
            }
        }
        DUP2 | DUP3 => {
            // The target descriptor was closed silently; drop what it was.
            if ret >= 0 {
                forget(header, args.a1 as u32);
            }
        }
        ACCEPT | ACCEPT4 => {
            if ret >= 0 {
                let _ = track(&header, ret as u32, role::ACCEPTED, selection);
            }
        }
        CONNECT => {
            if ret == 0 || ret == -EINPROGRESS {
                let _ = track(&header, args.a0 as u32, role::CONNECTED, selection);
            }
        }
        _ => {
            if ret <= 0 {
                return Ok(());
            }
            let fd = args.a0 as u32;
            let Some(conn_id) = track(&header, fd, role::UNKNOWN, selection) else {
                return Ok(());
            };
            let dir = match nr {
                READ | READV | RECVFROM | RECVMSG | RECVMMSG => direction::INGRESS,
                _ => direction::EGRESS,
            };
            let call = CallCtx {
                header: EventHeader {
                    fd,
                    conn_id,
                    // SAFETY: helper without preconditions.
                    ts_ns: unsafe { bpf_ktime_get_ns() },
                    ..header
                },
                direction: dir,
                syscall: nr as u32,
            };
            let ret = ret as u64;
            match nr {
                READ | WRITE | SENDTO | RECVFROM => emit::data(&call, args.a1, ret),
                READV | WRITEV => emit::iovecs(&call, args.a1, args.a2, ret),
                SENDMSG | RECVMSG => msghdr(&call, args.a1, ret),
                SENDMMSG | RECVMMSG => mmsghdrs(&call, args.a1, ret),
                SENDFILE => emit::data(&call, 0, ret),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Syscall argument `n` (0..=2) from the saved user registers (rdi, rsi, rdx on x86_64).
#[inline(always)]
fn arg(regs: *const pt_regs, n: u32) -> Result<u64, i64> {
    // SAFETY: BTF-typed pointer to the saved user registers (see try_sys_exit).
    unsafe {
        Ok(match n {
            0 => core::ptr::read_volatile(&(*regs).rdi),
            1 => core::ptr::read_volatile(&(*regs).rsi),
            _ => core::ptr::read_volatile(&(*regs).rdx),
        })
    }
}

/// struct msghdr on x86_64: msg_iov at byte 16, msg_iovlen at byte 24 (56 bytes in all).
#[inline(always)]
fn msghdr(call: &CallCtx, msg: u64, len: u64) {
    // SAFETY: user memory read through the checking helper.
    match unsafe { bpf_probe_read_user(msg as *const [u64; 7]) } {
        Ok(m) => emit::iovecs(call, m[2], m[3], len),
        Err(_) => count(stat::COPY_FAILED, 1),
    }
}

/// struct mmsghdr = msghdr + u32 msg_len (64 bytes with padding); the syscall returns the
/// number of messages, and each message's byte count is in its msg_len.
#[inline(always)]
fn mmsghdrs(call: &CallCtx, vec: u64, messages: u64) {
    let mut i = 0u32;
    while i < MAX_MMSGS {
        if i as u64 >= messages {
            return;
        }
        // SAFETY: user memory read through the checking helper.
        let Ok(m) = (unsafe { bpf_probe_read_user((vec + i as u64 * 64) as *const [u64; 8]) })
        else {
            count(stat::COPY_FAILED, 1);
            return;
        };
        let len = m[7] & 0xffff_ffff;
        emit::iovecs(call, m[2], m[3], len);
        i += 1;
    }
    if messages > MAX_MMSGS as u64 {
        count(stat::IOVEC_OVERFLOW, 1);
    }
}

fn key(tgid: u32, fd: u32) -> u64 {
    ((tgid as u64) << 32) | fd as u64
}

/// The descriptor was closed: emit CONN_CLOSE if it was a watched connection.
#[inline(always)]
fn forget(header: EventHeader, fd: u32) {
    let k = key(header.pid, fd);
    let Some(entry) = CONNS.get_ptr(k) else {
        return;
    };
    // SAFETY: pointer from a successful lookup, read once.
    let entry = unsafe { *entry };
    let _ = CONNS.remove(k);
    if entry.state == conn_state::WATCHED {
        let header = EventHeader {
            fd,
            conn_id: entry.conn_id,
            // SAFETY: helper without preconditions.
            ts_ns: unsafe { bpf_ktime_get_ns() },
            ..header
        };
        emit::small(kind::CONN_CLOSE, header);
    }
}

/// Returns the connection id when `fd` is a watched TCP connection, learning about it on first
/// sight. accept/connect always re-learn, so a stale entry from a missed close is replaced.
#[inline(never)]
fn track(header: &EventHeader, fd: u32, how: u32, selection: u32) -> Option<u64> {
    let flags = selection & !PID_SELECTED;
    let pid_selected = selection & PID_SELECTED != 0;
    let k = key(header.pid, fd);
    if how == role::UNKNOWN
        && let Some(entry) = CONNS.get_ptr(k)
    {
        // SAFETY: pointer from a successful lookup, read once.
        let entry = unsafe { *entry };
        return if entry.state == conn_state::WATCHED {
            Some(entry.conn_id)
        } else {
            None
        };
    }
    let info = match tcp_socket(fd) {
        Ok(Some(info)) => info,
        Ok(None) => {
            let _ = CONNS.insert(
                k,
                ConnEntry {
                    conn_id: 0,
                    state: conn_state::NOT_TCP,
                    _pad: 0,
                },
                0,
            );
            return None;
        }
        Err(_) => return None,
    };
    let watched =
        selected(&info, flags, pid_selected) && SELF_PORTS.get_ptr(info.peer_port as u32).is_none();
    let entry = if watched {
        // SAFETY: helpers without preconditions. Unique per boot: a CPU cannot learn two
        // connections within the same nanosecond.
        let id = unsafe { (bpf_ktime_get_ns() << 8) | (bpf_get_smp_processor_id() as u64 & 0xff) };
        ConnEntry {
            conn_id: id,
            state: conn_state::WATCHED,
            _pad: 0,
        }
    } else {
        ConnEntry {
            conn_id: 0,
            state: conn_state::IGNORED,
            _pad: 0,
        }
    };
    if CONNS.insert(k, entry, 0).is_err() {
        count(stat::CONNS_FULL, 1);
    }
    if !watched {
        return None;
    }
    let header = EventHeader {
        fd,
        conn_id: entry.conn_id,
        // SAFETY: helper without preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
        ..*header
    };
    emit::conn(header, how, &info);
    Some(entry.conn_id)
}

#[inline(always)]
fn selected(info: &TcpInfo, flags: u32, pid_selected: bool) -> bool {
    if flags & (filter::BY_PID | filter::BY_PORT) == 0 || pid_selected {
        return true;
    }
    flags & filter::BY_PORT != 0
        && (WATCH_PORTS.get_ptr(info.local_port as u32).is_some()
            || WATCH_PORTS.get_ptr(info.peer_port as u32).is_some())
}
