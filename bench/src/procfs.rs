//! What /proc says about a process: CPU time (utime + stime), peak RSS, children.

use std::time::Duration;

use anyhow::Context as _;

/// Clock ticks per second of /proc/<pid>/stat times.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// The fields of /proc/<pid>/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> anyhow::Result<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let close = stat.rfind(')').context("no ')' in /proc/<pid>/stat")?;
    Ok(stat[close + 1..]
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// User plus system CPU time the process (all its threads) has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let f = stat_fields(pid)?;
    // Fields 14 and 15 (utime, stime) are at 11 and 12 counting from field 3.
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(
        ticks as f64 / ticks_per_second() as f64,
    ))
}

/// CPU time of several processes together.
pub fn cpu_time_sum(pids: &[u32]) -> anyhow::Result<Duration> {
    pids.iter().map(|&p| cpu_time(p)).sum()
}

/// A `kB` line of /proc/<pid>/status, in bytes.
fn status_kb(pid: u32, key: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .with_context(|| format!("no {key} in /proc/{pid}/status"))?;
    let kb: u64 = line
        .trim_start_matches(':')
        .split_whitespace()
        .next()
        .context("empty status line")?
        .parse()?;
    Ok(kb * 1024)
}

/// Peak resident set size (VmHWM).
pub fn peak_rss(pid: u32) -> anyhow::Result<u64> {
    status_kb(pid, "VmHWM")
}

/// Resident memory by kind now: (anonymous, file-backed, shared), from /proc/<pid>/status.
pub fn rss_kinds(pid: u32) -> anyhow::Result<(u64, u64, u64)> {
    Ok((
        status_kb(pid, "RssAnon")?,
        status_kb(pid, "RssFile")?,
        status_kb(pid, "RssShmem")?,
    ))
}

/// Resident memory by mapping name (file path, `[heap]`, `anon_inode:bpf-ringbuf`, or
/// `[anonymous]`), largest first, from /proc/<pid>/smaps.
pub fn rss_by_mapping(pid: u32) -> anyhow::Result<Vec<(String, u64)>> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let mut by_name: std::collections::BTreeMap<String, u64> = Default::default();
    let mut current = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // `start-end perms offset dev inode [name]`
            let name: Vec<&str> = words.skip(4).collect();
            current = if name.is_empty() {
                "[anonymous]".to_owned()
            } else {
                name.join(" ")
            };
        } else if first == "Rss:" {
            let kb: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *by_name.entry(current.clone()).or_default() += kb * 1024;
        }
    }
    let mut v: Vec<(String, u64)> = by_name.into_iter().filter(|(_, b)| *b > 0).collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    Ok(v)
}

/// One thread's CPU time and voluntary context switches (each one a sleep and a wake-up).
#[derive(Clone, Debug, Default)]
pub struct ThreadStat {
    pub cpu: Duration,
    pub wakeups: u64,
}

/// The threads of `pid` by name (threads of the same name summed).
pub fn threads(pid: u32) -> std::collections::BTreeMap<String, ThreadStat> {
    let mut out: std::collections::BTreeMap<String, ThreadStat> = Default::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
            .sum();
        let wakeups = std::fs::read_to_string(path.join("status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        let t = out.entry(name).or_default();
        t.cpu += Duration::from_secs_f64(ticks as f64 / ticks_per_second() as f64);
        t.wakeups += wakeups;
    }
    out
}

/// The live children of `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat_fields(pid)
                .ok()
                .and_then(|f| f.get(1)?.parse::<u32>().ok())
                == Some(parent)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Host-wide CPU time from the first line of /proc/stat: (busy, idle), where idle counts
/// idle and iowait and busy everything else (user, nice, system, irq, softirq, steal).
pub fn host_cpu() -> anyhow::Result<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already inside user and nice.
    let idle: u64 = ticks.iter().skip(3).take(2).sum();
    let all: u64 = ticks.iter().take(8).sum();
    let secs = |t: u64| Duration::from_secs_f64(t as f64 / ticks_per_second() as f64);
    Ok((secs(all - idle.min(all)), secs(idle)))
}

/// CPU time of this process's threads named `name`.
pub fn own_thread_cpu(name: &str) -> Duration {
    threads(std::process::id())
        .get(name)
        .map(|t| t.cpu)
        .unwrap_or_default()
}

/// Time the processes' threads have spent runnable but waiting for a CPU so far (second
/// field of /proc/<pid>/task/<tid>/schedstat, nanoseconds), summed.
pub fn run_queue_wait(pids: &[u32]) -> Duration {
    let ns: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_dir(format!("/proc/{pid}/task")).ok())
        .flat_map(|tasks| tasks.flatten())
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}
