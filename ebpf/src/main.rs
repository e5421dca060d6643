//! sonde's kernel programs.
//!
//! Socket I/O comes from the BTF-typed `sock_send_length` / `sock_recv_length` tracepoints,
//! which fire only for socket reads and writes and hand over the socket itself; the payload is
//! read from the user buffers named in the task's saved syscall registers. TCP state changes
//! give each connection's role and its end; process lifecycle comes from the sched
//! tracepoints. Nothing here needs kprobes, fentry or syscall tracepoints.
#![no_std]
#![no_main]

mod emit;
mod maps;
mod process;
mod sock_io;
mod socket;
mod tcp_state;

// Only for the bpf target: a host build (clippy --workspace) gets std's handler through its
// dependencies, and a second one would clash.
#[cfg(all(not(test), target_arch = "bpf"))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable panic path, so this is never called at run time.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
