//! The agent under test: `target/release/sonde` started for one measured run, exporting to
//! the counting sink, stopped with SIGTERM (which flushes every finished span) afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::child::Guarded;
use crate::net;

/// How long attaching may take.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What sonde watches in a run.
#[derive(Clone, Debug)]
pub enum Selection {
    /// `--pid P` for each (children are followed).
    Pids(Vec<u32>),
    /// `--port P` for each.
    Ports(Vec<u16>),
}

impl Selection {
    fn args(&self) -> Vec<String> {
        match self {
            Selection::Pids(pids) => pids
                .iter()
                .flat_map(|p| ["--pid".to_owned(), p.to_string()])
                .collect(),
            Selection::Ports(ports) => ports
                .iter()
                .flat_map(|p| ["--port".to_owned(), p.to_string()])
                .collect(),
        }
    }

    pub fn describe(&self) -> String {
        self.args().join(" ")
    }
}

pub struct Agent {
    process: Guarded,
    ops_port: u16,
}

impl Agent {
    /// Starts sonde and waits until /healthz says every probe is attached.
    pub fn start(
        binary: &Path,
        selection: &Selection,
        otlp_endpoint: &str,
        log_dir: &Path,
    ) -> anyhow::Result<Agent> {
        let ops_port = net::free_port()?;
        let mut cmd = Command::new(binary);
        cmd.args(selection.args())
            .args(["--exporter", "otlp", "--listen"])
            .arg(format!("127.0.0.1:{ops_port}"))
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
            .env("RUST_LOG", "warn");
        let log: PathBuf = log_dir.join("sonde.log");
        let mut process = Guarded::spawn("sonde", cmd, &log)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            process.check_running()?;
            if matches!(net::http_get(ops_port, "/healthz"), Ok((200, _))) {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "sonde not ready after {READY_TIMEOUT:?}; its log:\n{}",
                    process.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Agent { process, ops_port })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The `sonde_*` counters from /metrics (labels folded into the name).
    pub fn metrics(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let (status, body) = net::http_get(self.ops_port, "/metrics")?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(parse_prometheus(&body))
    }

    /// SIGTERM and wait: sonde flushes every finished span before it exits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let status = self.process.stop().context("sonde could not be reaped")?;
        if !status.success() {
            bail!(
                "sonde exited with {status} when stopped; its log:\n{}",
                self.process.log()
            );
        }
        Ok(())
    }
}

/// `name{labels} value` lines of the Prometheus text format; comments skipped.
pub fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.trim().to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_lines() {
        let m = parse_prometheus("# HELP x\nsonde_events_read_total 12\nsonde_x{a=\"b\"} 1.5\n");
        assert_eq!(m["sonde_events_read_total"], 12.0);
        assert_eq!(m["sonde_x{a=\"b\"}"], 1.5);
    }
}
