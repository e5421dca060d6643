//! Loads the kernel object, sizes its maps, attaches its programs, and hands out the maps
//! the agent needs. Only this module and `capture` touch the kernel.

pub mod offsets;

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, RawTracePoint},
};
use sonde_common::{ConnEntry, conn_state, globals, maps, role, stat};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Offsets(#[from] offsets::OffsetError),
    #[error("loading the kernel object: {0}")]
    Ebpf(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("reading the kernel's BTF: {0}")]
    Btf(String),
    #[error("map {0} missing from the kernel object")]
    MissingMap(&'static str),
}

/// The kernel object, built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sonde-ebpf"));

/// (program name, raw tracepoint) of the process-lifecycle programs.
const PROGRAMS: [(&str, &str); 3] = [
    ("sonde_exec", "sched_process_exec"),
    ("sonde_exit", "sched_process_exit"),
    ("sonde_fork", "sched_process_fork"),
];

/// (program name, BTF-typed tracepoint) of the connection programs. The TCP state program
/// comes first, so that connections opened from then on carry their role; the socket I/O
/// programs are attached last: once they are, capture starts, and the process bookkeeping
/// is already in place.
const BTF_PROGRAMS: [(&str, &str); 3] = [
    ("sonde_tcp_state", "inet_sock_set_state"),
    ("sonde_sock_recv", "sock_recv_length"),
    ("sonde_sock_send", "sock_send_length"),
];

fn program_error(name: &'static str) -> impl FnOnce(aya::programs::ProgramError) -> LoadError {
    move |source| LoadError::Program { name, source }
}

fn btf_program<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut BtfTracePoint, LoadError> {
    ebpf.program_mut(name)
        .ok_or(LoadError::Program {
            name,
            source: aya::programs::ProgramError::NotLoaded,
        })?
        .try_into()
        .map_err(program_error(name))
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub self_tgid: u32,
    pub filter_flags: u32,
    /// Ring buffer size in bytes; a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// Entries of the kernel's connection table (one per TCP socket seen).
    pub max_connections: u32,
}

impl LoadOptions {
    /// Wake the agent once an eighth of the ring buffer is pending: early enough that a
    /// burst never fills it between two drains, late enough to batch hundreds of events.
    pub fn wakeup_bytes(&self) -> u64 {
        (self.ring_buffer_bytes / 8) as u64
    }
}

/// Loaded and attached kernel side. Dropping it detaches every program.
pub struct Kernel {
    _ebpf: Ebpf,
    pub events: RingBuf<MapData>,
    pub watch_pids: HashMap<MapData, u32, u8>,
    pub watch_ports: HashMap<MapData, u32, u8>,
    pub self_ports: HashMap<MapData, u32, u8>,
    pub stats: PerCpuArray<MapData, u64>,
    /// The kernel's connection table (socket cookie -> verdict), for muting.
    conns: HashMap<MapData, u64, ConnEntry>,
}

/// Totals of the kernel's per-CPU counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    pub events_submitted: u64,
    pub ringbuf_full: u64,
    pub copy_failed: u64,
    pub truncated_events: u64,
    pub conns_full: u64,
    pub iovec_overflow: u64,
    pub watch_pids_full: u64,
    pub self_ports_full: u64,
}

