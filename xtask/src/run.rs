//! `cargo xtask run [-- ARGS...]`: build, then replace this process with the agent.
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::bail;

use crate::sh;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Arguments for sonde (after `--`). None: console exporter of live traces.
    #[arg(last = true)]
    args: Vec<String>,
}

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let asks_for_help = args
        .args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"));
    if !sh::is_root() && !asks_for_help {
        bail!(
            "sonde loads kernel programs and must run as root: try `sudo -E cargo xtask run -- {}`",
            args.args.join(" ")
        );
    }
    crate::build::run()?;
    let bin = sh::workspace_root().join("target/release/sonde");
    let mut cmd = Command::new(&bin);
    cmd.args(&args.args);
    println!("+ {}", sh::display(&cmd));
    // exec: signals (Ctrl-C, SIGTERM) reach sonde itself, so it flushes and exits cleanly.
    let err = cmd.exec();
    Err(anyhow::Error::new(err).context(format!("cannot execute {}", bin.display())))
}
