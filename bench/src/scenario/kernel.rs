//! §5: what sonde's hooks cost per syscall, by path. The same loops (bench/src/probe.rs) run
//! without sonde and with it, in a process sonde watches and in one it does not: the
//! difference in time per syscall is the whole cost, and bpf_stats gives the socket
//! programs' own share.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::agent::{Agent, Selection};
use crate::bpfstats;
use crate::ctx::{Ctx, Mode};
use crate::probe;
use crate::report::{Section, table};
use crate::stats::median;

/// Alternating rounds (without sonde, with `--pid`, with `--port`); medians are reported.
const ROUNDS: usize = 3;

fn count(mode: Mode, probe_mode: &str) -> u64 {
    let n = match mode {
        Mode::Quick => 200_000,
        Mode::Full => 1_000_000,
    };
    if probe_mode == "http-64" { n / 5 } else { n }
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

    fn run(&mut self, mode: &str, count: u64) -> anyhow::Result<(f64, u64)> {
        writeln!(self.stdin, "{mode} {count}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["done", ns, n] => Ok((ns.parse()?, n.parse()?)),
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

/// Where a loop runs and under which selection.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Path {
    /// In the child, which `--pid` selects.
    Watched,
    /// In the harness, while `--pid` selects the child.
    NotWatched,
    /// In the harness, while only `--port 1` is given.
    PortFilter,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::Watched => "process watched (`--pid`)",
            Path::NotWatched => "process not watched (`--pid` of another)",
            Path::PortFilter => "`--port` filter only (a port nobody uses)",
        }
    }
}

#[derive(Default)]
struct Samples {
    without: Vec<f64>,
    with: Vec<f64>,
    prog_ns: Vec<f64>,
}

