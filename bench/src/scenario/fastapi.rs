//! §3: the FastAPI service (uvicorn, one worker; a Redis GET, a PostgreSQL SELECT and a
//! Redis SETEX per request) uninstrumented, under sonde, and under the OpenTelemetry SDK's
//! `opentelemetry-instrument`, in alternating runs.

use std::path::Path;
use std::time::Duration;

use crate::agent::Selection;
use crate::bpfstats;
use crate::ctx::Ctx;
use crate::observe::{self, AgentCost};
use crate::procfs;
use crate::report::{Section, Target, int, ratio, table};
use crate::servers::fastapi::{self, FastApi, Instrumentation};
use crate::servers::postgres::Postgres;
use crate::servers::python::{self, Venv};
use crate::servers::redis::Redis;
use crate::sink::Received;
use crate::stats::{median, median_ratio};
use crate::wrk::{self, WrkArgs, WrkResult};
use crate::{diag, net};

const THREADS: u32 = 2;
const CONNECTIONS: u32 = 16;
const WARM_UP: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    Sonde,
    Sdk,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Plain => "uninstrumented",
            Variant::Sonde => "sonde --pid <uvicorn>",
            Variant::Sdk => "opentelemetry-instrument",
        }
    }
}

struct Run {
    wrk: WrkResult,
    app_cpu: Duration,
    /// Requests of the warm-up before the measured load (the SDK traces them too).
    warm_up_requests: u64,
    /// What reached the sink from the app's start (the SDK) or sonde's start to the end.
    received: Received,
    cost: Option<AgentCost>,
}

impl Run {
    fn app_ms_per_request(&self) -> f64 {
        self.app_cpu.as_secs_f64() * 1000.0 / self.wrk.requests.max(1) as f64
    }
    /// Spans per traced request: sonde traces the measured load only, the SDK everything.
    fn spans_per_request(&self, spans: u64) -> f64 {
        let requests = if self.cost.is_some() {
            self.wrk.requests
        } else {
            self.wrk.requests + self.warm_up_requests
        };
        spans as f64 / requests.max(1) as f64
    }
}

struct Env<'a> {
    ctx: &'a Ctx,
    venv: &'a Venv,
    app_dir: &'a Path,
    pg: &'a Postgres,
    redis: &'a Redis,
}

impl Env<'_> {
    fn start(&self, how: Instrumentation, log: &str) -> anyhow::Result<FastApi> {
        FastApi::start(
            self.venv,
            self.app_dir,
            how,
            self.pg.port,
            self.redis.port,
            &self.ctx.sink.endpoint(),
            &self.ctx.log_dir(log)?.join("uvicorn.log"),
        )
    }

    fn wrk(&self, app: &FastApi, duration: Duration) -> anyhow::Result<WrkResult> {
        wrk::run(&WrkArgs {
            url: format!("http://127.0.0.1:{}/", app.port),
            threads: THREADS,
            connections: CONNECTIONS,
            duration,
            script: Some(&self.app_dir.join("items.lua")),
        })
    }

    fn load(&self, app: &FastApi) -> anyhow::Result<(WrkResult, Duration)> {
        let before = procfs::cpu_time(app.pid())?;
        let w = self.wrk(app, self.ctx.mode.run())?;
        Ok((w, procfs::cpu_time(app.pid())?.saturating_sub(before)))
    }

    fn run(&self, variant: Variant, round: usize) -> anyhow::Result<Run> {
        let sink_before = self.ctx.sink.received();
        let how = if variant == Variant::Sdk {
            Instrumentation::Sdk
        } else {
            Instrumentation::None
        };
        let log = format!("fastapi-{round}-{}", variant as u8);
        let app = self.start(how, &log)?;
        let warm = self.wrk(&app, WARM_UP)?;
        let ((wrk, app_cpu), cost) = if variant == Variant::Sonde {
            let sel = Selection::Pids(vec![app.pid()]);
            let (r, c) = observe::with_agent(self.ctx, &sel, &log, || self.load(&app))?;
            (r, Some(c))
        } else {
            self.ctx.note_foreign_programs();
            (self.load(&app)?, None)
        };
        app.stop();
        Ok(Run {
            wrk,
            app_cpu,
            warm_up_requests: warm.requests,
            received: self.ctx.sink.received() - sink_before,
            cost,
        })
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let venv = python::ensure(&ctx.root)?;
    let pg = Postgres::start()?;
    let redis = Redis::start()?;
    let app_dir = fastapi::app_dir()?;
    let env = Env {
        ctx,
        venv: &venv,
        app_dir: app_dir.path(),
        pg: &pg,
        redis: &redis,
    };
    // Smoke check: one request answers 200 before anything is measured.
    {
        let app = env.start(Instrumentation::None, "fastapi-smoke")?;
        let (status, body) = net::http_get(app.port, "/items/7")?;
        anyhow::ensure!(status == 200, "GET /items/7 answered {status}: {body}");
        app.stop();
    }
    let variants = [Variant::Plain, Variant::Sonde, Variant::Sdk];
    let mut runs: Vec<Vec<Run>> = variants.iter().map(|_| Vec::new()).collect();
    for round in 0..ctx.mode.pairs() {
        for (i, &v) in variants.iter().enumerate() {
            let r = env.run(v, round)?;
            println!(
                "bench: fastapi round {} {}: {:.0} req/s, p99 {:.1} ms, {} spans",
                round + 1,
                v.label(),
                r.wrk.requests_per_sec,
                r.wrk.p99_ms,
                r.received.spans
            );
            runs[i].push(r);
        }
    }
    let mix = {
        let app = env.start(Instrumentation::None, "fastapi-mix")?;
        let m = diag::syscall_mix(ctx, &[app.pid()], |d| Ok(env.wrk(&app, d)?.requests));
        app.stop();
        m?
    };
    Ok(section(ctx, &venv, &variants, &runs, &mix))
}

