//! §4: redis-benchmark (GET and SET, 16 clients, no pipelining) without sonde, with sonde
//! watching redis-server, and with sonde watching both ends of every connection to the
//! Redis port, in alternating runs.

use std::time::Duration;

use crate::agent::Selection;
use crate::bpfstats;
use crate::ctx::Ctx;
use crate::observe::{self, AgentCost};
use crate::procfs;
use crate::report::{Section, Target, int, ratio, table};
use crate::servers::redis::{self, BenchLine, Redis};
use crate::stats::{median, median_ratio};

struct Run {
    lines: Vec<BenchLine>,
    /// redis-server CPU during the benchmark.
    server_cpu: Duration,
    /// Operations run (GET and SET together).
    ops: u64,
}

impl Run {
    fn rps(&self, test: &str) -> f64 {
        self.lines
            .iter()
            .find(|l| l.test == test)
            .map_or(f64::NAN, |l| l.rps)
    }
    fn p99(&self, test: &str) -> f64 {
        self.lines
            .iter()
            .find(|l| l.test == test)
            .map_or(f64::NAN, |l| l.p99_ms)
    }
    /// Both tests together: operations over the summed time of the two tests.
    fn combined(&self) -> f64 {
        let per_test = self.ops as f64 / self.lines.len().max(1) as f64;
        let seconds: f64 = self.lines.iter().map(|l| per_test / l.rps).sum();
        self.ops as f64 / seconds
    }
    fn server_us_per_op(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }
}

fn load(ctx: &Ctx, server: &Redis) -> anyhow::Result<Run> {
    let n = ctx.mode.redis_requests();
    let before = procfs::cpu_time(server.pid())?;
    let lines = redis::benchmark(server.port, n)?;
    Ok(Run {
        ops: n * lines.len() as u64,
        lines,
        server_cpu: procfs::cpu_time(server.pid())?.saturating_sub(before),
    })
}

struct Variant {
    label: &'static str,
    selection: Option<Selection>,
    runs: Vec<(Run, Option<AgentCost>)>,
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let server = Redis::start()?;
    println!("bench: redis-server on port {}, warming up", server.port);
    redis::benchmark(server.port, 10_000)?;
    let mut variants = [
        Variant {
            label: "without sonde",
            selection: None,
            runs: Vec::new(),
        },
        Variant {
            label: "sonde --pid <redis-server>",
            selection: Some(Selection::Pids(vec![server.pid()])),
            runs: Vec::new(),
        },
        Variant {
            label: "sonde --port <redis port> (both ends)",
            selection: Some(Selection::Ports(vec![server.port])),
            runs: Vec::new(),
        },
    ];
    for round in 0..ctx.mode.pairs() {
        for v in &mut variants {
            let run = match &v.selection {
                None => {
                    ctx.note_foreign_programs();
                    (load(ctx, &server)?, None)
                }
                Some(sel) => {
                    let (run, cost) =
                        observe::with_agent(ctx, sel, &format!("redis-{round}"), || {
                            load(ctx, &server)
                        })?;
                    (run, Some(cost))
                }
            };
            println!(
                "bench: redis round {} {}: {:.0} ops/s",
                round + 1,
                v.label,
                run.0.combined()
            );
            v.runs.push(run);
        }
    }
    Ok(section(ctx, &variants))
}

