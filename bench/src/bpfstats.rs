//! Kernel-side cost of sonde's programs: with `kernel.bpf_stats_enabled=1` the kernel keeps a
//! run count and total run time per program, shown in /proc/<pid>/fdinfo of each program fd.
//! Names come from `bpftool prog show id N -j` when bpftool is installed.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::Context as _;

const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// Turns the statistics on for as long as it lives; restores the old setting on drop.
pub struct StatsEnabled {
    previous: String,
}

impl StatsEnabled {
    pub fn new() -> anyhow::Result<StatsEnabled> {
        let previous = std::fs::read_to_string(SYSCTL)
            .with_context(|| format!("reading {SYSCTL}"))?
            .trim()
            .to_owned();
        std::fs::write(SYSCTL, "1").with_context(|| format!("writing 1 to {SYSCTL}"))?;
        Ok(StatsEnabled { previous })
    }
}

impl Drop for StatsEnabled {
    fn drop(&mut self) {
        let _ = std::fs::write(SYSCTL, &self.previous);
    }
}

/// One program's counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

impl ProgStats {
    pub fn avg_ns(&self) -> Option<f64> {
        (self.run_cnt > 0).then(|| self.run_time_ns as f64 / self.run_cnt as f64)
    }
}

/// sonde's socket I/O programs (ebpf/src/sock_io.rs): together they are the per-event cost.
pub const SOCKET_IO: [&str; 2] = ["sonde_sock_send", "sonde_sock_recv"];

/// The socket I/O programs' counters added up, if any ran.
pub fn socket_io(progs: &BTreeMap<String, ProgStats>) -> Option<ProgStats> {
    let mut sum = ProgStats {
        name: "sonde_sock_send + sonde_sock_recv".into(),
        ..ProgStats::default()
    };
    let mut any = false;
    for p in SOCKET_IO.iter().filter_map(|name| progs.get(*name)) {
        sum.run_cnt += p.run_cnt;
        sum.run_time_ns += p.run_time_ns;
        any = true;
    }
    any.then_some(sum)
}

/// The programs `pid` holds, keyed by program id.
pub fn snapshot(pid: u32) -> anyhow::Result<BTreeMap<u32, ProgStats>> {
    let mut progs = BTreeMap::new();
    let dir = format!("/proc/{pid}/fd");
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let entry = entry?;
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.to_string_lossy() != "anon_inode:bpf-prog" {
            continue;
        }
        let fd = entry.file_name();
        let Ok(info) =
            std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_string_lossy()))
        else {
            continue;
        };
        let field = |key: &str| -> Option<u64> {
            info.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
        };
        let Some(id) = field("prog_id") else { continue };
        progs.entry(id as u32).or_insert_with(|| ProgStats {
            name: String::new(),
            run_cnt: field("run_cnt").unwrap_or(0),
            run_time_ns: field("run_time_ns").unwrap_or(0),
        });
    }
    for (id, stats) in &mut progs {
        stats.name = prog_name(*id).unwrap_or_else(|| format!("prog {id}"));
    }
    Ok(progs)
}

fn prog_name(id: u32) -> Option<String> {
    let out = Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string(), "-j"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get("name")?.as_str().map(str::to_owned)
}

/// What happened between two snapshots of the same process, by program name.
pub fn delta(
    before: &BTreeMap<u32, ProgStats>,
    after: &BTreeMap<u32, ProgStats>,
) -> BTreeMap<String, ProgStats> {
    after
        .iter()
        .map(|(id, a)| {
            let b = before.get(id).cloned().unwrap_or_default();
            (
                a.name.clone(),
                ProgStats {
                    name: a.name.clone(),
                    run_cnt: a.run_cnt.saturating_sub(b.run_cnt),
                    run_time_ns: a.run_time_ns.saturating_sub(b.run_time_ns),
                },
            )
        })
        .collect()
}

/// Sums per-run deltas, program by program.
pub fn accumulate(total: &mut BTreeMap<String, ProgStats>, run: &BTreeMap<String, ProgStats>) {
    for (name, s) in run {
        let t = total.entry(name.clone()).or_insert_with(|| ProgStats {
            name: name.clone(),
            ..ProgStats::default()
        });
        t.run_cnt += s.run_cnt;
        t.run_time_ns += s.run_time_ns;
    }
}

/// Tracing programs loaded on the host now (raw tracepoints, tracepoints, kprobes, fentry),
/// by id and name, from `bpftool prog show -j`. Called while no sonde of the harness runs,
/// it lists other engineers' agents, whose hooks slow every syscall of the runs without
/// sonde too.
pub fn tracing_programs() -> BTreeMap<u32, String> {
    let Ok(out) = Command::new("bpftool")
        .args(["prog", "show", "-j"])
        .output()
    else {
        return BTreeMap::new();
    };
    let Ok(serde_json::Value::Array(progs)) = serde_json::from_slice(&out.stdout) else {
        return BTreeMap::new();
    };
    progs
        .iter()
        .filter(|p| {
            matches!(
                p["type"].as_str(),
                Some("raw_tracepoint" | "tracepoint" | "tracing" | "kprobe")
            )
        })
        .filter_map(|p| {
            Some((
                p["id"].as_u64()? as u32,
                p["name"].as_str().unwrap_or("?").to_owned(),
            ))
        })
        .collect()
}