fn section(
    ctx: &Ctx,
    venv: &Venv,
    variants: &[Variant],
    runs: &[Vec<Run>],
    mix: &diag::SyscallMix,
) -> Section {
    let col = |i: usize, f: &dyn Fn(&Run) -> f64| -> Vec<f64> { runs[i].iter().map(f).collect() };
    let rps = |r: &Run| r.wrk.requests_per_sec;
    let p99 = |r: &Run| r.wrk.p99_ms;
    let mut rows = Vec::new();
    let mut throughput = Vec::new();
    for (i, v) in variants.iter().enumerate() {
        let t = median_ratio(&col(0, &rps), &col(i, &rps));
        throughput.push(t);
        let sonde_ms: Vec<f64> = runs[i]
            .iter()
            .filter_map(|r| {
                r.cost
                    .as_ref()
                    .map(|c| c.cpu.as_secs_f64() * 1000.0 / r.wrk.requests.max(1) as f64)
            })
            .collect();
        rows.push(vec![
            v.label().to_owned(),
            int(median(&col(i, &rps))),
            format!("{:.1}", median(&col(i, &|r: &Run| r.wrk.p50_ms))),
            format!("{:.1}", median(&col(i, &p99))),
            format!("{:.2}", median(&col(i, &Run::app_ms_per_request))),
            if i == 0 { String::new() } else { ratio(t) },
            if i == 0 {
                String::new()
            } else {
                ratio(median_ratio(&col(0, &p99), &col(i, &p99)))
            },
            if i == 0 {
                String::new()
            } else {
                ratio(median_ratio(
                    &col(0, &Run::app_ms_per_request),
                    &col(i, &Run::app_ms_per_request),
                ))
            },
            if *v == Variant::Plain {
                String::new()
            } else {
                format!(
                    "{:.2} / {:.2}",
                    median(&col(i, &|r: &Run| r.spans_per_request(r.received.server))),
                    median(&col(i, &|r: &Run| r.spans_per_request(r.received.client)))
                )
            },
            if sonde_ms.is_empty() {
                String::new()
            } else {
                format!("{:.3}", median(&sonde_ms))
            },
        ]);
    }
    let mut body = format!(
        "A FastAPI service under uvicorn (one worker, plain `uvicorn`, access log off) whose \
         `GET /items/{{item_id}}` does a Redis GET, one psycopg2 SELECT (autocommit, \
         a `ThreadedConnectionPool` of 24 open connections) and a Redis SETEX; PostgreSQL \
         15 (initdb in a temporary directory, fsync off) and redis-server 7 on loopback. \
         `wrk -t{THREADS} -c{CONNECTIONS} \
         -d{}s --latency -s items.lua` (a random item of 1,000 per request) after a {} s \
         warm-up. Each round starts the service fresh for each of the three variants: \
         uninstrumented; uninstrumented with `sonde --pid <uvicorn>` attached after the \
         warm-up (so it meets already-open database connections, as on a running service); \
         and under `opentelemetry-instrument` (FastAPI, psycopg2 and Redis instrumentations; \
         OTLP/gRPC traces to the same receiver; metrics and logs exporters off, so the SDK \
         pays for traces only). {} rounds; ratios are medians of the per-round ratios. Python \
         packages in target/benchenv: {}.\n\n",
        ctx.mode.run().as_secs(),
        WARM_UP.as_secs(),
        runs[0].len(),
        venv.versions()
    );
    body.push_str(&table(
        &[
            "variant",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "app CPU ms / request",
            "throughput ratio",
            "p99 ratio",
            "app CPU ratio",
            "SERVER / CLIENT spans per request",
            "sonde CPU ms / request",
        ],
        &rows,
    ));
    body.push_str(
        "\nThe SDK's span tree per request is one SERVER span and three CLIENT spans (SELECT, \
         GET, SETEX), so 1 / 3 spans per request is complete for either.\n",
    );
    body.push_str(&rounds_table(variants, runs));
    let sonde_costs: Vec<&AgentCost> = runs[1].iter().filter_map(|r| r.cost.as_ref()).collect();
    let requests: u64 = runs[1].iter().map(|r| r.wrk.requests).sum();
    let progs = observe::total_progs(&sonde_costs);
    body.push_str("\nKernel programs during the runs with sonde:\n\n");
    body.push_str(&observe::progs_table(&progs, requests));
    body.push('\n');
    body.push_str(&mix.markdown());

    let (sonde, sdk) = (throughput[1], throughput[2]);
    let sonde_ms = median(
        &runs[1]
            .iter()
            .filter_map(|r| {
                r.cost
                    .as_ref()
                    .map(|c| c.cpu.as_secs_f64() * 1000.0 / r.wrk.requests.max(1) as f64)
            })
            .collect::<Vec<_>>(),
    );
    let kernel_ms =
        progs.values().map(|p| p.run_time_ns as f64).sum::<f64>() / 1e6 / requests.max(1) as f64;
    let app_ms = median(&col(0, &Run::app_ms_per_request));
    let per_round = round_ratios(runs, 1);
    let lowest = per_round.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let why = format!(
        "the 2 cores are saturated by wrk, uvicorn, PostgreSQL and Redis, so sonde's CPU comes \
         out of the service's: its process {sonde_ms:.3} ms and its kernel programs \
         {kernel_ms:.3} ms (host-wide: every process's socket I/O) per request, against the \
         service's own {app_ms:.2} ms ({:.0}%); the rounds' ratios ran from {lowest:.3} to \
         {highest:.3}",
        100.0 * (sonde_ms + kernel_ms) / app_ms
    );
    let (sonde_loss, sdk_loss) = (1.0 - sonde, 1.0 - sdk);
    let mut problems = Vec::new();
    if let Some(p) = bpfstats::socket_io(&progs) {
        problems.push(format!(
            "FastAPI: socket I/O programs {:.0} ns per invocation, {:.1} invocations and {:.1} µs \
             per request",
            p.avg_ns().unwrap_or(f64::NAN),
            p.run_cnt as f64 / requests.max(1) as f64,
            p.run_time_ns as f64 / 1000.0 / requests.max(1) as f64
        ));
    }
    let targets = vec![
        Target {
            what: "FastAPI throughput, sonde / uninstrumented".into(),
            target: "≥ 0.97".into(),
            measured: ratio(sonde),
            met: Some(sonde >= 0.97),
            note: if sonde >= 0.97 {
                why.clone()
            } else {
                format!("short by {:.3}: {why}", 0.97 - sonde)
            },
        },
        Target {
            what: "FastAPI throughput lost under sonde, against the SDK's loss".into(),
            target: "≤ 1/5 of the SDK's".into(),
            measured: if sonde_loss > 0.0 {
                format!(
                    "sonde loses {:.1}%, the SDK {:.1}% (ratio {:.2})",
                    100.0 * sonde_loss,
                    100.0 * sdk_loss,
                    sonde_loss / sdk_loss
                )
            } else {
                // Within the noise, the median run with sonde was as fast or faster.
                format!(
                    "sonde loses nothing measurable (median ratio {sonde:.3}), the SDK {:.1}%",
                    100.0 * sdk_loss
                )
            },
            met: Some(sonde_loss <= sdk_loss / 5.0),
            note: "loss read as throughput lost against the uninstrumented run".into(),
        },
    ];
    Section {
        id: "3-fastapi".into(),
        title: "3. Against the SDK: FastAPI + PostgreSQL + Redis".into(),
        stamp: ctx.stamp(),
        body,
        targets,
        problems,
    }
}

