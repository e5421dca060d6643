//! How often sonde's hooks fire against all syscalls: `perf stat` counts every syscall exit on
//! the host and the socket tracepoints sonde's programs attach to (`sock:sock_send_length`,
//! `sock:sock_recv_length`, `sock:inet_sock_set_state`), system-wide and for the server
//! alone, during a short load without sonde. A syscall that is not socket I/O meets no sonde
//! program at all.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;

use crate::ctx::Ctx;
use crate::report::{int, table};

/// The tracepoints sonde's socket programs attach to (ebpf/src/sock_io.rs, tcp_state.rs).
const HOOKED: &[&str] = &[
    "sock:sock_send_length",
    "sock:sock_recv_length",
    "sock:inet_sock_set_state",
];

#[derive(Clone, Debug, Default)]
pub struct SyscallMix {
    pub requests: u64,
    /// Every syscall exit on the host.
    pub host_total: u64,
    /// Firings of sonde's socket tracepoints on the host.
    pub host_watched: u64,
    /// The server's own syscall exits, and the socket tracepoints it fired.
    pub server_total: u64,
    pub server_watched: u64,
    /// The server's socket tracepoints by name, most frequent first.
    pub server_by_name: Vec<(String, u64)>,
    /// Why it could not be measured, if so.
    pub error: Option<String>,
}

fn events() -> Vec<String> {
    let mut e = vec!["raw_syscalls:sys_exit".to_owned()];
    e.extend(HOOKED.iter().map(|s| (*s).to_owned()));
    e
}

fn perf(scope: &[String], seconds: u64, out: &Path) -> anyhow::Result<std::process::Child> {
    let mut cmd = Command::new("perf");
    cmd.args(["stat", "-x,", "-o"]).arg(out);
    for e in events() {
        cmd.args(["-e", &e]);
    }
    cmd.args(scope)
        .args(["--", "sleep", &seconds.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn()
        .context("running perf (apt-get install linux-perf)")
}

/// `count,,event,...` lines of `perf stat -x,`.
fn parse(path: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.get(2)?.to_string(), f.first()?.parse().ok()?))
        })
        .collect())
}

fn split(counts: &[(String, u64)]) -> (u64, u64, Vec<(String, u64)>) {
    let total = counts
        .iter()
        .find(|(e, _)| e == "raw_syscalls:sys_exit")
        .map_or(0, |(_, n)| *n);
    let mut by_name: Vec<(String, u64)> = counts
        .iter()
        .filter_map(|(e, n)| Some((e.strip_prefix("sock:")?.to_owned(), *n)))
        .filter(|(_, n)| *n > 0)
        .collect();
    by_name.sort_by_key(|b| std::cmp::Reverse(b.1));
    let watched = by_name.iter().map(|(_, n)| n).sum();
    (total, watched, by_name)
}

/// Counts syscalls while `load` runs for the mode's run duration (at most 5 s); `load` returns
/// the requests it completed.
pub fn syscall_mix(
    ctx: &Ctx,
    server_pids: &[u32],
    load: impl FnOnce(Duration) -> anyhow::Result<u64>,
) -> anyhow::Result<SyscallMix> {
    let seconds = ctx.mode.run().as_secs().min(5);
    let dir = ctx.log_dir("perf")?;
    let (host_out, server_out) = (dir.join("host.csv"), dir.join("server.csv"));
    let pids = server_pids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let started = perf(&["-a".into()], seconds, &host_out).and_then(|host| {
        let server = perf(&["-p".into(), pids], seconds, &server_out)?;
        Ok((host, server))
    });
    let (mut host, mut server) = match started {
        Ok(p) => p,
        Err(e) => {
            return Ok(SyscallMix {
                error: Some(format!("{e:#}")),
                ..SyscallMix::default()
            });
        }
    };
    // perf needs a moment to open its events before the load starts.
    std::thread::sleep(Duration::from_millis(300));
    let requests = load(Duration::from_secs(seconds.saturating_sub(1).max(1)))?;
    host.wait()?;
    server.wait()?;
    let (host_total, host_watched, _) = split(&parse(&host_out)?);
    let (server_total, server_watched, server_by_name) = split(&parse(&server_out)?);
    Ok(SyscallMix {
        requests,
        host_total,
        host_watched,
        server_total,
        server_watched,
        server_by_name,
        error: None,
    })
}

impl SyscallMix {
    fn pct(part: u64, whole: u64) -> f64 {
        100.0 * part as f64 / whole.max(1) as f64
    }

    /// One sentence for the list of problems.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("(syscall mix not measured: {e})");
        }
        format!(
            "sonde's socket tracepoints fire {:.0} times per 100 syscalls on the host (other \
             syscalls meet no sonde program), and {:.0}% of the host's syscalls come from \
             processes other than the server",
            Self::pct(self.host_watched, self.host_total),
            100.0 - Self::pct(self.server_total, self.host_total),
        )
    }

    pub fn markdown(&self) -> String {
        if let Some(e) = &self.error {
            return format!("Syscall mix: not measured ({e}).\n");
        }
        let per_req = |n: u64| format!("{:.2}", n as f64 / self.requests.max(1) as f64);
        let mut out = format!(
            "Hook mix during a separate short load without sonde (`perf stat -e \
             raw_syscalls:sys_exit -e sock:sock_send_length -e sock:sock_recv_length -e \
             sock:inet_sock_set_state`, host-wide and for the server's pids; {} requests). \
             sonde's programs run only at the socket tracepoints; every other syscall meets none \
             of them:\n\n",
            int(self.requests as f64)
        );
        out.push_str(&table(
            &["events", "host", "server", "server per request"],
            &[
                vec![
                    "all syscall exits".into(),
                    int(self.host_total as f64),
                    int(self.server_total as f64),
                    per_req(self.server_total),
                ],
                vec![
                    "socket tracepoints (sonde's hooks)".into(),
                    format!(
                        "{} ({:.0}%)",
                        int(self.host_watched as f64),
                        Self::pct(self.host_watched, self.host_total)
                    ),
                    format!(
                        "{} ({:.0}%)",
                        int(self.server_watched as f64),
                        Self::pct(self.server_watched, self.server_total)
                    ),
                    per_req(self.server_watched),
                ],
            ],
        ));
        let names: Vec<String> = self
            .server_by_name
            .iter()
            .map(|(n, c)| format!("{n} {}", per_req(*c)))
            .collect();
        out.push_str(&format!(
            "\nThe server's socket tracepoint firings per request: {}.\n",
            names.join(", ")
        ));
        out
    }
}
