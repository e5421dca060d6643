//! One measured run with the agent attached: start sonde, snapshot its CPU time and kernel
//! program counters, let the caller run the load, snapshot again, stop sonde (which flushes),
//! and count what reached the sink.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::agent::{Agent, Selection};
use crate::bpfstats::{self, ProgStats};
use crate::ctx::Ctx;
use crate::procfs;
use crate::sink::Received;

/// Time for sonde to settle after /healthz turns 200 (initial /proc scan, first poll).
const SETTLE: Duration = Duration::from_millis(300);

/// What sonde cost and delivered during the load.
#[derive(Clone, Debug, Default)]
pub struct AgentCost {
    /// utime + stime of the sonde process during the load.
    pub cpu: Duration,
    /// VmHWM at the end of the load (sonde was started fresh for this run).
    pub peak_rss: u64,
    /// VmHWM once attached, before the load: what start-up alone costs.
    pub idle_peak_rss: u64,
    /// Resident memory at the end of the load: anonymous, file-backed, shared (ring buffer).
    pub rss_kinds: (u64, u64, u64),
    /// Resident memory at the end of the load by mapping, largest first.
    pub rss_by_mapping: Vec<(String, u64)>,
    /// Kernel programs during the load, by name.
    pub progs: BTreeMap<String, ProgStats>,
    /// Spans and requests that reached the sink, including the flush at shutdown.
    pub received: Received,
    /// sonde's threads during the load, by name: CPU and voluntary context switches.
    pub threads: BTreeMap<String, procfs::ThreadStat>,
    /// sonde's own /metrics at the end of the load.
    pub metrics: BTreeMap<String, f64>,
}

impl AgentCost {
    /// `sonde-capture 1.20 µs CPU per request and 0.3 wake-ups per 1k requests; ...`.
    pub fn threads_per(&self, requests: u64) -> String {
        let n = requests.max(1) as f64;
        let mut v: Vec<_> = self
            .threads
            .iter()
            .filter(|(_, t)| !t.cpu.is_zero() || t.wakeups > 0)
            .collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.1.cpu));
        v.iter()
            .map(|(name, t)| {
                format!(
                    "`{name}` {:.2} µs CPU per request and {:.1} wake-ups per 1k requests",
                    t.cpu.as_secs_f64() * 1e6 / n,
                    t.wakeups as f64 * 1000.0 / n
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `12.3 MiB [heap], 8.0 MiB anon_inode:bpf-ringbuf, ...`: the largest mappings.
    pub fn rss_top(&self, n: usize) -> String {
        self.rss_by_mapping
            .iter()
            .take(n)
            .map(|(name, bytes)| {
                let short = name.rsplit('/').next().unwrap_or(name);
                format!("{:.1} MiB {short}", *bytes as f64 / 1048576.0)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn metric(&self, name: &str) -> f64 {
        self.metrics.get(name).copied().unwrap_or(f64::NAN)
    }
}

/// Runs `load` with sonde attached and returns its result with what sonde cost.
pub fn with_agent<T>(
    ctx: &Ctx,
    selection: &Selection,
    log_name: &str,
    load: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(T, AgentCost)> {
    let sink_before = ctx.sink.received();
    let agent = Agent::start(
        &ctx.sonde,
        selection,
        &ctx.sink.endpoint(),
        &ctx.log_dir(log_name)?,
    )?;
    std::thread::sleep(SETTLE);
    let pid = agent.pid();
    let bpf_before = bpfstats::snapshot(pid)?;
    ctx.note_own_programs(bpf_before.keys().copied());
    let threads_before = procfs::threads(pid);
    let cpu_before = procfs::cpu_time(pid)?;
    let idle_peak_rss = procfs::peak_rss(pid)?;
    let result = load()?;
    let cpu_after = procfs::cpu_time(pid)?;
    let threads_after = procfs::threads(pid);
    let bpf_after = bpfstats::snapshot(pid)?;
    let peak_rss = procfs::peak_rss(pid)?;
    let rss_kinds = procfs::rss_kinds(pid)?;
    let rss_by_mapping = procfs::rss_by_mapping(pid).unwrap_or_default();
    let metrics = agent.metrics().unwrap_or_default();
    agent.stop()?;
    let cost = AgentCost {
        cpu: cpu_after.saturating_sub(cpu_before),
        peak_rss,
        idle_peak_rss,
        rss_kinds,
        rss_by_mapping,
        threads: threads_after
            .into_iter()
            .map(|(name, a)| {
                let b = threads_before.get(&name).cloned().unwrap_or_default();
                let d = procfs::ThreadStat {
                    cpu: a.cpu.saturating_sub(b.cpu),
                    wakeups: a.wakeups.saturating_sub(b.wakeups),
                };
                (name, d)
            })
            .collect(),
        progs: bpfstats::delta(&bpf_before, &bpf_after),
        received: ctx.sink.received() - sink_before,
        metrics,
    };
    Ok((result, cost))
}

/// Kernel program counters summed over several runs.
pub fn total_progs(costs: &[&AgentCost]) -> BTreeMap<String, ProgStats> {
    let mut total = BTreeMap::new();
    for c in costs {
        bpfstats::accumulate(&mut total, &c.progs);
    }
    total
}

/// The markdown table of per-program averages, with per-request figures when `requests` > 0.
pub fn progs_table(progs: &BTreeMap<String, ProgStats>, requests: u64) -> String {
    let names: BTreeSet<&String> = progs.keys().collect();
    let rows: Vec<Vec<String>> = names
        .into_iter()
        .map(|name| {
            let p = &progs[name];
            let per_req = |x: f64| {
                if requests > 0 {
                    format!("{:.2}", x / requests as f64)
                } else {
                    "n/a".into()
                }
            };
            vec![
                format!("`{name}`"),
                crate::report::int(p.run_cnt as f64),
                p.avg_ns().map_or("n/a".into(), |ns| format!("{ns:.0}")),
                per_req(p.run_cnt as f64),
                per_req(p.run_time_ns as f64 / 1000.0),
            ]
        })
        .collect();
    crate::report::table(
        &[
            "program",
            "invocations",
            "avg ns / invocation",
            "invocations / request",
            "µs / request",
        ],
        &rows,
    )
}
