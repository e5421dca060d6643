//! §5: what sonde's syscall hook costs per syscall, by path. The same loops (bench/src/
//! probe.rs) run without sonde and with it, in a process sonde watches and in one it does
//! not: the difference in time per syscall is the whole cost (the tracepoint's slow path
//! plus the program), and bpf_stats gives the program's own share.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::agent::{Agent, Selection};
use crate::bpfstats;
use crate::ctx::{Ctx, Mode};
use crate::probe;
use crate::report::{Section, Target, table};
use crate::stats::median;

/// Repetitions of every measurement; the median is reported.
const REPEATS: usize = 3;

fn count(mode: Mode, probe_mode: &str) -> u64 {
    let n = match mode {
        Mode::Quick => 200_000,
        Mode::Full => 1_000_000,
    };
    if probe_mode == "tcp-64" { n / 5 } else { n }
}

/// The watched child: `sonde-bench __probe`.
struct ProbeChild {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ProbeChild {
    fn start() -> anyhow::Result<ProbeChild> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("__probe")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the probe child")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        Ok(ProbeChild {
            child,
            stdin,
            stdout,
        })
    }

    fn run(&mut self, mode: &str, count: u64) -> anyhow::Result<(Duration, u64)> {
        writeln!(self.stdin, "{mode} {count}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["done", ns, n] => Ok((Duration::from_nanos(ns.parse()?), n.parse()?)),
            _ => bail!("probe child answered {line:?}"),
        }
    }
}

impl Drop for ProbeChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One loop, measured: wall ns per syscall, and the programs' ns per invocation.
#[derive(Clone, Copy, Default)]
struct Sample {
    ns_per_syscall: f64,
    prog_ns: f64,
}

fn measure(
    agent: Option<&Agent>,
    mut run: impl FnMut() -> anyhow::Result<(Duration, u64)>,
) -> anyhow::Result<Sample> {
    let mut wall = Vec::new();
    let mut prog = Vec::new();
    for _ in 0..REPEATS {
        let before = agent.map(|a| bpfstats::snapshot(a.pid())).transpose()?;
        let (elapsed, syscalls) = run()?;
        wall.push(elapsed.as_nanos() as f64 / syscalls as f64);
        if let (Some(a), Some(before)) = (agent, before) {
            let d = bpfstats::delta(&before, &bpfstats::snapshot(a.pid())?);
            if let Some(p) = d.get("sonde_sys_exit") {
                prog.push(p.avg_ns().unwrap_or(f64::NAN));
            }
        }
    }
    Ok(Sample {
        ns_per_syscall: median(&wall),
        prog_ns: median(&prog),
    })
}

struct Row {
    path: String,
    without: Sample,
    with: Sample,
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let mut child = ProbeChild::start()?;
    let mut baseline = Vec::new();
    for &m in probe::MODES {
        let n = count(ctx.mode, m);
        let in_child = measure(None, || child.run(m, n))?;
        let here = measure(None, || probe::run_mode(m, n))?;
        baseline.push((m, in_child, here));
    }
    let mut rows = Vec::new();
    {
        let sel = Selection::Pids(vec![child.child.id()]);
        let agent = Agent::start(&ctx.sonde, &sel, &ctx.sink.endpoint(), &ctx.log_dir("kernel-pid")?)?;
        std::thread::sleep(Duration::from_millis(300));
        for &(m, without_child, without_here) in &baseline {
            let n = count(ctx.mode, m);
            rows.push(Row {
                path: format!("`{m}`, process watched (`--pid`)"),
                without: without_child,
                with: measure(Some(&agent), || child.run(m, n))?,
            });
            if m != "tcp-64" {
                rows.push(Row {
                    path: format!("`{m}`, process not watched (`--pid` another)"),
                    without: without_here,
                    with: measure(Some(&agent), || probe::run_mode(m, n))?,
                });
            }
        }
        agent.stop()?;
    }
    {
        // A port nothing uses: every process goes through the connection-table lookup.
        let sel = Selection::Ports(vec![1]);
        let agent = Agent::start(&ctx.sonde, &sel, &ctx.sink.endpoint(), &ctx.log_dir("kernel-port")?)?;
        std::thread::sleep(Duration::from_millis(300));
        for &(m, _, without_here) in &baseline {
            if m == "tcp-64" {
                continue;
            }
            let n = count(ctx.mode, m);
            rows.push(Row {
                path: format!("`{m}`, `--port` filter only (unwatched port)"),
                without: without_here,
                with: measure(Some(&agent), || probe::run_mode(m, n))?,
            });
        }
        agent.stop()?;
    }
    Ok(section(ctx, &rows))
}

