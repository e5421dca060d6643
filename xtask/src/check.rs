//! `cargo xtask test`, the README's test command and what `.ci/run` calls: the tests, then,
//! for a whole-suite run, formatting and lints. Every step runs even when an earlier one
//! failed, and the summary reports all of them.
use crate::sh;
use crate::test::{self, Summary, TestArgs};

pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    let tests = test::run(args);
    if args.is_filtered() {
        // A filtered run is a developer's quick loop: its result is the tests' alone.
        return match tests {
            Ok(summary) if summary.success => Ok(()),
            Ok(_) => anyhow::bail!("cargo test failed"),
            Err(err) => Err(err),
        };
    }
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
    println!("summary:");
    let summary = match &tests {
        Ok(summary) if summary.success => {
            println!("  {:<8}ok", "test:");
            *summary
        }
        Ok(summary) => {
            println!("  {:<8}FAILED (cargo test exited non-zero)", "test:");
            failed.push("test");
            *summary
        }
        Err(err) => {
            println!("  {:<8}FAILED ({err:#})", "test:");
            failed.push("test");
            Summary::default()
        }
    };
    for (name, result) in [("fmt", &fmt), ("clippy", &clippy)] {
        match result {
            Ok(()) => println!("  {:<8}ok", format!("{name}:")),
            Err(err) => {
                println!("  {:<8}FAILED ({err:#})", format!("{name}:"));
                failed.push(name);
            }
        }
    }
    println!("{}", summary.line());
    if !failed.is_empty() {
        anyhow::bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}
