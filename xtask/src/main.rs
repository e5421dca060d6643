//! `cargo xtask`: the project's own tasks (toolchain setup, build, privileged test runs, CI).
//!
//! Every subcommand lives in its own module. They shell out to the real tools (apt-get,
//! rustup, cargo, python3) and print each command before running it, so a CI log shows
//! exactly what happened.
mod build;
mod ci;
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
    /// Full setup, build the agent, then run the whole test suite (needs root).
    Test(test::TestArgs),
    /// What CI runs: `test`, then `cargo fmt --check` and `cargo clippy -D warnings`.
    Ci,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Setup(args) => setup::run(&args),
        Command::Build => build::run(),
        Command::Run(args) => run::run(&args),
        Command::Test(args) => test::run(&args).map(|_| ()),
        Command::Ci => ci::run(),
    }
}
