//! Syscall loops for the kernel-cost section. `sonde-bench __probe` serves them in a child
//! process (which sonde can watch by pid): it reads `MODE COUNT` lines on stdin, runs the
//! loop, and answers `done NS_PER_SYSCALL SYSCALLS`. The harness runs the same loops itself
//! as an unwatched process.
//!
//! Each loop runs in [`CHUNKS`] chunks and reports the fastest chunk's time per syscall: on a
//! shared machine, preemption only ever adds time, so the minimum is the loop's own cost.

use std::io::{BufRead as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Payload of the socket loop: small, like an HTTP request head.
const PAYLOAD: usize = 64;

/// Chunks per loop; the fastest one is reported.
const CHUNKS: u64 = 20;

/// The loops, by name: an unrelated syscall, a watched syscall on a file, and socket I/O.
pub const MODES: &[&str] = &["getppid", "read-devzero", "tcp-64"];

/// Runs `count` iterations of `mode`; returns the fastest chunk's nanoseconds per syscall
/// and the syscalls made.
pub fn run_mode(mode: &str, count: u64) -> anyhow::Result<(f64, u64)> {
    let per_chunk = (count / CHUNKS).max(1);
    let mut best = f64::INFINITY;
    let mut syscalls = 0;
    for _ in 0..CHUNKS {
        let (elapsed, n) = run_loop(mode, per_chunk)?;
        best = best.min(elapsed.as_nanos() as f64 / n as f64);
        syscalls += n;
    }
    Ok((best, syscalls))
}

fn run_loop(mode: &str, count: u64) -> anyhow::Result<(Duration, u64)> {
    match mode {
        "getppid" => {
            let start = Instant::now();
            for _ in 0..count {
                // SAFETY: getppid has no arguments and cannot fail.
                unsafe { libc::syscall(libc::SYS_getppid) };
            }
            Ok((start.elapsed(), count))
        }
        "read-devzero" => {
            let file = std::fs::File::open("/dev/zero")?;
            let fd = file.as_raw_fd();
            let mut byte = [0u8; 1];
            let start = Instant::now();
            for _ in 0..count {
                // SAFETY: a valid fd and a one-byte buffer that lives across the call.
                unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
            }
            Ok((start.elapsed(), count))
        }
        "tcp-64" => {
            let listener = TcpListener::bind(("127.0.0.1", 0))?;
            let client = TcpStream::connect(listener.local_addr()?)?;
            client.set_nodelay(true)?;
            let (server, _) = listener.accept()?;
            let (c, s) = (client.as_raw_fd(), server.as_raw_fd());
            let out = [b'x'; PAYLOAD];
            let mut buf = [0u8; PAYLOAD];
            let start = Instant::now();
            for _ in 0..count {
                // SAFETY: valid fds and buffers of PAYLOAD bytes that live across the calls.
                let w = unsafe { libc::write(c, out.as_ptr().cast(), PAYLOAD) };
                let mut got = 0usize;
                while got < PAYLOAD {
                    // SAFETY: as above, reading into the rest of the buffer.
                    let r = unsafe { libc::read(s, buf[got..].as_mut_ptr().cast(), PAYLOAD - got) };
                    if r <= 0 {
                        bail!("read on the loopback socket failed");
                    }
                    got += r as usize;
                }
                if w != PAYLOAD as isize {
                    bail!("short write on the loopback socket");
                }
            }
            Ok((start.elapsed(), 2 * count))
        }
        other => bail!("unknown probe mode {other:?}"),
    }
}

/// The child's main loop.
pub fn serve() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let (Some(mode), Some(count)) = (words.next(), words.next()) else {
            continue;
        };
        let (ns, syscalls) = run_mode(mode, count.parse().context("count")?)?;
        writeln!(out, "done {ns} {syscalls}")?;
        out.flush()?;
    }
    Ok(())
}