/// Loads the object and creates its maps, without attaching anything yet.
pub fn load(options: &LoadOptions) -> Result<Kernel, LoadError> {
    let offsets = offsets::kernel_offsets()?;
    let mut ebpf = EbpfLoader::new()
        .override_global(globals::SELF_TGID, &options.self_tgid, true)
        .override_global(globals::FILTER_FLAGS, &options.filter_flags, true)
        .override_global(globals::OFFSETS, &offsets, true)
        .override_global(globals::WAKEUP_BYTES, &options.wakeup_bytes(), true)
        .map_max_entries(maps::EVENTS, options.ring_buffer_bytes)
        .map_max_entries(maps::CONNS, options.max_connections)
        .load(OBJECT)?;
    for (name, _) in PROGRAMS {
        let program: &mut RawTracePoint = ebpf
            .program_mut(name)
            .ok_or(LoadError::Program {
                name,
                source: aya::programs::ProgramError::NotLoaded,
            })?
            .try_into()
            .map_err(|source| LoadError::Program { name, source })?;
        program
            .load()
            .map_err(|source| LoadError::Program { name, source })?;
    }
    // The loader's own copy of the kernel's BTF is gone by now; parse it again only for the
    // tp_btf programs, so that two parses (tens of MiB) are never resident at once.
    let btf = aya::Btf::from_sys_fs().map_err(|e| LoadError::Btf(e.to_string()))?;
    for (name, tracepoint) in BTF_PROGRAMS {
        btf_program(&mut ebpf, name)?
            .load(tracepoint, &btf)
            .map_err(program_error(name))?;
    }
    drop(btf);
    let mut take = |name: &'static str| ebpf.take_map(name).ok_or(LoadError::MissingMap(name));
    let events = RingBuf::try_from(take(maps::EVENTS)?).map_err(|source| LoadError::Map {
        name: maps::EVENTS,
        source,
    })?;
    let watch_pids =
        HashMap::try_from(take(maps::WATCH_PIDS)?).map_err(|source| LoadError::Map {
            name: maps::WATCH_PIDS,
            source,
        })?;
    let watch_ports =
        HashMap::try_from(take(maps::WATCH_PORTS)?).map_err(|source| LoadError::Map {
            name: maps::WATCH_PORTS,
            source,
        })?;
    let self_ports =
        HashMap::try_from(take(maps::SELF_PORTS)?).map_err(|source| LoadError::Map {
            name: maps::SELF_PORTS,
            source,
        })?;
    let stats = PerCpuArray::try_from(take(maps::STATS)?).map_err(|source| LoadError::Map {
        name: maps::STATS,
        source,
    })?;
    let conns = HashMap::try_from(take(maps::CONNS)?).map_err(|source| LoadError::Map {
        name: maps::CONNS,
        source,
    })?;
    Ok(Kernel {
        _ebpf: ebpf,
        events,
        watch_pids,
        watch_ports,
        self_ports,
        stats,
        conns,
    })
}

impl Kernel {
    /// Attaches every program. Capture starts when this returns Ok.
    pub fn attach(&mut self) -> Result<(), LoadError> {
        for (name, tracepoint) in PROGRAMS {
            let program: &mut RawTracePoint = self
                ._ebpf
                .program_mut(name)
                .ok_or(LoadError::Program {
                    name,
                    source: aya::programs::ProgramError::NotLoaded,
                })?
                .try_into()
                .map_err(|source| LoadError::Program { name, source })?;
            program
                .attach(tracepoint)
                .map_err(|source| LoadError::Program { name, source })?;
        }
        for (name, _) in BTF_PROGRAMS {
            btf_program(&mut self._ebpf, name)?
                .attach()
                .map_err(program_error(name))?;
        }
        Ok(())
    }

    pub fn watch_pid(&mut self, pid: u32) -> Result<(), LoadError> {
        self.watch_pids
            .insert(pid, 1, 0)
            .map_err(|source| LoadError::Map {
                name: maps::WATCH_PIDS,
                source,
            })
    }

    pub fn unwatch_pid(&mut self, pid: u32) {
        // Absent keys are fine: the kernel removes exited processes itself.
        let _ = self.watch_pids.remove(&pid);
    }

    pub fn watch_port(&mut self, port: u16) -> Result<(), LoadError> {
        self.watch_ports
            .insert(port as u32, 1, 0)
            .map_err(|source| LoadError::Map {
                name: maps::WATCH_PORTS,
                source,
            })
    }

    pub fn add_self_port(&mut self, port: u16) -> Result<(), LoadError> {
        self.self_ports
            .insert(port as u32, 1, 0)
            .map_err(|source| LoadError::Map {
                name: maps::SELF_PORTS,
                source,
            })
    }

    /// Stops capturing a connection's payload (the agent will never make a span from it):
    /// its kernel table entry becomes IGNORED, so its reads and writes cost one lookup and no
    /// event. `announced` stays set, so its close still reaches the agent. A connection that
    /// has closed meanwhile has no entry, and none is made (BPF_EXIST).
    pub fn mute(&mut self, conn_id: u64) {
        const BPF_EXIST: u64 = 2;
        let entry = ConnEntry {
            state: conn_state::IGNORED,
            role: role::UNKNOWN,
            ports_match: 0,
            announced: 1,
        };
        let _ = self.conns.insert(conn_id, entry, BPF_EXIST);
    }

    pub fn stats(&self) -> KernelStats {
        let total = |index: u32| -> u64 {
            self.stats
                .get(&index, 0)
                .map(|per_cpu| per_cpu.iter().sum())
                .unwrap_or(0)
        };
        KernelStats {
            events_submitted: total(stat::EVENTS_SUBMITTED),
            ringbuf_full: total(stat::RINGBUF_FULL),
            copy_failed: total(stat::COPY_FAILED),
            truncated_events: total(stat::TRUNCATED_EVENTS),
            conns_full: total(stat::CONNS_FULL),
            iovec_overflow: total(stat::IOVEC_OVERFLOW),
            watch_pids_full: total(stat::WATCH_PIDS_FULL),
            self_ports_full: total(stat::SELF_PORTS_FULL),
        }
    }
}
