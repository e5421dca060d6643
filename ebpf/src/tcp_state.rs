//! TCP state changes (`inet_sock_set_state`): who opened a connection, sonde's own local
//! ports, and the end of a connection. Once per state change, never per byte.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::btf_tracepoint, programs::BtfTracePointContext,
};
use sonde_common::{ConnEntry, EventHeader, conn_state, filter, kind, role, stat};

use crate::{
    emit,
    maps::{CONNS, SELF_PORTS, WATCH_PIDS, WATCH_PORTS, count, filter_flags, remember, self_tgid},
    socket,
};

// include/net/tcp_states.h
const ESTABLISHED: i32 = 1;
const SYN_SENT: i32 = 2;
const SYN_RECV: i32 = 3;
const FIN_WAIT1: i32 = 4;
const CLOSE: i32 = 7;
const LAST_ACK: i32 = 9;
/// x86_64 shutdown(2): a half-close, after which the socket still reads.
const SHUTDOWN: u64 = 48;

// TP_PROTO(const struct sock *sk, const int oldstate, const int newstate)
#[btf_tracepoint(function = "inet_sock_set_state")]
pub fn sonde_tcp_state(ctx: BtfTracePointContext) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    let old: i32 = ctx.arg(1);
    let new: i32 = ctx.arg(2);
    if !socket::is_tcp(sk) {
        return 0;
    }
    match new {
        // connect(): in the connecting process, before the local port is chosen.
        SYN_SENT => active_open(sk),
        ESTABLISHED if old == SYN_SENT => self_established(sk),
        // The accepted socket completes its handshake in softirq context: no process to
        // filter on yet, except by port.
        ESTABLISHED if old == SYN_RECV => passive_open(sk),
        // The last close() of the socket (or its process's exit), in that process; a
        // shutdown() takes the same transitions but leaves the socket readable.
        FIN_WAIT1 | LAST_ACK if !in_shutdown() => closed(sk),
        // Reset, abort, or the end of the closing handshake.
        CLOSE => closed(sk),
        _ => {}
    }
    0
}

fn hint(role: u32) -> ConnEntry {
    ConnEntry {
        state: conn_state::HINT,
        role,
        ports_match: 0,
        announced: 0,
    }
}

#[inline(always)]
fn active_open(sk: *const u8) {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    if tgid == self_tgid() {
        remember(
            socket::cookie(sk),
            ConnEntry {
                state: conn_state::SELF,
                ..hint(role::CONNECTED)
            },
        );
        return;
    }
    let flags = filter_flags();
    if flags & filter::BY_PID != 0
        && flags & filter::BY_PORT == 0
        && WATCH_PIDS.get_ptr(tgid).is_none()
    {
        return;
    }
    remember(socket::cookie(sk), hint(role::CONNECTED));
}

/// sonde's own connection is up and has its local port: from now on a socket whose peer is
/// that port (the collector's end, when it runs on this host) is never captured.
#[inline(always)]
fn self_established(sk: *const u8) {
    if let Some(entry) = CONNS.get_ptr(socket::cookie(sk))
        // SAFETY: pointer from a successful lookup, read once.
        && unsafe { (*entry).state } == conn_state::SELF
        && SELF_PORTS
            .insert(socket::local_port(sk) as u32, 1, 0)
            .is_err()
    {
        count(stat::SELF_PORTS_FULL, 1);
    }
}

#[inline(always)]
fn passive_open(sk: *const u8) {
    let flags = filter_flags();
    if flags & filter::BY_PID == 0
        && flags & filter::BY_PORT != 0
        && WATCH_PORTS.get_ptr(socket::local_port(sk) as u32).is_none()
    {
        return;
    }
    remember(socket::cookie(sk), hint(role::ACCEPTED));
}

/// True when the current syscall is shutdown(2).
#[inline(always)]
fn in_shutdown() -> bool {
    // The transitions that ask run in process context, so these are the closer's registers.
    let regs = socket::current_user_regs();
    // SAFETY: BTF-typed pointer; the verifier checks the load against struct pt_regs.
    unsafe { core::ptr::read_volatile(&(*regs).orig_rax) == SHUTDOWN }
}

#[inline(never)]
fn closed(sk: *const u8) {
    let cookie = socket::cookie(sk);
    let Some(entry) = CONNS.get_ptr(cookie) else {
        return;
    };
    // SAFETY: pointer from a successful lookup, read once.
    let entry = unsafe { *entry };
    let _ = CONNS.remove(cookie);
    if entry.state == conn_state::SELF {
        let _ = SELF_PORTS.remove(socket::local_port(sk) as u32);
    } else if entry.announced != 0 {
        // OPEN, or IGNORED because the agent muted it: either way the agent holds state for
        // it until it hears of the close.
        emit::small(
            kind::CONN_CLOSE,
            EventHeader {
                conn_id: cookie,
                ..emit::current_header()
            },
        );
    }
}
