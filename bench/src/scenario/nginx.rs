//! §2: nginx serving a 13-byte file under wrk, without and with sonde, alternating.

use std::time::Duration;

use crate::agent::Selection;
use crate::bpfstats;
use crate::ctx::Ctx;
use crate::observe::{self, AgentCost};
use crate::report::{Section, Target, int, ratio, table};
use crate::servers::nginx::Nginx;
use crate::stats::{median, median_ratio};
use crate::wrk::{self, WrkArgs, WrkResult};
use crate::{diag, procfs};

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 16;

struct Run {
    wrk: WrkResult,
    /// CPU of the nginx worker during the load.
    nginx_cpu: Duration,
    /// Host-wide busy and idle CPU during the load (/proc/stat).
    host_busy: Duration,
    host_idle: Duration,
    /// The harness's OTLP receiver thread during the load.
    receiver_cpu: Duration,
    /// Time the nginx worker was runnable but waited for a CPU.
    nginx_wait: Duration,
}

fn load(ctx: &Ctx, nginx: &Nginx, duration: Duration) -> anyhow::Result<Run> {
    let workers = nginx.worker_pids();
    let before = procfs::cpu_time_sum(&workers)?;
    let wait_before = procfs::run_queue_wait(&workers);
    let (busy_before, idle_before) = procfs::host_cpu()?;
    let receiver_before = procfs::own_thread_cpu(crate::sink::THREAD);
    let wrk = wrk::run(&WrkArgs {
        url: nginx.url(),
        threads: THREADS,
        connections: CONNECTIONS,
        duration,
        script: None,
    })?;
    let _ = ctx;
    let (busy_after, idle_after) = procfs::host_cpu()?;
    Ok(Run {
        wrk,
        nginx_cpu: procfs::cpu_time_sum(&workers)?.saturating_sub(before),
        host_busy: busy_after.saturating_sub(busy_before),
        host_idle: idle_after.saturating_sub(idle_before),
        receiver_cpu: procfs::own_thread_cpu(crate::sink::THREAD).saturating_sub(receiver_before),
        nginx_wait: procfs::run_queue_wait(&workers).saturating_sub(wait_before),
    })
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let nginx = Nginx::start()?;
    let selection = Selection::Pids(vec![nginx.master_pid()]);
    let duration = ctx.mode.run();
    println!("bench: nginx on port {}, warming up", nginx.port);
    load(ctx, &nginx, Duration::from_secs(2))?;

    let mut without = Vec::new();
    let mut with = Vec::new();
    for pair in 0..ctx.mode.pairs() {
        ctx.note_foreign_programs();
        let a = load(ctx, &nginx, duration)?;
        println!(
            "bench: nginx pair {} without sonde: {:.0} req/s",
            pair + 1,
            a.wrk.requests_per_sec
        );
        let (b, cost) = observe::with_agent(ctx, &selection, &format!("nginx-{pair}"), || {
            load(ctx, &nginx, duration)
        })?;
        println!(
            "bench: nginx pair {} with sonde:    {:.0} req/s, {} spans",
            pair + 1,
            b.wrk.requests_per_sec,
            cost.received.spans
        );
        without.push(a);
        with.push((b, cost));
    }
    let mix = diag::syscall_mix(ctx, &nginx.worker_pids(), |d| {
        Ok(load(ctx, &nginx, d)?.wrk.requests)
    })?;
    Ok(section(ctx, &nginx, &selection, &without, &with, &mix))
}

