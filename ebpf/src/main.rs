//! sonde's kernel programs.
//!
//! One raw tracepoint on `sys_exit` sees every socket I/O syscall with its arguments and
//! result: on x86_64 the syscall arguments are still in the saved user registers when the
//! syscall returns, so no enter probe and no per-thread argument map are needed (one program
//! run and no map churn per call). Process lifecycle comes from the sched tracepoints.
//! Nothing here needs kprobes or fentry.
#![no_std]
#![no_main]

mod emit;
mod maps;
mod process;
mod socket;
mod syscalls;

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
