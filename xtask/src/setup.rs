//! `cargo xtask setup`: install what is missing, idempotently, and say what happens.
//!
//! Every check is cheap and every install is guarded by its check, so a second run installs
//! nothing. Installing needs root; checking does not.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};

use crate::sh;

/// What bpf-linker links against (the nightly's LLVM), from Debian's packages.
const LLVM_PACKAGES: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];
/// Where those packages put LLVM 22 (`/usr/bin/llvm-config` is an older LLVM).
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// The real servers and tools that the end-to-end tests and benchmarks use.
const TEST_PACKAGES: &[&str] = &[
    "nginx-light",
    "redis-server",
    "postgresql",
    "mariadb-server",
    "wrk",
    "curl",
    "iproute2",
    "procps",
    "prometheus",
    // `cargo xtask bench`: program names for the kernel-cost table, and the syscall mix.
    "bpftool",
    "linux-perf",
];

/// System services that those packages may start on install. Tests start their own
/// servers on free loopback ports, so none of these may keep running.
const SERVICES: &[&str] = &[
    "nginx",
    "redis-server",
    "postgresql",
    "mariadb",
    "prometheus",
];

/// Python packages for test workloads, installed into [`pyenv_dir`] from PyPI. A name may
/// carry a pip version specifier (`"requests==2.32.3"`).
pub const PYTHON_PACKAGES: &[&str] = &[
    "requests",
    "celery[redis]",
    "redis",
    "mysql-connector-python",
    "psycopg2-binary",
];

const TRACEFS: &str = "/sys/kernel/tracing";

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Only the Rust toolchain parts (nightly rust-src and bpf-linker), as `build` and
    /// `run` do.
    #[arg(long)]
    toolchain_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// What building the agent needs.
    Toolchain,
    /// Everything, including what the end-to-end tests need.
    Full,
}

pub fn run(args: &SetupArgs) -> anyhow::Result<()> {
    setup(if args.toolchain_only {
        Scope::Toolchain
    } else {
        Scope::Full
    })
}

/// The Python virtual environment for test workloads: `target/pyenv`.
pub fn pyenv_dir() -> PathBuf {
    sh::workspace_root().join("target").join("pyenv")
}

pub fn setup(scope: Scope) -> anyhow::Result<()> {
    let mut report = Report::default();
    if scope == Scope::Full {
        let mut packages: Vec<&str> = LLVM_PACKAGES.to_vec();
        packages.extend_from_slice(TEST_PACKAGES);
        if !python_has_venv() {
            packages.push("python3-venv");
        }
        apt(&packages, &mut report)?;
        stop_services();
    }
    rust_nightly(&mut report)?;
    bpf_linker(&mut report)?;
    if scope == Scope::Full {
        tracefs(&mut report)?;
        python_venv(&mut report)?;
    }
    report.finish();
    Ok(())
}

/// Counts what was already there and lists what this run installed.
#[derive(Default)]
struct Report {
    present: usize,
    installed: Vec<String>,
}

impl Report {
    fn present(&mut self, what: &str) {
        println!("setup: {what}: already present");
        self.present += 1;
    }

    fn installing(&self, what: &str) {
        println!("setup: {what}: missing, installing");
    }

    fn installed(&mut self, what: &str) {
        println!("setup: {what}: installed");
        self.installed.push(what.to_owned());
    }

    fn finish(&self) {
        if self.installed.is_empty() {
            println!(
                "setup: done, nothing to install ({} already present)",
                self.present
            );
        } else {
            println!(
                "setup: done, installed {} ({}), {} already present",
                self.installed.len(),
                self.installed.join(", "),
                self.present
            );
        }
    }
}

fn require_root(what: &str) -> anyhow::Result<()> {
    if !sh::is_root() {
        bail!("{what} needs root: run this as root (for example `sudo -E cargo xtask setup`)");
    }
    Ok(())
}

fn dpkg_installed(package: &str) -> bool {
    sh::output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|status| status.trim() == "install ok installed")
}

/// `apt-get update` runs at most once per xtask run, and only when something is missing.
static APT_UPDATED: AtomicBool = AtomicBool::new(false);

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        // Wait for another apt or dpkg run instead of failing at once.
        .args(["-o", "DPkg::Lock::Timeout=600", "-o", "Dpkg::Use-Pty=0"]);
    cmd
}

fn apt(packages: &[&str], report: &mut Report) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for &package in packages {
        if dpkg_installed(package) {
            report.present(&format!("apt package {package}"));
        } else {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    for package in &missing {
        report.installing(&format!("apt package {package}"));
    }
    require_root("installing apt packages")?;
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        sh::run(apt_get().args(["-q", "update"]))?;
    }
    sh::run(
        apt_get()
            .args(["-q", "-y", "--no-install-recommends", "install"])
            .args(&missing),
    )?;
    for package in missing {
        if !dpkg_installed(package) {
            bail!("apt-get install finished but {package} is still not installed");
        }
        report.installed(&format!("apt package {package}"));
    }
    Ok(())
}

