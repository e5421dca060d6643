//! `cargo xtask test`: full setup, the agent in release, then every test, one at a time.
//!
//! The end-to-end tests need root, start real servers and run the real agent; they run with
//! `--test-threads=1` so that what the agent sees (span counts, connections) is exact.
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;

use anyhow::{Context as _, bail};

use crate::setup::{self, Scope};
use crate::sh;

#[derive(Debug, Default, clap::Args)]
pub struct TestArgs {
    /// Test only this package (repeatable; default: the whole workspace).
    #[arg(short = 'p', long = "package")]
    packages: Vec<String>,
    /// Run only this integration test target, e.g. `fixtures_smoke` (repeatable).
    #[arg(long = "test")]
    tests: Vec<String>,
    /// Arguments for the test binaries, after `--`: a name filter, `--nocapture`, ...
    #[arg(last = true)]
    test_args: Vec<String>,
}

impl TestArgs {
    /// Whether this run was narrowed to some packages, targets or tests.
    pub fn is_filtered(&self) -> bool {
        !self.packages.is_empty() || !self.tests.is_empty() || !self.test_args.is_empty()
    }
}

/// Totals of the `test result:` lines of every test binary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// Whether `cargo test` itself exited 0 (false also when something did not compile).
    pub success: bool,
}

impl Summary {
    /// The closing line, in the plain form any CI log reader understands.
    pub fn line(&self) -> String {
        format!(
            "tests: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.ignored
        )
    }

    fn add_result_line(&mut self, line: &str) {
        // test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; ...
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (count, what) = match words.as_slice() {
                [.., count, what] => (count, *what),
                _ => continue,
            };
            let Ok(count) = count.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }
}

pub fn run(args: &TestArgs) -> anyhow::Result<Summary> {
    setup::setup(Scope::Full)?;
    sh::run(sh::cargo().args(["build", "--release", "-p", "sonde"]))?;
    let bin = sh::workspace_root().join("target/release/sonde");
    if !bin.is_file() {
        bail!("{} was not built", bin.display());
    }
    if !sh::is_root() {
        println!("test: warning: not root; the end-to-end tests need root and will fail");
    }

    let mut cmd = sh::cargo();
    cmd.args(["test", "--release"]);
    if args.packages.is_empty() {
        // The kernel crate builds only for the bpf target (agent/build.rs builds it); as a
        // host test binary it has no `main` and cannot link.
        cmd.args(["--workspace", "--exclude", "sonde-ebpf"]);
    }
    for package in &args.packages {
        cmd.args(["--package", package]);
    }
    for test in &args.tests {
        cmd.args(["--test", test]);
    }
    cmd.args(["--", "--test-threads=1"])
        .args(&args.test_args)
        .env("SONDE_BIN", &bin)
        .env("SONDE_PYENV", setup::pyenv_dir());

    let shown = sh::display(&cmd);
    println!("+ {shown}");
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{shown}`"))?;
    let mut summary = Summary::default();
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    let mut out = std::io::stdout();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        // Echo as it comes, so a long test run shows progress.
        out.write_all(&buf)?;
        out.flush()?;
        summary.add_result_line(String::from_utf8_lossy(&buf).trim_end());
    }
    summary.success = child.wait()?.success();
    println!("{}", summary.line());
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::Summary;

    #[test]
    fn sums_result_lines() {
        let mut s = Summary::default();
        s.add_result_line(
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
        );
        s.add_result_line("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s");
        s.add_result_line("running 3 tests");
        assert_eq!((s.passed, s.failed, s.ignored), (5, 1, 1));
        assert_eq!(s.line(), "tests: 5 passed, 1 failed, 1 skipped");
    }
}
