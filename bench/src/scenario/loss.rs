//! §6 and the memory target: with sonde watching nginx, requests answered against SERVER
//! spans received, at the highest rate wrk reaches and at paced 5k and 10k requests/s; sonde's
//! own loss counters and its peak RSS for each.

use crate::agent::Selection;
use crate::ctx::Ctx;
use crate::observe::{self, AgentCost};
use crate::pace;
use crate::report::{Section, Target, int, table};
use crate::servers::nginx::{Nginx, PATH};
use crate::wrk::{self, WrkArgs};

const MIB: f64 = 1048576.0;
const RSS_LIMIT_MIB: f64 = 64.0;

struct Run {
    label: String,
    requests: u64,
    rate: f64,
    errors: u64,
    cost: AgentCost,
}

impl Run {
    fn lost(&self) -> u64 {
        self.requests.saturating_sub(self.cost.received.server)
    }
}

/// sonde's counters worth showing, as they are named on /metrics.
const COUNTERS: &[(&str, &str)] = &[
    ("sonde_events_read_total", "events read"),
    (
        "sonde_events_lost_total",
        "events lost in the kernel (ring buffer full)",
    ),
    ("sonde_events_truncated_total", "events truncated"),
    ("sonde_copy_failures_total", "copy failures"),
    ("sonde_parse_failures_total", "parse failures"),
    ("sonde_exchanges_incomplete_total", "exchanges incomplete"),
    ("sonde_connections_evicted_total", "connections evicted"),
    ("sonde_spans_created_total", "spans created"),
    (
        "sonde_spans_exported_total",
        "spans exported (before the final flush)",
    ),
    (
        "sonde_spans_dropped_total",
        "spans dropped (before the final flush)",
    ),
    ("sonde_export_failures_total", "export failures"),
];

pub fn run(ctx: &Ctx) -> anyhow::Result<Section> {
    let nginx = Nginx::start()?;
    let selection = Selection::Pids(vec![nginx.master_pid()]);
    let mut runs = Vec::new();

    let duration = ctx.mode.loss_run();
    println!(
        "bench: loss at the highest rate for {}s",
        duration.as_secs()
    );
    let (w, cost) = observe::with_agent(ctx, &selection, "loss-max", || {
        wrk::run(&WrkArgs {
            url: nginx.url(),
            threads: 2,
            connections: 16,
            duration,
            script: None,
        })
    })?;
    runs.push(Run {
        label: format!("highest rate (wrk -t2 -c16, {} s)", duration.as_secs()),
        requests: w.requests,
        rate: w.requests_per_sec,
        errors: w.errors,
        cost,
    });

    for rate in [5_000.0, 10_000.0] {
        let duration = ctx.mode.paced_run();
        println!(
            "bench: loss at {rate} requests/s for {}s",
            duration.as_secs()
        );
        let (p, cost) = observe::with_agent(ctx, &selection, &format!("loss-{rate}"), || {
            pace::run(nginx.port, PATH, rate, duration)
        })?;
        runs.push(Run {
            label: format!("paced {} requests/s ({} s)", int(rate), duration.as_secs()),
            requests: p.completed,
            rate: p.rate(),
            errors: p.errors,
            cost,
        });
    }
    for r in &runs {
        println!(
            "bench: {}: {} requests, {} spans, lost {}",
            r.label,
            r.requests,
            r.cost.received.server,
            r.lost()
        );
    }
    Ok(section(ctx, &runs))
}