fn stop_services() {
    for service in SERVICES {
        if !Path::new("/etc/init.d").join(service).exists()
            && !Path::new("/lib/systemd/system")
                .join(format!("{service}.service"))
                .exists()
        {
            continue;
        }
        if sh::succeeds(Command::new("service").args([service, "status"])) {
            println!(
                "setup: system service {service}: running, stopping it (tests start their own)"
            );
            if !sh::succeeds(Command::new("service").args([service, "stop"])) {
                println!(
                    "setup: system service {service}: `service {service} stop` failed, ignored"
                );
            }
        } else {
            println!("setup: system service {service}: not running");
        }
    }
}

fn python_has_venv() -> bool {
    sh::succeeds(Command::new("python3").args(["-c", "import venv, ensurepip"]))
}

fn rust_nightly(report: &mut Report) -> anyhow::Result<()> {
    let toolchains = sh::output(Command::new("rustup").args(["toolchain", "list"]))
        .context("`rustup toolchain list` failed: is rustup installed and on PATH?")?;
    if toolchains.lines().any(|l| l.starts_with("nightly")) {
        report.present("rust nightly toolchain");
    } else {
        report.installing("rust nightly toolchain");
        sh::run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
        report.installed("rust nightly toolchain");
    }
    let components = sh::output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .context("`rustup component list --toolchain nightly --installed` failed")?;
    if components.lines().any(|l| l.starts_with("rust-src")) {
        report.present("rust-src for nightly");
    } else {
        report.installing("rust-src for nightly");
        sh::run(Command::new("rustup").args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            "nightly",
        ]))?;
        report.installed("rust-src for nightly");
    }
    Ok(())
}

fn bpf_linker_version() -> Option<String> {
    sh::output(Command::new("bpf-linker").arg("--version")).map(|v| v.trim().to_owned())
}

fn bpf_linker(report: &mut Report) -> anyhow::Result<()> {
    if let Some(version) = bpf_linker_version() {
        report.present(&format!("bpf-linker ({version})"));
        return Ok(());
    }
    report.installing("bpf-linker");
    apt(LLVM_PACKAGES, report)?;
    sh::run(
        sh::cargo()
            .env("LLVM_PREFIX", LLVM_PREFIX)
            .env("LLVM_SYS_221_PREFIX", LLVM_PREFIX)
            .args([
                "install",
                "bpf-linker",
                // 0.13 is the series known to build against LLVM 22 with this feature name.
                "--version",
                "~0.13",
                "--no-default-features",
                "--features",
                "llvm-22",
            ]),
    )?;
    let version = bpf_linker_version().context(
        "bpf-linker was installed but `bpf-linker --version` still fails: is ~/.cargo/bin on PATH?",
    )?;
    report.installed(&format!("bpf-linker ({version})"));
    Ok(())
}

fn tracefs(report: &mut Report) -> anyhow::Result<()> {
    if sh::succeeds(Command::new("mountpoint").args(["-q", TRACEFS])) {
        report.present(&format!("tracefs at {TRACEFS}"));
        return Ok(());
    }
    report.installing(&format!("tracefs at {TRACEFS}"));
    require_root("mounting tracefs")?;
    sh::run(Command::new("mount").args(["-t", "tracefs", "tracefs", TRACEFS]))?;
    report.installed(&format!("tracefs at {TRACEFS}"));
    Ok(())
}

/// Prints, one per line, the distributions among its arguments that are not installed.
const MISSING_DISTRIBUTIONS: &str = "\
import importlib.metadata as md, sys
for name in sys.argv[1:]:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        print(name)
";

fn python_venv(report: &mut Report) -> anyhow::Result<()> {
    let dir = pyenv_dir();
    let python = dir.join("bin").join("python");
    let what = format!("python venv {}", dir.display());
    if sh::succeeds(Command::new(&python).args(["-c", ""])) {
        report.present(&what);
    } else {
        report.installing(&what);
        if dir.exists() {
            // A venv whose interpreter no longer runs (say, its base Python moved).
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing broken venv {}", dir.display()))?;
        }
        sh::run(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
        report.installed(&what);
    }

    let name_of = |spec: &'static str| -> &'static str {
        spec.split(|c: char| "=<>!~[; ".contains(c))
            .next()
            .unwrap_or(spec)
    };
    let names: Vec<&str> = PYTHON_PACKAGES.iter().map(|&s| name_of(s)).collect();
    let missing = sh::output(
        Command::new(&python)
            .args(["-c", MISSING_DISTRIBUTIONS])
            .args(&names),
    )
    .context("asking the venv which Python packages it has")?;
    let missing: Vec<&str> = missing.lines().map(str::trim).collect();
    let to_install: Vec<&str> = PYTHON_PACKAGES
        .iter()
        .copied()
        .filter(|&spec| missing.contains(&name_of(spec)))
        .collect();
    for &spec in PYTHON_PACKAGES {
        if !to_install.contains(&spec) {
            report.present(&format!("python package {spec}"));
        }
    }
    if to_install.is_empty() {
        return Ok(());
    }
    for spec in &to_install {
        report.installing(&format!("python package {spec}"));
    }
    sh::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(&to_install),
    )?;
    for spec in to_install {
        report.installed(&format!("python package {spec}"));
    }
    Ok(())
}