fn section(ctx: &Ctx, rows: &[Row]) -> Section {
    let body_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.path.clone(),
                format!("{:.0}", r.without.ns_per_syscall),
                format!("{:.0}", r.with.ns_per_syscall),
                format!("{:+.0}", r.with.ns_per_syscall - r.without.ns_per_syscall),
                format!("{:.0}", r.with.prog_ns),
            ]
        })
        .collect();
    let mut body = String::from(
        "The cost of sonde's `sys_exit` hook per syscall, by the path a syscall takes through \
         it. Loops of one syscall (bench/src/probe.rs: `getppid`, which sonde does not handle; \
         a 1-byte `read` of /dev/zero, a handled syscall on a file; 64-byte `write` + `read` \
         over a loopback TCP connection, the full capture path) run in a child process that \
         sonde watches and in the harness process that it does not, without sonde and then \
         with it. \"Added\" is the difference in wall time per syscall, the whole cost to the \
         application (the tracepoint's slow path on syscall exit plus the program); the last \
         column is the program alone (bpf_stats run_time_ns / run_cnt over the loop; \
         background syscalls of other processes are included but are under 1% of the \
         invocations). Medians of 3 repetitions.\n\n",
    );
    body.push_str(&table(
        &[
            "syscall and path",
            "ns / syscall without sonde",
            "with sonde",
            "added ns",
            "program ns / invocation",
        ],
        &body_rows,
    ));
    let find = |prefix: &str| rows.iter().find(|r| r.path.starts_with(prefix));
    let mut problems = Vec::new();
    if let Some(r) = find("`getppid`, process not watched") {
        problems.push(format!(
            "kernel: every syscall of every process on the host pays {:.0} ns once sonde is \
             attached, even syscalls it never handles (`getppid` from an unwatched process: \
             {:.0} → {:.0} ns; the program itself runs {:.0} ns of that)",
            r.with.ns_per_syscall - r.without.ns_per_syscall,
            r.without.ns_per_syscall,
            r.with.ns_per_syscall,
            r.with.prog_ns
        ));
    }
    if let Some(r) = find("`tcp-64`") {
        problems.push(format!(
            "kernel: a captured socket read or write costs {:.0} ns more ({:.0} → {:.0} ns per \
             syscall; the program {:.0} ns per invocation: ring-buffer reserve of 4,144 bytes, \
             the copy, submit and the consumer wake-up)",
            r.with.ns_per_syscall - r.without.ns_per_syscall,
            r.without.ns_per_syscall,
            r.with.ns_per_syscall,
            r.with.prog_ns
        ));
    }
    if let Some(r) = find("`read-devzero`, `--port`") {
        problems.push(format!(
            "kernel: with only `--port` filters, every read/write of every process goes \
             through the connection-table lookup: +{:.0} ns per `read` of a file",
            r.with.ns_per_syscall - r.without.ns_per_syscall
        ));
    }
    Section {
        id: "5-kernel".into(),
        title: "5. Kernel cost per syscall path".into(),
        stamp: ctx.stamp(),
        body,
        targets: Vec::<Target>::new(),
        problems,
    }
}
