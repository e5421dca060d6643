//! A real Prometheus server (Debian's `/usr/bin/prometheus`) scraping one target every second,
//! with its storage in a temporary directory, and a client for its query API.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::ports::free_port;

const BINARY: &str = "/usr/bin/prometheus";
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct PrometheusServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// One sample of an instant query: the series' labels (as Prometheus's JSON, unparsed) and
/// its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub metric: String,
    pub value: f64,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `http://{target}/metrics` every second as job `sonde`, and
    /// waits until it is ready.
    pub fn start(target: SocketAddr) -> anyhow::Result<PrometheusServer> {
        let dir = tempfile::Builder::new().prefix("sonde-prom-").tempdir()?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sonde\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )?;
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse()?;
        let log = dir.path().join("prometheus.log");
        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(BINARY);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        // SAFETY: prctl is async-signal-safe and allocates nothing; it makes Prometheus end
        // with the test process even if the test is killed before Drop runs.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {BINARY} (apt-get install prometheus)"))?;
        let mut server = PrometheusServer {
            child,
            addr,
            log,
            _dir: dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok((200, _)) = get(self.addr, "/-/ready") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("prometheus exited ({status}): {}", self.log_text());
            }
            if Instant::now() > deadline {
                bail!(
                    "prometheus not ready after {START_TIMEOUT:?}: {}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /api/v1/query?query=expr`: the samples of an instant-vector result.
    pub fn query(&self, expr: &str) -> anyhow::Result<Vec<Sample>> {
        let (status, body) = get(
            self.addr,
            &format!("/api/v1/query?query={}", percent_encode(expr)),
        )?;
        if status != 200 || !body.contains(r#""status":"success""#) {
            bail!("query {expr:?} answered {status}: {body}");
        }
        parse_vector(&body).with_context(|| format!("query {expr:?}: {body}"))
    }

    /// Polls `expr` until `pred` holds for its samples or `timeout` passes; returns the last
    /// samples either way.
    pub fn wait_for(
        &self,
        expr: &str,
        pred: impl Fn(&[Sample]) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Sample>> {
        let deadline = Instant::now() + timeout;
        loop {
            let samples = self.query(expr)?;
            if pred(&samples) || Instant::now() >= deadline {
                return Ok(samples);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        // SAFETY: signalling our own unreaped child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.0 GET (so that the answer is neither chunked nor kept alive).
fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Everything but unreserved characters as `%XX`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The samples of `{"data":{"resultType":"vector","result":[{"metric":{..},"value":[t,"v"]}]}}`.
fn parse_vector(body: &str) -> anyhow::Result<Vec<Sample>> {
    if !body.contains(r#""resultType":"vector""#) {
        bail!("not an instant vector");
    }
    let mut samples = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find(r#""metric":"#) {
        rest = &rest[start + r#""metric":"#.len()..];
        let end = object_end(rest).context("unterminated metric")?;
        let metric = rest[..end].to_owned();
        rest = &rest[end..];
        let value_at = rest.find(r#""value":["#).context("no value")?;
        rest = &rest[value_at..];
        let open = rest.find(",\"").context("no value string")? + 2;
        let close = open + rest[open..].find('"').context("unterminated value")?;
        let value: f64 = rest[open..close].parse().context("value not a number")?;
        samples.push(Sample { metric, value });
        rest = &rest[close..];
    }
    Ok(samples)
}

/// The length of the JSON object `s` starts with, braces inside strings skipped.
fn object_end(s: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in s.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (true, false, _) => {}
            (false, _, '"') => in_string = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_results_parse() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"sonde","http_route":"/users/{id}"},"value":[1712345678.123,"5000"]},{"metric":{},"value":[1712345678.123,"1.5"]}]}}"#;
        let samples = parse_vector(body).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].value, 5000.0);
        assert_eq!(
            samples[0].metric,
            r#"{"job":"sonde","http_route":"/users/{id}"}"#
        );
        assert_eq!(samples[1].value, 1.5);
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_vector(empty).unwrap().is_empty());
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(
            percent_encode(r#"sum(x{a="b"})"#),
            "sum%28x%7Ba%3D%22b%22%7D%29"
        );
    }
}
