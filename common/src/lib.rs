//! Wire types shared by the kernel programs and the agent.
//!
//! Every type is `#[repr(C)]`, starts with [`EventHeader`] where it is an event, uses only
//! fixed-width integers (no bool, no enums on the wire) and has its size checked at compile
//! time, so that the kernel object and the agent can never disagree about a layout.
#![no_std]

#[cfg(feature = "user")]
pub mod decode;

/// Bytes of payload copied per data event. Power of two so the kernel can mask lengths.
pub const CAPTURE_BYTES: usize = 4096;
/// Payload of the small data event used when a call moved at most this many bytes: most
/// request heads, SQL statements and Redis commands fit, and a small record takes an eighth
/// of the ring-buffer space (so the same buffer holds eight times the burst).
pub const SMALL_CAPTURE_BYTES: usize = 464;
/// iovec entries copied per readv/writev/sendmsg/recvmsg call; the rest is reported as a gap.
pub const MAX_IOVECS: u32 = 8;

/// Map names, shared so the loader and the kernel object agree.
pub mod maps {
    pub const EVENTS: &str = "EVENTS";
    pub const CONNS: &str = "CONNS";
    pub const WATCH_PIDS: &str = "WATCH_PIDS";
    pub const WATCH_PORTS: &str = "WATCH_PORTS";
    pub const SELF_PORTS: &str = "SELF_PORTS";
    pub const STATS: &str = "STATS";
}

/// Global (read-only data) names set by the loader before load.
pub mod globals {
    pub const SELF_TGID: &str = "SELF_TGID";
    pub const FILTER_FLAGS: &str = "FILTER_FLAGS";
    pub const OFFSETS: &str = "OFFSETS";
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
}

/// Bits of `FILTER_FLAGS`. With neither set, every process except sonde is watched.
pub mod filter {
    /// Processes in `WATCH_PIDS` are watched.
    pub const BY_PID: u32 = 1;
    /// Connections whose local or peer port is in `WATCH_PORTS` are watched.
    pub const BY_PORT: u32 = 2;
}

/// Event kinds. The numbers never change: they are the wire format.
pub mod kind {
    pub const DATA: u32 = 1;
    pub const CONN_OPEN: u32 = 2;
    pub const CONN_CLOSE: u32 = 3;
    pub const PROC_EXEC: u32 = 4;
    pub const PROC_EXIT: u32 = 5;
}

/// Data direction, seen from the watched process.
pub mod direction {
    /// The process read these bytes (read, recv*, readv).
    pub const INGRESS: u32 = 0;
    /// The process wrote these bytes (write, send*, writev, sendfile).
    pub const EGRESS: u32 = 1;
}

/// How a connection became known.
pub mod role {
    /// Seen first in a data call: it was open before sonde, or its opening was missed.
    pub const UNKNOWN: u32 = 0;
    /// Opened passively (SYN_RECV -> ESTABLISHED): the process is the server.
    pub const ACCEPTED: u32 = 1;
    /// Opened actively (connect: CLOSE -> SYN_SENT): the process is the client.
    pub const CONNECTED: u32 = 2;
}

/// Indices into the per-CPU `STATS` array.
pub mod stat {
    /// Events written to the ring buffer.
    pub const EVENTS_SUBMITTED: u32 = 0;
    /// Events dropped because the ring buffer was full.
    pub const RINGBUF_FULL: u32 = 1;
    /// Copies from user memory that failed (the event goes out with no payload).
    pub const COPY_FAILED: u32 = 2;
    /// Data events whose payload was cut to `CAPTURE_BYTES` or left out (sendfile).
    pub const TRUNCATED_EVENTS: u32 = 3;
    /// Connection-table inserts that failed.
    pub const CONNS_FULL: u32 = 4;
    /// iovecs or messages past the copy limits, reported as gaps.
    pub const IOVEC_OVERFLOW: u32 = 5;
    /// Children of watched processes that did not fit the watch list.
    pub const WATCH_PIDS_FULL: u32 = 6;
    /// sonde's own local ports that did not fit SELF_PORTS.
    pub const SELF_PORTS_FULL: u32 = 7;
    pub const COUNT: u32 = 8;
}

/// First field of every event.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    pub kind: u32,
    /// Thread-group id, i.e. the process id users see.
    pub pid: u32,
    pub tid: u32,
    /// The syscall's first argument: the socket's descriptor for every socket call. 0 for
    /// connection and process events.
    pub fd: u32,
    /// CLOCK_MONOTONIC nanoseconds when the call finished.
    pub ts_ns: u64,
    /// Identity of the connection: the kernel's socket cookie, unique per boot, so a reused
    /// descriptor or socket address never mixes two connections. 0 for process events.
    pub conn_id: u64,
}