/// Requests/s of every round and each variant's ratio to the uninstrumented run of the same
/// round: the medians above come from these.
fn rounds_table(variants: &[Variant], runs: &[Vec<Run>]) -> String {
    let mut header = vec!["round".to_owned()];
    for v in &variants[1..] {
        header.push(format!("{} / uninstrumented", v.label()));
    }
    let ratios: Vec<Vec<f64>> = (1..runs.len()).map(|i| round_ratios(runs, i)).collect();
    let rows: Vec<Vec<String>> = (0..runs[0].len())
        .map(|round| {
            let mut row = vec![format!(
                "{} ({} req/s uninstrumented)",
                round + 1,
                int(runs[0][round].wrk.requests_per_sec)
            )];
            for (variant, r) in runs[1..].iter().zip(&ratios) {
                let rps = variant[round].wrk.requests_per_sec;
                row.push(format!("{} ({})", ratio(r[round]), int(rps)));
            }
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    format!("\nEvery round:\n\n{}", table(&header, &rows))
}

/// Variant `i`'s requests/s over the uninstrumented run's, round by round.
fn round_ratios(runs: &[Vec<Run>], i: usize) -> Vec<f64> {
    runs[0]
        .iter()
        .zip(&runs[i])
        .map(|(a, b)| b.wrk.requests_per_sec / a.wrk.requests_per_sec)
        .collect()
}