fn section(
    ctx: &Ctx,
    nginx: &Nginx,
    selection: &Selection,
    without: &[Run],
    with: &[(Run, AgentCost)],
    mix: &diag::SyscallMix,
) -> Section {
    let rps_a: Vec<f64> = without.iter().map(|r| r.wrk.requests_per_sec).collect();
    let rps_b: Vec<f64> = with.iter().map(|(r, _)| r.wrk.requests_per_sec).collect();
    let p99_a: Vec<f64> = without.iter().map(|r| r.wrk.p99_ms).collect();
    let p99_b: Vec<f64> = with.iter().map(|(r, _)| r.wrk.p99_ms).collect();
    let cpu_per_req = |cpu: Duration, reqs: u64| cpu.as_secs_f64() * 1e6 / reqs.max(1) as f64;
    let nginx_us_a: Vec<f64> = without
        .iter()
        .map(|r| cpu_per_req(r.nginx_cpu, r.wrk.requests))
        .collect();
    let nginx_us_b: Vec<f64> = with
        .iter()
        .map(|(r, _)| cpu_per_req(r.nginx_cpu, r.wrk.requests))
        .collect();
    let sonde_s_per_100k: Vec<f64> = with
        .iter()
        .map(|(r, c)| c.cpu.as_secs_f64() * 100_000.0 / r.wrk.requests.max(1) as f64)
        .collect();
    let rss: Vec<f64> = with.iter().map(|(_, c)| c.peak_rss as f64).collect();
    let spans_per_req: Vec<f64> = with
        .iter()
        .map(|(r, c)| c.received.server as f64 / r.wrk.requests.max(1) as f64)
        .collect();
    let throughput = median_ratio(&rps_a, &rps_b);
    let p99_ratio = median_ratio(&p99_a, &p99_b);

    let mut runs = Vec::new();
    for (i, (a, (b, c))) in without.iter().zip(with).enumerate() {
        runs.push(vec![
            format!("{}", i + 1),
            "without".into(),
            int(a.wrk.requests_per_sec),
            format!("{:.2}", a.wrk.p99_ms),
            format!("{:.1}", nginx_us_a[i]),
            "".into(),
            "".into(),
            "".into(),
            format!("{}", a.wrk.errors),
        ]);
        runs.push(vec![
            format!("{}", i + 1),
            "with sonde".into(),
            int(b.wrk.requests_per_sec),
            format!("{:.2}", b.wrk.p99_ms),
            format!("{:.1}", nginx_us_b[i]),
            format!("{:.2}", sonde_s_per_100k[i]),
            format!(
                "{} / {}",
                int(c.received.server as f64),
                int(b.wrk.requests as f64)
            ),
            format!(
                "{} / {}",
                int(c.metric("sonde_events_lost_total")),
                int(c.metric("sonde_spans_dropped_total"))
            ),
            format!("{}", b.wrk.errors),
        ]);
    }

    let progs = observe::total_progs(&with.iter().map(|(_, c)| c).collect::<Vec<_>>());
    let requests_b: u64 = with.iter().map(|(r, _)| r.wrk.requests).sum();
    let kernel_ns_per_req =
        progs.values().map(|p| p.run_time_ns as f64).sum::<f64>() / requests_b.max(1) as f64;
    let sonde_us_per_req = median(&sonde_s_per_100k) * 10.0;
    let nginx_us = median(&nginx_us_a);

    let mut body = String::new();
    body.push_str(&format!(
        "nginx 1.22 (`worker_processes 1`, `sendfile on`, access log off, keep-alive) serves a \
         {}-byte file on 127.0.0.1; `wrk -t{THREADS} -c{CONNECTIONS} -d{}s --latency {}`. \
         Each pair runs once without sonde, then once with `sonde {} --exporter otlp` exporting \
         OTLP/gRPC to the harness's counting receiver (sonde started fresh for each run and \
         stopped with SIGTERM after it, so every span is flushed). {} pairs; ratios are the \
         median of the per-pair ratios.\n\n",
        crate::servers::nginx::BODY.len(),
        ctx.mode.run().as_secs(),
        nginx.url().replace(&nginx.port.to_string(), "PORT"),
        selection
            .describe()
            .replace(&nginx.master_pid().to_string(), "<nginx master>"),
        without.len(),
    ));
    body.push_str(&table(
        &[
            "measure",
            "without sonde",
            "with sonde",
            "ratio (median of pairs)",
        ],
        &[
            vec![
                "requests/s".into(),
                int(median(&rps_a)),
                int(median(&rps_b)),
                ratio(throughput),
            ],
            vec![
                "p99 latency (ms)".into(),
                format!("{:.2}", median(&p99_a)),
                format!("{:.2}", median(&p99_b)),
                ratio(p99_ratio),
            ],
            vec![
                "nginx worker CPU µs / request".into(),
                format!("{:.1}", nginx_us),
                format!("{:.1}", median(&nginx_us_b)),
                ratio(median_ratio(&nginx_us_a, &nginx_us_b)),
            ],
            vec![
                "sonde CPU s / 100k requests".into(),
                "".into(),
                format!("{:.2}", median(&sonde_s_per_100k)),
                "".into(),
            ],
            vec![
                "sonde peak RSS (VmHWM)".into(),
                "".into(),
                format!("{:.1} MiB", median(&rss) / 1048576.0),
                "".into(),
            ],
            vec![
                "SERVER spans received / request".into(),
                "".into(),
                format!("{:.3}", median(&spans_per_req)),
                "".into(),
            ],
        ],
    ));
    if let Some((r, c)) = with.last() {
        body.push_str(&format!(
            "\nsonde's threads per request (last run, from /proc/<sonde>/task; a wake-up is a \
             voluntary context switch): {}.\n",
            c.threads_per(r.wrk.requests)
        ));
    }
    let budget = Budget::new(without, with);
    body.push_str(&budget.markdown());
    body.push_str("\nEvery run:\n\n");
    body.push_str(&table(
        &[
            "pair",
            "variant",
            "requests/s",
            "p99 ms",
            "nginx CPU µs/req",
            "sonde CPU s/100k req",
            "SERVER spans / requests",
            "sonde: events lost in kernel / spans dropped",
            "wrk errors",
        ],
        &runs,
    ));
    body.push_str(&format!(
        "\nKernel programs during the runs with sonde (`kernel.bpf_stats_enabled=1` for the \
         whole benchmark; run_time_ns / run_cnt from /proc/<sonde>/fdinfo; the \
         statistics themselves add two clock reads per invocation). In all they cost {:.2} µs \
         per request, against the {:.1} µs of CPU nginx itself needs per request:\n\n",
        kernel_ns_per_req / 1000.0,
        nginx_us,
    ));
    body.push_str(&observe::progs_table(&progs, requests_b));
    body.push('\n');
    body.push_str(&mix.markdown());

    let met = throughput >= 0.90;
    let why = format!(
        "single-threaded nginx sets the pace; per request it used {:.1} µs more CPU (sonde's \
         socket programs, in every process, cost {:.2} µs/request, {:.0}% of nginx's own \
         {:.1} µs) and waited {:.1} µs more for a CPU, which sonde's process ({:.1} \
         µs/request), the OTLP receiver ({:.1}) and wrk ({:.1} more) share with it; the host \
         idled {:.1} µs/request more",
        budget.added(NGINX),
        kernel_ns_per_req / 1000.0,
        kernel_ns_per_req / 10.0 / nginx_us,
        nginx_us,
        budget.added(NGINX_WAIT),
        budget.added(SONDE),
        budget.added(RECEIVER),
        budget.added(WRK),
        budget.added(IDLE),
    );
    let note = if met {
        why.clone()
    } else {
        format!("short by {:.3}: {why}", 0.90 - throughput)
    };
    let mut problems = Vec::new();
    if let Some(p) = bpfstats::socket_io(&progs) {
        problems.push(format!(
            "nginx: the socket I/O programs average {:.0} ns per invocation and run {:.1} times per \
             request ({:.2} µs/request); {}",
            p.avg_ns().unwrap_or(f64::NAN),
            p.run_cnt as f64 / requests_b.max(1) as f64,
            p.run_time_ns as f64 / 1000.0 / requests_b.max(1) as f64,
            mix.summary(),
        ));
    }
    if let Some((r, c)) = with.last() {
        problems.push(format!(
            "nginx: sonde's threads per request: {}",
            c.threads_per(r.wrk.requests)
        ));
    }
    problems.push(format!(
        "nginx: sonde's userspace needs {:.2} µs of CPU per request ({:.2} CPU-s per 100k); at \
         {} requests/s that is {:.0}% of a core, taken from the 2 cores nginx and wrk share",
        sonde_us_per_req,
        sonde_us_per_req / 10.0,
        int(median(&rps_b)),
        sonde_us_per_req * median(&rps_b) / 1e4,
    ));
    Section {
        id: "2-nginx".into(),
        title: "2. HTTP overhead: nginx small file under wrk".into(),
        stamp: ctx.stamp(),
        body,
        targets: vec![Target {
            what: "nginx small-file throughput, with / without sonde".into(),
            target: "≥ 0.90".into(),
            measured: ratio(throughput),
            met: Some(met),
            note,
        }],
        problems,
    }
}

