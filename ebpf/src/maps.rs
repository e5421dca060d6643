//! Maps and load-time globals. Every map has a fixed bound; the loader may resize the ring
//! buffer and the connection table from the configuration.

use aya_ebpf::{
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use sonde_common::{ConnEntry, KernelOffsets, stat};

/// All events to the agent. 16 MiB by default (about 4,000 full data events in flight).
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Socket cookie -> what sonde knows of that TCP socket. Entries go when the socket closes;
/// LRU so that a missed close cannot fill it.
#[map(name = "CONNS")]
pub static CONNS: LruHashMap<u64, ConnEntry> = LruHashMap::with_max_entries(65536, 0);

/// Process ids selected by --pid / --exe (and their children).
#[map(name = "WATCH_PIDS")]
pub static WATCH_PIDS: HashMap<u32, u8> = HashMap::with_max_entries(8192, 0);

/// Ports selected by --port; a connection with either end on one of them is watched.
#[map(name = "WATCH_PORTS")]
pub static WATCH_PORTS: HashMap<u32, u8> = HashMap::with_max_entries(256, 0);

/// sonde's own local ports (export connections, operations endpoint): a connection whose peer
/// is one of them is sonde's own traffic seen from the other end, and is never traced.
#[map(name = "SELF_PORTS")]
pub static SELF_PORTS: HashMap<u32, u8> = HashMap::with_max_entries(1024, 0);

/// Loss and volume counters, indexed by `sonde_common::stat`.
#[map(name = "STATS")]
pub static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stat::COUNT, 0);

#[unsafe(no_mangle)]
static SELF_TGID: u32 = 0;

#[unsafe(no_mangle)]
static FILTER_FLAGS: u32 = 0;

/// Pending ring-buffer bytes past which a submit wakes the agent. Below it, submits do not
/// wake anyone and the agent drains on its own timer: one wake-up per batch instead of one
/// per event (each wake-up is an irq_work plus a context switch on the hot path).
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 0;

#[unsafe(no_mangle)]
static OFFSETS: KernelOffsets = KernelOffsets {
    task_pid: 0,
    task_tgid: 0,
    task_flags: 0,
    sk_family: 0,
    sk_num: 0,
    sk_dport: 0,
    sk_rcv_saddr: 0,
    sk_daddr: 0,
    sk_v6_rcv_saddr: 0,
    sk_v6_daddr: 0,
    sk_type: 0,
    sk_protocol: 0,
    valid: 0,
};

// The globals live in .rodata and are patched by the loader; read_volatile keeps the compiler
// from folding the zero initialisers into the code.
#[inline(always)]
pub fn self_tgid() -> u32 {
    // SAFETY: plain read of a static that is never written after load.
    unsafe { core::ptr::read_volatile(&SELF_TGID) }
}

#[inline(always)]
pub fn filter_flags() -> u32 {
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&FILTER_FLAGS) }
}

/// Flags for `bpf_ringbuf_submit`: wake the agent only when a batch is waiting.
#[inline(always)]
pub fn submit_flags() -> u64 {
    const BPF_RB_AVAIL_DATA: u64 = 0;
    const BPF_RB_NO_WAKEUP: u64 = 1;
    const BPF_RB_FORCE_WAKEUP: u64 = 2;
    // SAFETY: plain read of a static that is never written after load.
    let threshold = unsafe { core::ptr::read_volatile(&WAKEUP_BYTES) };
    if EVENTS.query(BPF_RB_AVAIL_DATA) >= threshold {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

#[inline(always)]
pub fn offsets() -> KernelOffsets {
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&OFFSETS) }
}

/// Sets what sonde knows of the socket `cookie`; a failed insert is counted.
#[inline(always)]
pub fn remember(cookie: u64, entry: ConnEntry) {
    if CONNS.insert(cookie, entry, 0).is_err() {
        count(stat::CONNS_FULL, 1);
    }
}

#[inline(always)]
pub fn count(index: u32, by: u64) {
    if let Some(slot) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, and programs do not preempt each other on one CPU.
        unsafe { *slot += by };
    }
}
