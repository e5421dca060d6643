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

/// Size of each message of the socket loop: small, like an HTTP request head.
const PAYLOAD: usize = 64;
/// The socket loop's messages, padded to [`PAYLOAD`] bytes by [`http_message`].
const REQUEST: &str = "GET /probe HTTP/1.1\r\nHost: probe\r\nX-Pad: ";
const RESPONSE: &str = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: ";

/// Chunks per loop; the fastest one is reported.
const CHUNKS: u64 = 20;

/// The loops, by name: a syscall that is not I/O, file I/O, and socket I/O (an HTTP exchange).
pub const MODES: &[&str] = &["getppid", "read-devzero", "http-64"];

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
        "http-64" => {
            let listener = TcpListener::bind(("127.0.0.1", 0))?;
            let client = TcpStream::connect(listener.local_addr()?)?;
            client.set_nodelay(true)?;
            let (server, _) = listener.accept()?;
            server.set_nodelay(true)?;
            let (c, s) = (client.as_raw_fd(), server.as_raw_fd());
            let (request, response) = (http_message(REQUEST), http_message(RESPONSE));
            let mut buf = [0u8; PAYLOAD];
            let start = Instant::now();
            for _ in 0..count {
                // One small HTTP exchange, so that sonde keeps capturing the connection (an
                // unknown protocol would be muted after a few reads) and makes its two spans.
                send_all(c, &request)?;
                recv_exact(s, &mut buf)?;
                send_all(s, &response)?;
                recv_exact(c, &mut buf)?;
            }
            Ok((start.elapsed(), 4 * count))
        }
        other => bail!("unknown probe mode {other:?}"),
    }
}

/// `head` padded with a header value to exactly [`PAYLOAD`] bytes, ending the head.
fn http_message(head: &str) -> [u8; PAYLOAD] {
    let mut out = [b'x'; PAYLOAD];
    out[..head.len()].copy_from_slice(head.as_bytes());
    out[PAYLOAD - 4..].copy_from_slice(b"\r\n\r\n");
    out
}

fn send_all(fd: i32, bytes: &[u8]) -> anyhow::Result<()> {
    // SAFETY: a valid fd and a buffer that lives across the call.
    let w = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if w != bytes.len() as isize {
        bail!("short write on the loopback socket");
    }
    Ok(())
}

fn recv_exact(fd: i32, buf: &mut [u8]) -> anyhow::Result<()> {
    let mut got = 0usize;
    while got < buf.len() {
        // SAFETY: as above, reading into the rest of the buffer.
        let r = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if r <= 0 {
            bail!("read on the loopback socket failed");
        }
        got += r as usize;
    }
    Ok(())
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
