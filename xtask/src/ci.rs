//! `cargo xtask ci`: what `.ci/run` calls. Tests first, then formatting and lints; every
//! step runs even when an earlier one failed, and the summary reports all of them.
use crate::sh;
use crate::test::{self, Summary, TestArgs};

pub fn run() -> anyhow::Result<()> {
    let tests = test::run(&TestArgs::default());
    let fmt = sh::run(sh::cargo().args(["fmt", "--all", "--check"]));
    let clippy = sh::run(sh::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]));

    let mut failed = Vec::new();
    println!("ci: summary");
    let summary = match &tests {
        Ok(summary) if summary.success => {
            println!("ci:   {:<8}ok", "test:");
            *summary
        }
        Ok(summary) => {
            println!("ci:   {:<8}FAILED (cargo test exited non-zero)", "test:");
            failed.push("test");
            *summary
        }
        Err(err) => {
            println!("ci:   {:<8}FAILED ({err:#})", "test:");
            failed.push("test");
            Summary::default()
        }
    };
    for (name, result) in [("fmt", &fmt), ("clippy", &clippy)] {
        match result {
            Ok(()) => println!("ci:   {:<8}ok", format!("{name}:")),
            Err(err) => {
                println!("ci:   {:<8}FAILED ({err:#})", format!("{name}:"));
                failed.push(name);
            }
        }
    }
    println!("{}", summary.line());
    if !failed.is_empty() {
        anyhow::bail!("ci failed: {}", failed.join(", "));
    }
    Ok(())
}
