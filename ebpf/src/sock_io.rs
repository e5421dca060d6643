//! Socket I/O: the `sock_send_length` and `sock_recv_length` tracepoints.
//!
//! They fire at the end of every `sock_sendmsg` / `sock_recvmsg` (net/socket.c), that is once
//! per socket read or write whatever the syscall (read/write, readv/writev, send*/recv*,
//! sendfile), with the socket and the byte count. Only socket I/O reaches them, so unrelated
//! syscalls on the host pay nothing at all: a program on `sys_exit` instead puts every
//! syscall of every process onto the slow syscall-exit path. The payload is read from the
//! user buffers named by the syscall's arguments, which are in the task's saved user
//! registers (x86_64: rdi, rsi, rdx; the syscall number in orig_rax).

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use sonde_common::{ConnEntry, EventHeader, conn_state, direction, filter, role, stat};

use crate::{
    emit::{self, CallCtx},
    maps::{CONNS, SELF_PORTS, WATCH_PIDS, WATCH_PORTS, count, filter_flags, remember, self_tgid},
    socket,
};

// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) whose buffers are read.
const READ: u64 = 0;
const WRITE: u64 = 1;
const READV: u64 = 19;
const WRITEV: u64 = 20;
const SENDTO: u64 = 44;
const RECVFROM: u64 = 45;
const SENDMSG: u64 = 46;
const RECVMSG: u64 = 47;

/// include/linux/socket.h: the data stays queued and will be read again.
const MSG_PEEK: i32 = 2;

// TP_PROTO(struct sock *sk, int ret, int flags)
#[btf_tracepoint(function = "sock_send_length")]
pub fn sonde_sock_send(ctx: BtfTracePointContext) -> i32 {
    socket_io(&ctx, direction::EGRESS);
    0
}

// TP_PROTO(struct sock *sk, int ret, int flags)
#[btf_tracepoint(function = "sock_recv_length")]
pub fn sonde_sock_recv(ctx: BtfTracePointContext) -> i32 {
    socket_io(&ctx, direction::INGRESS);
    0
}

#[inline(always)]
fn socket_io(ctx: &BtfTracePointContext, dir: u32) {
    let ret: i32 = ctx.arg(1);
    // Errors (EAGAIN above all) and end of stream carry no data.
    if ret <= 0 {
        return;
    }
    if dir == direction::INGRESS && ctx.arg::<i32>(2) & MSG_PEEK != 0 {
        return;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // sonde's own traffic is never traced.
    if tgid == self_tgid() {
        return;
    }
    // The process filter comes first: unwatched processes pay one map lookup.
    let flags = filter_flags();
    let pid_selected = flags & filter::BY_PID != 0 && WATCH_PIDS.get_ptr(tgid).is_some();
    if flags & filter::BY_PID != 0 && !pid_selected && flags & filter::BY_PORT == 0 {
        return;
    }
    let sk: *const u8 = ctx.arg(0);
    if !socket::is_tcp(sk) {
        return;
    }
    let cookie = socket::cookie(sk);
    let no_filter = flags & (filter::BY_PID | filter::BY_PORT) == 0;
    let entry = match CONNS.get_ptr(cookie) {
        // SAFETY: pointer from a successful lookup, read once.
        Some(entry) => unsafe { *entry },
        None => ConnEntry {
            state: conn_state::HINT,
            role: role::UNKNOWN,
            ports_match: 0,
            announced: 0,
        },
    };
    if entry.state != conn_state::OPEN && entry.state != conn_state::HINT {
        // Ignored or muted: no clock read, no event.
        return;
    }
    let header = emit::header_now(pid_tgid, cookie);
    let watched = if entry.state == conn_state::OPEN {
        let watched = no_filter || pid_selected || entry.ports_match != 0;
        if watched && entry.announced == 0 {
            announce(sk, &header, entry);
        }
        watched
    } else {
        first_sight(sk, &header, entry.role, flags, pid_selected)
    };
    if watched {
        payload(header, dir, ret as u64);
    }
}

/// The first data call on a socket: apply the filters once and remember the verdict.
#[inline(never)]
fn first_sight(
    sk: *const u8,
    header: &EventHeader,
    role: u32,
    flags: u32,
    pid_selected: bool,
) -> bool {
    if socket::current_is_kthread() {
        remember(header.conn_id, ignored());
        return false;
    }
    let info = socket::tcp_info(sk);
    // The far end of one of sonde's own connections (a collector on this host).
    if SELF_PORTS.get_ptr(info.peer_port as u32).is_some() {
        remember(header.conn_id, ignored());
        return false;
    }
    let ports_match = flags & filter::BY_PORT != 0
        && (WATCH_PORTS.get_ptr(info.local_port as u32).is_some()
            || WATCH_PORTS.get_ptr(info.peer_port as u32).is_some());
    let watched = flags & (filter::BY_PID | filter::BY_PORT) == 0 || pid_selected || ports_match;
    remember(
        header.conn_id,
        ConnEntry {
            state: conn_state::OPEN,
            role,
            ports_match: ports_match as u32,
            announced: watched as u32,
        },
    );
    if watched {
        emit::conn(*header, role, &info);
    }
    watched
}

/// CONN_OPEN for a socket first seen in a process the filters did not select, now used by
/// one they do (a socket shared across processes).
#[inline(never)]
fn announce(sk: *const u8, header: &EventHeader, entry: ConnEntry) {
    remember(
        header.conn_id,
        ConnEntry {
            announced: 1,
            ..entry
        },
    );
    emit::conn(*header, entry.role, &socket::tcp_info(sk));
}

fn ignored() -> ConnEntry {
    ConnEntry {
        state: conn_state::IGNORED,
        role: role::UNKNOWN,
        ports_match: 0,
        announced: 0,
    }
}

/// Data events for `len` bytes just moved on a watched socket, read from the user buffers
/// named by the current syscall's arguments.
#[inline(never)]
fn payload(header: EventHeader, dir: u32, len: u64) {
    let regs = socket::current_user_regs();
    // SAFETY: BTF-typed pointer; the verifier checks each load against struct pt_regs (same
    // x86_64 layout as the binding).
    let (nr, a0, a1, a2) = unsafe {
        (
            core::ptr::read_volatile(&(*regs).orig_rax),
            core::ptr::read_volatile(&(*regs).rdi),
            core::ptr::read_volatile(&(*regs).rsi),
            core::ptr::read_volatile(&(*regs).rdx),
        )
    };
    let call = CallCtx {
        header: EventHeader {
            fd: a0 as u32,
            ..header
        },
        direction: dir,
        syscall: nr as u32,
    };
    match nr {
        READ | WRITE | SENDTO | RECVFROM => emit::data(&call, a1, len),
        READV | WRITEV => emit::iovecs(&call, a1, a2, len),
        SENDMSG | RECVMSG => msghdr(&call, a1, len),
        // sendfile and splice (bytes from a file or pipe), sendmmsg/recvmmsg (the message
        // index is unknown here), io_uring: the bytes are known, the payload is not.
        _ => emit::data(&call, 0, len),
    }
}

/// struct msghdr on x86_64: msg_iov at byte 16, msg_iovlen at byte 24 (56 bytes in all).
#[inline(always)]
fn msghdr(call: &CallCtx, msg: u64, len: u64) {
    // SAFETY: user memory read through the checking helper.
    match unsafe { bpf_probe_read_user(msg as *const [u64; 7]) } {
        Ok(m) => emit::iovecs(call, m[2], m[3], len),
        Err(_) => {
            count(stat::COPY_FAILED, 1);
            emit::data(call, 0, len);
        }
    }
}
