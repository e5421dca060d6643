//! `cargo xtask bench`: builds the agent and the harness, runs the criterion pipeline
//! benchmark, then the end-to-end scenarios (`target/release/sonde-bench`, crate `bench/`),
//! which write docs/BENCHMARKS.md. Needs root (kernel programs, bpf_stats, perf).
use anyhow::bail;

use crate::setup::{self, Scope};
use crate::sh;

/// Every scenario `--only` accepts; `pipeline` is the criterion benchmark.
const SCENARIOS: &[&str] = &["pipeline", "nginx", "fastapi", "redis", "kernel", "loss"];

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A short smoke run that checks the harness (about 5 minutes); numbers are indicative.
    #[arg(long)]
    quick: bool,
    /// Run only these scenarios (comma-separated: pipeline, nginx, redis, loss, fastapi); the
    /// sections of the others are kept from earlier runs.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    for name in &args.only {
        if !SCENARIOS.contains(&name.as_str()) {
            bail!("unknown scenario {name:?}; known: {}", SCENARIOS.join(", "));
        }
    }
    if !sh::is_root() {
        bail!("the benchmarks load kernel programs: run as root (`sudo -E cargo xtask bench`)");
    }
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    setup::setup(Scope::Full)?;
    sh::run(sh::cargo().args(["build", "--release", "-p", "sonde", "-p", "sonde-bench"]))?;
    if wants("pipeline") {
        let mut cmd = sh::cargo();
        cmd.args([
            "bench", "-p", "sonde", "--bench", "pipeline", "--", "--noplot",
        ]);
        if args.quick {
            cmd.args(["--warm-up-time", "1", "--measurement-time", "3"])
                .env("SONDE_BENCH_ROUNDS", "10");
        }
        sh::run(&mut cmd)?;
    }
    let mut cmd =
        std::process::Command::new(sh::workspace_root().join("target/release/sonde-bench"));
    cmd.current_dir(sh::workspace_root());
    if args.quick {
        cmd.arg("--quick");
    }
    if !args.only.is_empty() {
        cmd.arg("--only").arg(args.only.join(","));
    }
    sh::run(&mut cmd)
}