/// A slice of one socket I/O call, with room for `N` payload bytes. Both sizes share the
/// layout up to `data`; the decoder tells them apart by the record length.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DataEventN<const N: usize> {
    pub header: EventHeader,
    /// Bytes the call really moved for this piece (the syscall result, or one iovec's share).
    pub len: u32,
    /// Bytes copied into `data`; less than `len` means truncated.
    pub captured: u32,
    /// One of [`direction`].
    pub direction: u32,
    /// The syscall that moved the bytes (x86_64 number), for diagnostics; a call the kernel
    /// programs cannot read payload from (sendfile, splice, io_uring) gives a gap.
    pub syscall: u32,
    pub data: [u8; N],
}

pub type DataEvent = DataEventN<CAPTURE_BYTES>;
pub type SmallDataEvent = DataEventN<SMALL_CAPTURE_BYTES>;

/// A TCP connection seen for the first time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnEvent {
    pub header: EventHeader,
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u32,
    /// One of [`role`].
    pub role: u32,
    pub local_port: u32,
    pub peer_port: u32,
    /// IPv4 addresses use the first four bytes, in network order.
    pub local_addr: [u8; 16],
    pub peer_addr: [u8; 16],
    /// The thread's command name (NUL-padded): the service name of last resort when the
    /// process has exited before the agent could read /proc.
    pub comm: [u8; 16],
}

/// Connection close (kind CONN_CLOSE) or process exec/exit (PROC_EXEC, PROC_EXIT): header only.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmallEvent {
    pub header: EventHeader,
}

/// Value of the kernel connection table, keyed by socket cookie. One entry per TCP socket
/// that sonde has seen opening or doing I/O; removed when the socket closes (LRU otherwise).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnEntry {
    /// One of [`conn_state`].
    pub state: u32,
    /// One of [`role`].
    pub role: u32,
    /// Non-zero when the local or peer port is one of `WATCH_PORTS`.
    pub ports_match: u32,
    /// Non-zero once CONN_OPEN went to the agent.
    pub announced: u32,
}

pub mod conn_state {
    /// Only the opening was seen (role known); the filters have not been applied yet.
    pub const HINT: u32 = 1;
    /// Seen in a data call; `ports_match` is set.
    pub const OPEN: u32 = 2;
    /// Never captured: the far end of sonde's own connections, kernel threads' sockets, and
    /// connections the agent muted (no span can come of them); the close of a muted one is
    /// still announced.
    pub const IGNORED: u32 = 3;
    /// One of sonde's own connections: its local port is in `SELF_PORTS` while it lives.
    pub const SELF: u32 = 4;
}

/// Byte offsets inside kernel structures, read from the running kernel's BTF by the loader.
/// The kernel programs read through BTF-typed pointers at these offsets (globals in frozen
/// read-only data, so the verifier sees them as constants), which makes the object portable
/// across kernel builds without CO-RE relocations (which aya-ebpf cannot emit from Rust).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_flags: u32,
    pub sk_family: u32,
    pub sk_num: u32,
    pub sk_dport: u32,
    pub sk_rcv_saddr: u32,
    pub sk_daddr: u32,
    pub sk_v6_rcv_saddr: u32,
    pub sk_v6_daddr: u32,
    pub sk_type: u32,
    pub sk_protocol: u32,
    /// Non-zero once the loader filled the table; the kernel programs do nothing before that.
    pub valid: u32,
}

const _: () = assert!(core::mem::size_of::<EventHeader>() == 32);
const _: () = assert!(core::mem::size_of::<DataEvent>() == 48 + CAPTURE_BYTES);
const _: () = assert!(core::mem::size_of::<SmallDataEvent>() == 512);
const _: () = assert!(core::mem::size_of::<ConnEvent>() == 32 + 16 + 32 + 16);
const _: () = assert!(core::mem::size_of::<SmallEvent>() == 32);
const _: () = assert!(core::mem::size_of::<ConnEntry>() == 16);
const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 13 * 4);
const _: () = assert!(CAPTURE_BYTES.is_power_of_two());

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type is repr(C), made only of integers and integer arrays, with no padding
    // (checked by the size asserts above), so any byte pattern is a valid value.
    unsafe impl aya::Pod for super::ConnEntry {}
    unsafe impl aya::Pod for super::KernelOffsets {}
}