fn section(ctx: &Ctx, runs: &[Run]) -> Section {
    let mut head = vec!["".to_owned()];
    head.extend(runs.iter().map(|r| r.label.clone()));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let row = |name: &str, f: &dyn Fn(&Run) -> String| {
        let mut r = vec![name.to_owned()];
        r.extend(runs.iter().map(f));
        r
    };
    let mut rows = vec![
        row("requests/s achieved", &|r| int(r.rate)),
        row("requests answered", &|r| int(r.requests as f64)),
        row("client errors", &|r| int(r.errors as f64)),
        row("SERVER spans received", &|r| {
            int(r.cost.received.server as f64)
        }),
        row("requests without a span", &|r| {
            format!(
                "{} ({:.3}%)",
                int(r.lost() as f64),
                100.0 * r.lost() as f64 / r.requests.max(1) as f64
            )
        }),
        row(
            "spans beyond requests (answered after the client stopped)",
            &|r| int(r.cost.received.server.saturating_sub(r.requests) as f64),
        ),
    ];
    for (metric, name) in COUNTERS {
        rows.push(row(&format!("sonde: {name}"), &|r| {
            int(r.cost.metric(metric))
        }));
    }
    rows.push(row("sonde CPU s / 100k requests", &|r| {
        format!(
            "{:.2}",
            r.cost.cpu.as_secs_f64() * 100_000.0 / r.requests.max(1) as f64
        )
    }));
    rows.push(row("sonde peak RSS (VmHWM)", &|r| {
        format!("{:.1} MiB", r.cost.peak_rss as f64 / MIB)
    }));
    rows.push(row("sonde peak RSS once attached, before the load", &|r| {
        format!("{:.1} MiB", r.cost.idle_peak_rss as f64 / MIB)
    }));
    rows.push(row("RSS at the end: anon / file / shmem", &|r| {
        let (a, f, s) = r.cost.rss_kinds;
        format!(
            "{:.1} / {:.1} / {:.1} MiB",
            a as f64 / MIB,
            f as f64 / MIB,
            s as f64 / MIB
        )
    }));
    rows.push(row("largest mappings at the end", &|r| r.cost.rss_top(4)));
    rows.push(row("sonde threads per request", &|r| {
        r.cost.threads_per(r.requests)
    }));
    let mut body = String::from(
        "nginx as in §2, watched by `sonde --pid <nginx master>`, started fresh for each run \
         and stopped with SIGTERM after it (every finished span is flushed before it exits). \
         Requests answered are counted by the client (wrk's total, or the paced client's \
         complete responses); spans are the SERVER spans the counting receiver got. The paced \
         client (bench/src/pace.rs) sends on a fixed schedule over keep-alive connections of \
         1,000 requests/s each. sonde's counters are read from /metrics at the end of the \
         load, before the final flush.\n\n",
    );
    body.push_str(&table(&head, &rows));

    let mut targets = Vec::new();
    let mut problems = Vec::new();
    if let Some(r) = runs.iter().find(|r| r.label.starts_with("paced 5,000")) {
        let lost = r.lost();
        targets.push(Target {
            what: "spans lost at 5k requests/s".into(),
            target: "0".into(),
            measured: format!("{} of {}", int(lost as f64), int(r.requests as f64)),
            met: Some(lost == 0),
            note: if lost == 0 {
                String::new()
            } else {
                format!(
                    "ring buffer lost {} events, export dropped {} spans, {} exchanges \
                     incomplete",
                    int(r.cost.metric("sonde_events_lost_total")),
                    int(r.cost.metric("sonde_spans_dropped_total")),
                    int(r.cost.metric("sonde_exchanges_incomplete_total"))
                )
            },
        });
    }
    if let Some(r) = runs.iter().find(|r| r.label.starts_with("paced 10,000")) {
        let mib = r.cost.peak_rss as f64 / MIB;
        let (a, f, s) = r.cost.rss_kinds;
        let kinds = format!(
            "{:.1} MiB already once attached, before any load; at the end {:.1} MiB \
             anonymous, {:.1} MiB file-backed, {:.1} MiB shared; largest: {}",
            r.cost.idle_peak_rss as f64 / MIB,
            a as f64 / MIB,
            f as f64 / MIB,
            s as f64 / MIB,
            r.cost.rss_top(4)
        );
        targets.push(Target {
            what: "sonde peak RSS at 10k requests/s".into(),
            target: "≤ 64 MiB".into(),
            measured: format!("{mib:.1} MiB"),
            met: Some(mib <= RSS_LIMIT_MIB),
            note: if mib <= RSS_LIMIT_MIB {
                kinds.clone()
            } else {
                format!("over by {:.1} MiB; {kinds}", mib - RSS_LIMIT_MIB)
            },
        });
        if mib > RSS_LIMIT_MIB {
            problems.push(format!(
                "memory: peak RSS {mib:.1} MiB at 10k requests/s; {kinds}"
            ));
        }
    }
    if let Some(r) = runs.iter().find(|r| r.label.starts_with("paced 5,000")) {
        problems.push(format!(
            "userspace at 5k requests/s: {:.2} CPU-s per 100k requests; by thread per request: {}",
            r.cost.cpu.as_secs_f64() * 100_000.0 / r.requests.max(1) as f64,
            r.cost.threads_per(r.requests)
        ));
    }
    if let Some(r) = runs.first() {
        let lost = r.lost();
        if lost > 0 {
            problems.push(format!(
                "loss at the highest rate ({} requests/s): {} of {} requests ({:.2}%) without \
                 a span; ring buffer lost {} events, export dropped {} spans",
                int(r.rate),
                int(lost as f64),
                int(r.requests as f64),
                100.0 * lost as f64 / r.requests.max(1) as f64,
                int(r.cost.metric("sonde_events_lost_total")),
                int(r.cost.metric("sonde_spans_dropped_total")),
            ));
        }
    }
    Section {
        id: "6-loss".into(),
        title: "6. Loss and memory".into(),
        stamp: ctx.stamp(),
        body,
        targets,
        problems,
    }
}
