//! The exact setup, for the header of docs/BENCHMARKS.md: machine, kernel, tool versions.

use std::path::Path;
use std::process::Command;

/// First line of a command's output (stdout, else stderr), or `not installed`.
fn version(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        }
        Err(_) => "not installed".into(),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or("unknown".into(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1048576.0)
        })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The markdown list of facts about this run's machine and tools.
pub fn describe(root: &Path) -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let dirty = if git(&["status", "--porcelain"]).is_empty() {
        ""
    } else {
        " plus uncommitted changes"
    };
    let facts = [
        (
            "machine",
            format!("{nproc} cores ({}), {}", cpu_model(), mem_total()),
        ),
        ("kernel", version("uname", &["-sr"])),
        ("load average at start", loadavg()),
        (
            "sonde",
            format!(
                "`target/release/sonde` built from {}{dirty}",
                git(&["rev-parse", "--short", "HEAD"])
            ),
        ),
        ("rustc", version("rustc", &["--version"])),
        ("nginx", version("nginx", &["-v"])),
        ("wrk", version("wrk", &["-v"])),
        ("redis", version("redis-server", &["--version"])),
        (
            "postgresql",
            version("/usr/lib/postgresql/15/bin/postgres", &["--version"]),
        ),
        ("python", version("python3", &["--version"])),
        ("bpftool", version("bpftool", &["version"])),
        ("perf", version("perf", &["--version"])),
    ];
    facts.iter().map(|(k, v)| format!("- {k}: {v}\n")).collect()
}
