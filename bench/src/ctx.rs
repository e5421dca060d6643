//! What every scenario shares: the mode (quick or full), the agent binary, the OTLP sink, a
//! scratch directory for logs.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::sink::Sink;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A short smoke run that checks the harness end to end.
    Quick,
    /// The numbers to publish.
    Full,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Quick => "quick mode (smoke run: short runs, numbers are indicative only)",
            Mode::Full => "full mode",
        }
    }

    /// One measured load run (wrk).
    pub fn run(self) -> Duration {
        match self {
            Mode::Quick => Duration::from_secs(3),
            Mode::Full => Duration::from_secs(10),
        }
    }

    /// Alternating A/B pairs (or A/B/C triples) per comparison; the median is reported.
    pub fn pairs(self) -> usize {
        match self {
            Mode::Quick => 3,
            // Seven: per-pair ratios on this shared 2-core machine spread by ±0.1.
            Mode::Full => 7,
        }
    }

    /// The loss run at the highest rate.
    pub fn loss_run(self) -> Duration {
        match self {
            Mode::Quick => Duration::from_secs(10),
            Mode::Full => Duration::from_secs(60),
        }
    }

    /// The paced runs (5k and 10k requests/s).
    pub fn paced_run(self) -> Duration {
        match self {
            Mode::Quick => Duration::from_secs(5),
            Mode::Full => Duration::from_secs(30),
        }
    }

    /// Requests per redis-benchmark test (get and set each).
    pub fn redis_requests(self) -> u64 {
        match self {
            Mode::Quick => 20_000,
            Mode::Full => 100_000,
        }
    }
}

pub struct Ctx {
    pub mode: Mode,
    /// target/release/sonde
    pub sonde: PathBuf,
    /// The workspace root.
    pub root: PathBuf,
    pub sink: Sink,
    /// Logs of every child process of this run.
    pub work: TempDir,
    /// Tracing programs found loaded during runs without sonde (someone else's), by id.
    pub foreign: RefCell<BTreeMap<u32, String>>,
    /// Ids of the programs this harness's own agents loaded (kernel ids are never reused).
    pub own: RefCell<BTreeSet<u32>>,
}

impl Ctx {
    /// `2025-11-25 15:40 UTC, full mode`
    pub fn stamp(&self) -> String {
        let date = Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        format!("{date}, {}", self.mode.label())
    }

    /// Remembers the programs an agent of this harness holds, so they are not foreign.
    pub fn note_own_programs(&self, ids: impl IntoIterator<Item = u32>) {
        self.own.borrow_mut().extend(ids);
    }

    /// Call before a run without sonde: remembers other tracing programs loaded now (the
    /// last run's agent may still be unloading; its programs are known and left out).
    pub fn note_foreign_programs(&self) {
        let own = self.own.borrow();
        self.foreign.borrow_mut().extend(
            crate::bpfstats::tracing_programs()
                .into_iter()
                .filter(|(id, _)| !own.contains(id)),
        );
    }

    /// A paragraph for the section if other tracing programs were seen since the last call.
    pub fn take_foreign_note(&self) -> String {
        let seen = std::mem::take(&mut *self.foreign.borrow_mut());
        if seen.is_empty() {
            return String::new();
        }
        let names: std::collections::BTreeSet<&String> = seen.values().collect();
        format!(
            "\n**Caveat:** during runs without sonde, {} other tracing programs were loaded \
             on this shared machine ({}), most likely another engineer's agent or tests. Their \
             hooks slow every syscall of the runs with and without sonde alike, so the ratios \
             here understate sonde's own cost by their share.\n",
            seen.len(),
            names
                .into_iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// A fresh log directory for one run of one component.
    pub fn log_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}