/// Where the host's CPU went per request, median over the runs of each variant: the figures
/// that explain the throughput ratio, since nginx, wrk, sonde and the receiver share the same
/// cores.
struct Budget {
    /// (what, µs per request without sonde, with sonde).
    rows: Vec<(&'static str, f64, f64)>,
}

const NGINX: &str = "nginx worker (its share of sonde's kernel programs included)";
const WRK: &str = "wrk";
const SONDE: &str = "sonde process";
const RECEIVER: &str = "harness OTLP receiver";
const IDLE: &str = "host idle";
const NGINX_WAIT: &str = "nginx worker runnable but waiting for a CPU (schedstat)";

impl Budget {
    fn new(without: &[Run], with: &[(Run, AgentCost)]) -> Budget {
        let per_req = |d: Duration, r: &Run| d.as_secs_f64() * 1e6 / r.wrk.requests.max(1) as f64;
        // Each row: its value for a run, given sonde's CPU (zero without sonde).
        type Row = (&'static str, fn(&Run, Duration) -> Duration);
        let rows: [Row; 8] = [
            (NGINX, |r, _| r.nginx_cpu),
            (WRK, |r, _| r.wrk.cpu),
            (SONDE, |_, s| s),
            (RECEIVER, |r, _| r.receiver_cpu),
            (
                "rest of the host (kernel threads, softirq, others)",
                |r, s| {
                    r.host_busy
                        .saturating_sub(r.nginx_cpu + r.wrk.cpu + s + r.receiver_cpu)
                },
            ),
            ("host busy, total", |r, _| r.host_busy),
            (IDLE, |r, _| r.host_idle),
            (NGINX_WAIT, |r, _| r.nginx_wait),
        ];
        let rows = rows
            .iter()
            .map(|(label, f)| {
                let a: Vec<f64> = without
                    .iter()
                    .map(|r| per_req(f(r, Duration::ZERO), r))
                    .collect();
                let b: Vec<f64> = with.iter().map(|(r, c)| per_req(f(r, c.cpu), r)).collect();
                (*label, median(&a), median(&b))
            })
            .collect();
        Budget { rows }
    }

    /// µs per request that `what` added with sonde.
    fn added(&self, what: &str) -> f64 {
        self.rows
            .iter()
            .find(|(l, _, _)| *l == what)
            .map_or(f64::NAN, |(_, a, b)| b - a)
    }

    fn markdown(&self) -> String {
        let lines: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|(label, a, b)| {
                vec![
                    (*label).into(),
                    format!("{a:.1}"),
                    format!("{b:.1}"),
                    format!("{:+.1}", b - a),
                ]
            })
            .collect();
        format!(
            "\nThe host's CPU per request (µs, median of the runs; /proc/stat for the host, \
             /proc/<pid>/stat for the processes, getrusage for wrk). On a machine whose cores \
             are all busy, throughput falls by the added CPU per request:\n\n{}",
            table(
                &["CPU per request", "without sonde", "with sonde", "added"],
                &lines
            )
        )
    }
}
