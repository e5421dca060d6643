//! Load from wrk (closed loop, keep-alive): requests/s, latency percentiles, totals.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

#[derive(Clone, Debug)]
pub struct WrkArgs<'a> {
    pub url: String,
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    pub script: Option<&'a Path>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WrkResult {
    pub requests: u64,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses.
    pub errors: u64,
    /// CPU wrk itself used (user + system, from the kernel's accounting of reaped children).
    pub cpu: Duration,
}

/// CPU time of all reaped children so far (`getrusage(RUSAGE_CHILDREN)`).
fn children_cpu() -> Duration {
    // SAFETY: rusage is plain integers, so all-zero is a valid value; getrusage only
    // writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

pub fn run(args: &WrkArgs) -> anyhow::Result<WrkResult> {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{}", args.threads))
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.duration.as_secs().max(1)))
        .arg("--latency");
    if let Some(script) = args.script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(&args.url);
    // wrk is the only child reaped while it runs, so the delta is its own CPU.
    let before = children_cpu();
    let out = cmd.output().context("running wrk (apt-get install wrk)")?;
    let cpu = children_cpu().saturating_sub(before);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut r = parse(&text).with_context(|| format!("unexpected wrk output:\n{text}"))?;
    r.cpu = cpu;
    Ok(r)
}

/// `1.23ms`, `456.00us`, `1.02s`, `2.00m` as milliseconds.
fn millis(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

pub fn parse(text: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => r.p50_ms = millis(v)?,
            ["99%", v] => r.p99_ms = millis(v)?,
            [n, "requests", "in", ..] => r.requests = n.parse().ok()?,
            ["Requests/sec:", v] => r.requests_per_sec = v.parse().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().ok()?,
            _ => {}
        }
    }
    (r.requests > 0 && r.requests_per_sec > 0.0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk_output() {
        let text = "Running 10s test @ http://127.0.0.1:8080/\n  2 threads and 16 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   276.54us  100.00us   5.00ms   90.00%\n    Req/Sec    29.00k     1.00k   31.00k    70.00%\n  Latency Distribution\n     50%  250.00us\n     75%  300.00us\n     90%  400.00us\n     99%    1.23ms\n  576000 requests in 10.00s, 123.45MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\nRequests/sec:  57600.00\nTransfer/sec:     12.34MB\n";
        let r = parse(text).unwrap();
        assert_eq!(r.requests, 576000);
        assert_eq!(r.requests_per_sec, 57600.0);
        assert_eq!(r.p50_ms, 0.25);
        assert_eq!(r.p99_ms, 1.23);
        assert_eq!(r.errors, 3);
    }
}
