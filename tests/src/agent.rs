//! Runs the real sonde binary for end-to-end tests.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// True when the test may use the kernel. Without root: fails under CI=true (a privileged
/// test must never be skipped silently there), otherwise prints why it is skipped.
pub fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs root (CAP_BPF) and CI=true: refusing to skip");
    }
    eprintln!("SKIPPED {test}: needs root");
    false
}

pub fn sonde_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SONDE_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for profile in ["release", "debug"] {
        let p = root.join("target").join(profile).join("sonde");
        if p.exists() {
            return p;
        }
    }
    root.join("target/release/sonde")
}

pub struct Sonde {
    child: Option<Child>,
    pub listen: SocketAddr,
    pub log: PathBuf,
    pub stdout: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sonde {
    /// Starts sonde with `args` and `env`, on a free operations port, and waits until
    /// /healthz answers 200 (every probe attached).
    pub fn start(args: &[String], env: &[(&str, String)]) -> anyhow::Result<Sonde> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("sonde.log");
        let stdout = dir.path().join("sonde.out");
        let listen: SocketAddr = format!("127.0.0.1:{}", crate::ports::free_port()).parse()?;
        let mut cmd = Command::new(sonde_bin());
        cmd.args(args)
            .arg("--listen")
            .arg(listen.to_string())
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
            .env("SONDE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout)?)
            .stderr(std::fs::File::create(&log)?);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", sonde_bin().display()))?;
        let mut sonde = Sonde {
            child: Some(child),
            listen,
            log,
            stdout,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http_get(listen, "/healthz") {
                return Ok(sonde);
            }
            if let Some(child) = sonde.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("sonde exited early with {status}: {}", sonde.log_text());
            }
            if Instant::now() > deadline {
                bail!("sonde not healthy after 60 s: {}", sonde.log_text());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn metrics(&self) -> anyhow::Result<String> {
        let (status, body) = http_get(self.listen, "/metrics")?;
        if status != 200 {
            bail!("/metrics answered {status}");
        }
        Ok(body)
    }

    /// The value of one counter or gauge on /metrics (sum over series).
    pub fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = self.metrics()?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split([' ', '{']).next() == Some(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// SIGTERM, then wait for the exit (which flushes spans).
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let mut child = self.child.take().context("already stopped")?;
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("sonde did not stop within 20 s after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sonde {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A one-shot HTTP/1.1 GET with `Connection: close`; returns (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
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

/// Runs curl over one keep-alive connection for `urls`; returns how many answered 200.
pub fn curl_keepalive(urls: &[String]) -> anyhow::Result<usize> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-w", "%{http_code}\\n"]);
    for url in urls {
        // -o applies to one URL each; without it the other bodies would go to stdout.
        cmd.args(["-o", "/dev/null", url]);
    }
    let out = cmd.output().context("running curl")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().filter(|l| *l == "200").count())
}