fn section(ctx: &Ctx, variants: &[Variant]) -> Section {
    let base = &variants[0];
    let col = |v: &Variant, f: &dyn Fn(&Run) -> f64| -> Vec<f64> {
        v.runs.iter().map(|(r, _)| f(r)).collect()
    };
    let mut rows = Vec::new();
    let mut combined_ratio = Vec::new();
    for v in variants {
        let vs = |f: &dyn Fn(&Run) -> f64| {
            if std::ptr::eq(v, base) {
                String::new()
            } else {
                ratio(median_ratio(&col(base, f), &col(v, f)))
            }
        };
        let combined = vs(&|r: &Run| r.combined());
        combined_ratio.push(median_ratio(
            &col(base, &|r: &Run| r.combined()),
            &col(v, &|r: &Run| r.combined()),
        ));
        let costs: Vec<&AgentCost> = v.runs.iter().filter_map(|(_, c)| c.as_ref()).collect();
        let sonde_cpu: Vec<f64> = v
            .runs
            .iter()
            .filter_map(|(r, c)| {
                c.as_ref()
                    .map(|c| c.cpu.as_secs_f64() * 100_000.0 / r.ops.max(1) as f64)
            })
            .collect();
        let spans: Vec<f64> = v
            .runs
            .iter()
            .filter_map(|(r, c)| c.as_ref().map(|c| c.received.spans as f64 / r.ops as f64))
            .collect();
        rows.push(vec![
            v.label.to_owned(),
            int(median(&col(v, &|r: &Run| r.rps("GET")))),
            int(median(&col(v, &|r: &Run| r.rps("SET")))),
            format!(
                "{:.2} / {:.2}",
                median(&col(v, &|r: &Run| r.p99("GET"))),
                median(&col(v, &|r: &Run| r.p99("SET")))
            ),
            combined,
            format!("{:.2}", median(&col(v, &|r: &Run| r.server_us_per_op()))),
            vs(&|r: &Run| r.server_us_per_op()),
            if costs.is_empty() {
                String::new()
            } else {
                format!("{:.2}", median(&sonde_cpu))
            },
            if costs.is_empty() {
                String::new()
            } else {
                format!("{:.3}", median(&spans))
            },
        ]);
    }
    let mut body = format!(
        "redis-server 7.0 (no persistence) on 127.0.0.1; `redis-benchmark -n {} -P 1 -c 16 -t \
         get,set --csv`. Each round runs the three variants back to back; {} rounds; ratios \
         are medians of the per-round ratios against the run without sonde in the same round. \
         `--pid` watches redis-server only: the server side, for which sonde makes no spans \
         (its Redis spans are CLIENT spans), so sonde mutes each connection after its first \
         exchange and this is the cost of watching a Redis server; `--port` watches every \
         connection with the Redis port at either end, so redis-benchmark's side is captured \
         too and every operation becomes a span. The 0.90 target is reported for both.\n\n",
        ctx.mode.redis_requests(),
        base.runs.len()
    );
    body.push_str(&table(
        &[
            "variant",
            "GET ops/s",
            "SET ops/s",
            "p99 ms GET / SET",
            "ops/s ratio",
            "redis-server CPU µs/op",
            "CPU ratio",
            "sonde CPU s / 100k ops",
            "spans / op",
        ],
        &rows,
    ));
    let mut problems = Vec::new();
    for v in &variants[1..] {
        let costs: Vec<&AgentCost> = v.runs.iter().filter_map(|(_, c)| c.as_ref()).collect();
        let ops: u64 = v.runs.iter().map(|(r, _)| r.ops).sum();
        let progs = observe::total_progs(&costs);
        body.push_str(&format!("\nKernel programs, {}:\n\n", v.label));
        body.push_str(&observe::progs_table(&progs, ops));
        if let Some(p) = bpfstats::socket_io(&progs) {
            problems.push(format!(
                "redis ({}): socket I/O programs {:.0} ns per invocation, {:.2} µs per operation",
                v.label,
                p.avg_ns().unwrap_or(f64::NAN),
                p.run_time_ns as f64 / 1000.0 / ops.max(1) as f64
            ));
        }
    }
    // Two targets: watching the server is what a Redis host pays (and what peers are judged
    // on); with redis-benchmark's side watched too, every operation becomes a span, at a rate
    // (100k+/s from one client) far beyond an application's.
    let r = combined_ratio[2];
    let server_only = combined_ratio[1];
    let met = r >= 0.90;
    let both = &variants[2];
    let ops: u64 = both.runs.iter().map(|(run, _)| run.ops).sum();
    let costs: Vec<&AgentCost> = both.runs.iter().filter_map(|(_, c)| c.as_ref()).collect();
    let sonde_us = costs.iter().map(|c| c.cpu.as_secs_f64()).sum::<f64>() * 1e6 / ops.max(1) as f64;
    let kernel_us = observe::total_progs(&costs)
        .values()
        .map(|p| p.run_time_ns as f64)
        .sum::<f64>()
        / 1000.0
        / ops.max(1) as f64;
    let why = format!(
        "per operation sonde's process uses {sonde_us:.2} µs and its kernel programs \
         {kernel_us:.2} µs (4 socket calls: both ends' read and write), against \
         redis-server's own \
         {:.2} µs, on the 2 cores redis-server and redis-benchmark saturate",
        median(&col(base, &|r: &Run| r.server_us_per_op()))
    );
    Section {
        id: "4-redis".into(),
        title: "4. Redis: redis-benchmark".into(),
        stamp: ctx.stamp(),
        body,
        targets: vec![
            Target {
                what: "redis-benchmark ops/s, sonde watching redis-server (`--pid`) / without"
                    .into(),
                target: "≥ 0.90".into(),
                measured: ratio(server_only),
                met: Some(server_only >= 0.90),
                note: format!(
                    "redis-server CPU per operation {:.2} → {:.2} µs: the server side makes no \
                     spans, so sonde mutes each connection after its first exchange",
                    median(&col(base, &|r: &Run| r.server_us_per_op())),
                    median(&col(&variants[1], &|r: &Run| r.server_us_per_op())),
                ),
            },
            Target {
                what: "redis-benchmark ops/s, both ends watched (`--port`: a span per operation) \
                       / without"
                    .into(),
                target: "≥ 0.90".into(),
                measured: ratio(r),
                met: Some(met),
                note: if met {
                    why
                } else {
                    format!("short by {:.3}: {why}", 0.90 - r)
                },
            },
        ],
        problems,
    }
}
