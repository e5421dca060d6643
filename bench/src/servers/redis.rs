//! redis-server on a free loopback port (no persistence), and redis-benchmark against it.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use crate::child::Guarded;
use crate::net;

pub struct Redis {
    process: Guarded,
    pub port: u16,
    _dir: TempDir,
}

impl Redis {
    pub fn start() -> anyhow::Result<Redis> {
        let dir = tempfile::Builder::new()
            .prefix("sonde-bench-redis-")
            .tempdir()?;
        let port = net::free_port()?;
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path());
        let mut process = Guarded::spawn("redis-server", cmd, &dir.path().join("redis.log"))?;
        net::wait_for_port(port, Duration::from_secs(20), || process.check_running())?;
        Ok(Redis {
            process,
            port,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// One test's line of `redis-benchmark --csv`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchLine {
    pub test: String,
    pub rps: f64,
    pub p99_ms: f64,
}

/// `redis-benchmark -n N -P 1 -c 16 -t get,set --csv`.
pub fn benchmark(port: u16, requests: u64) -> anyhow::Result<Vec<BenchLine>> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-n", &requests.to_string(), "-P", "1", "-c", "16"])
        .args(["-t", "get,set", "--csv"])
        .output()
        .context("running redis-benchmark")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("redis-benchmark failed ({}): {text}", out.status);
    }
    let lines = parse_csv(&text);
    if lines.is_empty() {
        bail!("no results from redis-benchmark: {text}");
    }
    Ok(lines)
}

fn parse_csv(text: &str) -> Vec<BenchLine> {
    let mut lines = text.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<String> = head
        .split(',')
        .map(|c| c.trim_matches('"').to_owned())
        .collect();
    let at = |name: &str| cols.iter().position(|c| c == name);
    let (Some(test), Some(rps), Some(p99)) = (at("test"), at("rps"), at("p99_latency_ms")) else {
        return Vec::new();
    };
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').map(|c| c.trim_matches('"')).collect();
            Some(BenchLine {
                test: f.get(test)?.to_string(),
                rps: f.get(rps)?.parse().ok()?,
                p99_ms: f.get(p99)?.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"SET\",\"58479.53\",\"0.178\",\"0.032\",\"0.151\",\"0.255\",\"0.703\",\"5.423\"\n";
        let l = parse_csv(text);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].test, "SET");
        assert_eq!(l[0].rps, 58479.53);
        assert_eq!(l[0].p99_ms, 0.703);
    }
}
