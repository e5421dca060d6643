//! `sonde-bench`: the end-to-end half of `cargo xtask bench`. It starts real servers on
//! loopback, loads them with wrk, redis-benchmark or a paced client, runs the agent against
//! them in alternating runs, and writes docs/BENCHMARKS.md. xtask builds it and the agent,
//! and runs the criterion pipeline benchmark first.

mod agent;
mod bpfstats;
mod child;
mod ctx;
mod diag;
mod machine;
mod net;
mod observe;
mod pace;
mod probe;
mod procfs;
mod report;
mod scenario;
mod servers;
mod sink;
mod stats;
mod wrk;

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;

use crate::ctx::{Ctx, Mode};
use crate::report::Report;

/// Every scenario, in the order they run and appear.
const SCENARIOS: &[&str] = &["pipeline", "nginx", "fastapi", "redis", "kernel", "loss"];

#[derive(Debug, Parser)]
#[command(name = "sonde-bench", about = "sonde's end-to-end benchmarks")]
struct Args {
    /// Short runs that check the harness; numbers are indicative only.
    #[arg(long)]
    quick: bool,
    /// Run only these scenarios (comma-separated); the others' sections are kept from
    /// earlier runs.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The agent binary.
    #[arg(long, default_value = "target/release/sonde")]
    sonde: PathBuf,
    /// The document to write.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    out: PathBuf,
}

fn header(ctx: &Ctx, quick: bool) -> String {
    format!(
        "# sonde benchmarks\n\n\
         Written by `cargo xtask bench{}` (`--quick` for a short smoke run of the harness; \
         `--only nginx,redis,...` to refresh some sections). Every overhead figure is a ratio \
         measured in the same run, with and without sonde in alternating runs (A, B, A, B, \
         ...), and the median of the per-pair ratios; raw values are medians too. All load \
         goes to 127.0.0.1. The machine is shared with other builds while this runs, so \
         compare ratios, not absolute rates.\n\n\
         ## Setup\n\n{}",
        if quick { " --quick" } else { "" },
        machine::describe(&ctx.root)
    )
}

fn main() -> anyhow::Result<()> {
    // The child side of the kernel-cost section (scenario/kernel.rs).
    if std::env::args().nth(1).as_deref() == Some("__probe") {
        return probe::serve();
    }
    let args = Args::parse();
    for name in &args.only {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!("unknown scenario {name:?}; known: {}", SCENARIOS.join(", "));
        }
    }
    let root = std::env::current_dir()?;
    let sonde = root.join(&args.sonde);
    if !sonde.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p sonde`",
            sonde.display()
        );
    }
    let ctx = Ctx {
        mode: if args.quick { Mode::Quick } else { Mode::Full },
        sonde,
        root: root.clone(),
        sink: sink::Sink::start()?,
        work: tempfile::Builder::new().prefix("sonde-bench-").tempdir()?,
        foreign: Default::default(),
        own: Default::default(),
    };
    let report = Report::new(
        &root.join(&args.out),
        &root.join("target/sonde-bench/sections"),
        header(&ctx, args.quick),
    )?;
    let _stats = bpfstats::StatsEnabled::new().context("enabling kernel.bpf_stats_enabled")?;
    println!("bench: logs in {}", ctx.work.path().display());
    let mut failed = Vec::new();
    for &name in SCENARIOS {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
            continue;
        }
        println!("bench: === {name} ===");
        ctx.take_foreign_note();
        let result = match name {
            "pipeline" => scenario::pipeline::run(&ctx),
            "nginx" => scenario::nginx::run(&ctx),
            "fastapi" => scenario::fastapi::run(&ctx),
            "redis" => scenario::redis::run(&ctx),
            "kernel" => scenario::kernel::run(&ctx),
            "loss" => scenario::loss::run(&ctx),
            _ => unreachable!("checked against SCENARIOS"),
        };
        match result {
            Ok(mut section) => {
                section.body.push_str(&ctx.take_foreign_note());
                report.put(&section)?
            }
            Err(e) => {
                eprintln!("bench: {name} failed: {e:#}");
                failed.push(name);
            }
        }
    }
    report.write()?;
    if !failed.is_empty() {
        // Keep the logs for a look.
        let kept = ctx.work.keep();
        bail!("failed: {} (logs in {})", failed.join(", "), kept.display());
    }
    Ok(())
}