type Results = BTreeMap<(&'static str, Path), Samples>;

/// Runs one loop; with an agent, also reads the program's average over it.
fn sample(
    agent: Option<&Agent>,
    run: impl FnOnce() -> anyhow::Result<(f64, u64)>,
) -> anyhow::Result<(f64, Option<f64>)> {
    let before = agent.map(|a| bpfstats::snapshot(a.pid())).transpose()?;
    let (ns, _) = run()?;
    let prog = match (agent, before) {
        (Some(a), Some(before)) => {
            bpfstats::socket_io(&bpfstats::delta(&before, &bpfstats::snapshot(a.pid())?))
                .and_then(|p| p.avg_ns())
        }
        _ => None,
    };
    Ok((ns, prog))
}

/// `with_sonde` says which column the sample belongs to: with sonde attached, a loop that is
/// not socket I/O runs no sonde program, so `prog` is None there too.
fn record(
    results: &mut Results,
    key: (&'static str, Path),
    with_sonde: bool,
    (ns, prog): (f64, Option<f64>),
) {
    let s = results.entry(key).or_default();
    if with_sonde {
        s.with.push(ns);
        s.prog_ns.extend(prog);
    } else {
        s.without.push(ns);
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let mut child = ProbeChild::start()?;
    let child_pid = child.child.id();
    let mut results = Results::new();
    for round in 0..ROUNDS {
        println!("bench: kernel round {}", round + 1);
        ctx.note_foreign_programs();
        for &m in probe::MODES {
            let n = count(ctx.mode, m);
            let s = sample(None, || child.run(m, n))?;
            record(&mut results, (m, Path::Watched), false, s);
            if m != "http-64" {
                let s = sample(None, || probe::run_mode(m, n))?;
                record(&mut results, (m, Path::NotWatched), false, s);
                record(&mut results, (m, Path::PortFilter), false, s);
            }
        }
        for (selection, paths) in [
            (
                Selection::Pids(vec![child_pid]),
                &[Path::Watched, Path::NotWatched][..],
            ),
            (Selection::Ports(vec![1]), &[Path::PortFilter][..]),
        ] {
            let log = ctx.log_dir(&format!("kernel-{round}-{}", paths[0] as u8))?;
            let agent = Agent::start(&ctx.sonde, &selection, &ctx.sink.endpoint(), &log)?;
            ctx.note_own_programs(bpfstats::snapshot(agent.pid())?.keys().copied());
            std::thread::sleep(Duration::from_millis(300));
            for &m in probe::MODES {
                let n = count(ctx.mode, m);
                for &path in paths {
                    let s = match path {
                        Path::Watched => sample(Some(&agent), || child.run(m, n))?,
                        _ if m == "http-64" => continue,
                        _ => sample(Some(&agent), || probe::run_mode(m, n))?,
                    };
                    record(&mut results, (m, path), true, s);
                }
            }
            agent.stop()?;
        }
    }
    Ok(section(ctx, &results))
}

fn section(ctx: &Ctx, results: &Results) -> Section {
    let added = |s: &Samples| {
        let d: Vec<f64> = s.without.iter().zip(&s.with).map(|(a, b)| b - a).collect();
        median(&d)
    };
    let mut rows = Vec::new();
    for &m in probe::MODES {
        for path in [Path::Watched, Path::NotWatched, Path::PortFilter] {
            let Some(s) = results.get(&(m, path)) else {
                continue;
            };
            rows.push(vec![
                format!("`{m}`, {}", path.label()),
                format!("{:.0}", median(&s.without)),
                format!("{:.0}", median(&s.with)),
                format!("{:+.0}", added(s)),
                if s.prog_ns.is_empty() {
                    "none ran".into()
                } else {
                    format!("{:.0}", median(&s.prog_ns))
                },
            ]);
        }
    }
    let mut body = String::from(
        "The cost of sonde's hooks per syscall, by the path a syscall takes. sonde's programs \
         sit on the socket tracepoints `sock_send_length` / `sock_recv_length` (and TCP state \
         changes), not on syscall entry or exit, so a syscall that is not socket I/O meets no \
         sonde program. Loops of one syscall (bench/src/probe.rs): `getppid`; a 1-byte `read` \
         of /dev/zero (file I/O); and a small HTTP exchange over a loopback TCP \
         connection (a 64-byte request written and read, a 64-byte response written and \
         read), the full capture path: every call is captured and each exchange makes two \
         spans. They run in a child process and in the harness \
         itself, in alternating rounds: without sonde, with `sonde --pid <child>`, with \
         `sonde --port 1`. Each loop reports its fastest of 20 chunks (preemption on this \
         shared machine only adds time). \"Added\" is the median over rounds of the \
         with-minus-without difference: the whole cost to the application. The last column is \
         the socket programs alone (bpf_stats run_time_ns / run_cnt over the loop; for the \
         loops without socket I/O it is other processes' socket calls meanwhile, or empty when \
         there were none).\n\n",
    );
    body.push_str(&table(
        &[
            "syscall and path",
            "ns / syscall without sonde",
            "with sonde",
            "added ns",
            "program ns / invocation",
        ],
        &rows,
    ));
    let get = |m: &'static str, p: Path| results.get(&(m, p));
    let mut problems = Vec::new();
    // Below this, a difference is within the noise of the fastest-chunk timing.
    const NOISE_NS: f64 = 15.0;
    for (m, what) in [
        ("getppid", "a syscall that is not I/O"),
        ("read-devzero", "file I/O"),
    ] {
        for p in [Path::Watched, Path::NotWatched, Path::PortFilter] {
            if let Some(s) = get(m, p)
                && added(s) > NOISE_NS
            {
                problems.push(format!(
                    "kernel: {what} (`{m}`, {}) pays {:+.0} ns with sonde attached, though no \
                     sonde program runs for it",
                    p.label(),
                    added(s)
                ));
            }
        }
    }
    if let Some(s) = get("http-64", Path::Watched) {
        problems.push(format!(
            "kernel: a captured socket read or write costs +{:.0} ns ({:.0} → {:.0} ns per \
             syscall); the programs {:.0} ns of it (filter, cookie, table lookup, reserve, \
             copy, submit)",
            added(s),
            median(&s.without),
            median(&s.with),
            median(&s.prog_ns)
        ));
    }
    Section {
        id: "5-kernel".into(),
        title: "5. Kernel cost per syscall path".into(),
        stamp: ctx.stamp(),
        body,
        targets: Vec::new(),
        problems,
    }
}
