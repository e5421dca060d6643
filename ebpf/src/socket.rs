//! Fields of a `struct sock` and of the current task, read through BTF-typed pointers.
//!
//! The tracepoints used here hand over a BTF-typed `struct sock *`, and
//! `bpf_get_current_task_btf` gives a typed task pointer. Loads through such pointers are
//! plain verifier-checked memory loads (no helper call), as long as the offset is a constant:
//! the offsets come from the loader via frozen read-only globals, which the verifier treats
//! as known values.

use aya_ebpf::{
    bindings::pt_regs,
    cty::c_void,
    helpers::{
        bpf_get_current_task_btf, bpf_get_socket_cookie, bpf_probe_read_kernel, bpf_task_pt_regs,
    },
};

use crate::maps::offsets;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_STREAM: u16 = 1;
const IPPROTO_TCP: u16 = 6;
/// include/linux/sched.h: the task is a kernel thread (no user registers, no user memory).
const PF_KTHREAD: u32 = 0x0020_0000;

pub struct TcpInfo {
    pub family: u16,
    pub local_port: u16,
    pub peer_port: u16,
    pub local_addr: [u8; 16],
    pub peer_addr: [u8; 16],
}

/// Reads a `T` at `base + offset` through a BTF-typed kernel pointer.
///
/// # Safety
/// `base` must be a BTF-typed pointer the verifier knows (a tp_btf argument or a typed
/// helper result) and `offset` a loader-provided field offset of that type.
#[inline(always)]
unsafe fn field<T: Copy>(base: *const u8, offset: u32) -> T {
    // SAFETY: see the function's contract; the verifier rewrites the load into a
    // fault-tolerant kernel read and checks it against the BTF type.
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast::<T>()) }
}

/// The socket's cookie: sonde's connection id, unique per boot.
#[inline(always)]
pub fn cookie(sk: *const u8) -> u64 {
    // SAFETY: `sk` is a tracepoint's BTF-typed socket, which the helper accepts.
    unsafe { bpf_get_socket_cookie(sk as *mut c_void) }
}

/// True for an IPv4 or IPv6 TCP socket. Unix, UDP and netlink sockets go through the same
/// tracepoints and are skipped here, before any map is touched.
#[inline(always)]
pub fn is_tcp(sk: *const u8) -> bool {
    let o = offsets();
    if o.valid == 0 {
        return false;
    }
    // SAFETY: `sk` is the tracepoint's BTF-typed `struct sock *`.
    unsafe {
        let family: u16 = field(sk, o.sk_family);
        if family != AF_INET && family != AF_INET6 {
            return false;
        }
        field::<u16>(sk, o.sk_type) == SOCK_STREAM && field::<u16>(sk, o.sk_protocol) == IPPROTO_TCP
    }
}

/// Ports and addresses of a socket that [`is_tcp`] accepted.
#[inline(always)]
pub fn tcp_info(sk: *const u8) -> TcpInfo {
    let o = offsets();
    // SAFETY: `sk` is the tracepoint's BTF-typed `struct sock *`.
    unsafe {
        let family: u16 = field(sk, o.sk_family);
        let mut info = TcpInfo {
            family,
            // skc_num is in host order, skc_dport in network order.
            local_port: field(sk, o.sk_num),
            peer_port: u16::from_be(field(sk, o.sk_dport)),
            local_addr: [0; 16],
            peer_addr: [0; 16],
        };
        if family == AF_INET {
            let local: [u8; 4] = field(sk, o.sk_rcv_saddr);
            let peer: [u8; 4] = field(sk, o.sk_daddr);
            info.local_addr[..4].copy_from_slice(&local);
            info.peer_addr[..4].copy_from_slice(&peer);
        } else {
            // Two 8-byte loads each: the verifier checks loads of at most 8 bytes.
            let words: [u64; 2] = field(sk, o.sk_v6_rcv_saddr);
            info.local_addr = as_bytes(words);
            let words: [u64; 2] = field(sk, o.sk_v6_daddr);
            info.peer_addr = as_bytes(words);
        }
        info
    }
}

#[inline(always)]
fn as_bytes(words: [u64; 2]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&words[0].to_ne_bytes());
    out[8..].copy_from_slice(&words[1].to_ne_bytes());
    out
}

/// The local port only (sonde's own connections).
#[inline(always)]
pub fn local_port(sk: *const u8) -> u16 {
    // SAFETY: `sk` is the tracepoint's BTF-typed `struct sock *`.
    unsafe { field(sk, offsets().sk_num) }
}

/// True when the current task is a kernel thread: its socket I/O has no user buffers to read
/// and belongs to no service.
#[inline(always)]
pub fn current_is_kthread() -> bool {
    // SAFETY: helper without preconditions; it returns a trusted BTF task pointer.
    let task = unsafe { bpf_get_current_task_btf() } as *const u8;
    // SAFETY: BTF-typed task pointer, loader-provided offset of task_struct.flags.
    let flags: u32 = unsafe { field(task, offsets().task_flags) };
    flags & PF_KTHREAD != 0
}

/// The current task's saved user registers (its syscall number and arguments on x86_64),
/// as a BTF-typed pointer whose fields are plain verifier-checked loads.
#[inline(always)]
pub fn current_user_regs() -> *const pt_regs {
    // SAFETY: helpers without preconditions; bpf_task_pt_regs takes the trusted task pointer
    // bpf_get_current_task_btf returns.
    unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) as *const pt_regs }
}

/// tgid and pid (thread id) of a task, for the fork raw tracepoint, whose arguments are
/// untyped: read with bpf_probe_read_kernel, which tolerates any address.
#[inline(always)]
pub fn task_ids(task: u64) -> Result<(u32, u32), i64> {
    let o = offsets();
    if o.valid == 0 {
        return Err(-1);
    }
    let read = |offset: u32| {
        // SAFETY: the helper checks the address and reports faults as errors.
        unsafe { bpf_probe_read_kernel((task + offset as u64) as *const u32) }.map_err(|e| e as i64)
    };
    Ok((read(o.task_tgid)?, read(o.task_pid)?))
}
