//! `cargo xtask`: the project's own tasks (toolchain setup, build, privileged test runs, CI).
//!
//! Every subcommand lives in its own module. They shell out to the real tools (apt-get,
//! rustup, cargo, python3) and print each command before running it, so a CI log shows
//! exactly what happened.
mod bench;
mod build;
mod check;
mod run;
mod setup;
mod sh;
mod test;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "sonde's development tasks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what is missing (apt packages, nightly rust-src, bpf-linker, tracefs mount,
    /// the Python test venv), saying what is installed and what was already there.
    Setup(setup::SetupArgs),
    /// Set up the toolchain, then `cargo build --release` (agent with its kernel object).
    Build,
    /// Set up the toolchain, build, then run `target/release/sonde` with the given arguments.
    Run(run::RunArgs),
    /// Full setup, build the agent, run the whole test suite (needs root), then
    /// `cargo fmt --check` and `cargo clippy -D warnings`. What `.ci/run` calls.
    Test(test::TestArgs),
    /// Benchmarks: the criterion pipeline benchmark, then nginx, Redis, loss and FastAPI
    /// against sonde, written to docs/BENCHMARKS.md (needs root).
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Setup(args) => setup::run(&args),
        Command::Build => build::run(),
        Command::Run(args) => run::run(&args),
        Command::Test(args) => check::run(&args),
        Command::Bench(args) => bench::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // The chain of causes, without the backtrace RUST_BACKTRACE would add.
            eprintln!("xtask: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
