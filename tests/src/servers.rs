//! Real servers for the end-to-end tests: nginx and Python's http.server, each started as a
//! child process on a free loopback port with everything it writes inside a temporary
//! directory, and stopped when its handle is dropped.
//!
//! Children also get `PR_SET_PDEATHSIG`, so they die with the test process even if it is
//! killed before any `Drop` runs: SIGKILL for Python, SIGTERM for the nginx master, which
//! then stops its workers (a SIGKILLed master would leave them running, holding the port). The kernel ties that signal to the *thread* that
//! spawned the child: start a server from the test's own thread, not from a short-lived
//! helper thread (nor `spawn_blocking`), or it dies when that thread ends.
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Component, Path};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use crate::ports::free_port;

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    wait_until_accepts(port, timeout, || Ok(()))
}

/// Polls `port`; between attempts `check` may fail early (say, the server exited).
fn wait_until_accepts(
    port: u16,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        check()?;
        if Instant::now() >= deadline {
            bail!("nothing accepts connections on {addr} after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `files` (relative paths, subdirectories allowed) under `root`.
fn write_files(root: &Path, files: &[(&str, Vec<u8>)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    for (name, contents) in files {
        let rel = Path::new(name.trim_start_matches('/'));
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            bail!("file name {name:?} must be a plain relative path");
        }
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Makes the child get `signal` when the thread that spawned it dies.
fn die_with_parent(cmd: &mut Command, signal: libc::c_int) {
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (prctl, getppid, _exit); it allocates nothing.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// A running child process, its private directory, and its port. Dropping it stops the
/// child (SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]) and then removes the directory.
struct Process {
    child: Child,
    port: u16,
    dir: TempDir,
    /// Shown in errors: what this is.
    name: &'static str,
    /// A file the child writes its diagnostics to, shown when it fails to start.
    log: std::path::PathBuf,
}

impl Process {
    fn spawn(
        name: &'static str,
        mut cmd: Command,
        death_signal: libc::c_int,
        port: u16,
        dir: TempDir,
        log: std::path::PathBuf,
    ) -> anyhow::Result<Self> {
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        die_with_parent(&mut cmd, death_signal);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        let mut process = Process {
            child,
            port,
            dir,
            name,
            log,
        };
        process.wait_ready()?;
        Ok(process)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let (child, name, log) = (&mut self.child, self.name, &self.log);
        wait_until_accepts(self.port, START_TIMEOUT, || {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited ({status}) before accepting connections; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            Ok(())
        })
        .with_context(|| {
            format!(
                "{name} did not start; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, wait, then SIGKILL; returns once the child has been reaped.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The parent pid and command name of a process, from /proc/PID/stat.
fn stat_ppid_comm(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...; comm may itself contain spaces or parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, comm))
}

/// The pids of the live children of `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat_ppid_comm(pid).is_some_and(|(ppid, _)| ppid == parent))
        .collect();
    pids.sort_unstable();
    pids
}

/// nginx (`/usr/sbin/nginx`, master and one worker) serving static files on loopback.
pub struct Nginx {
    process: Process,
}

impl Nginx {
    /// Serves `root_files` (path relative to the web root, contents) at
    /// `http://127.0.0.1:{port}/{path}`.
    pub fn start(root_files: &[(&str, Vec<u8>)]) -> anyhow::Result<Nginx> {
        let dir = tempfile::Builder::new().prefix("sonde-nginx-").tempdir()?;
        let base = dir.path().to_path_buf();
        let www = base.join("www");
        write_files(&www, root_files)?;
        let port = free_port();
        let conf = base.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(&base, port)).context("writing nginx.conf")?;
        let log = base.join("error.log");
        let mut cmd = Command::new("/usr/sbin/nginx");
        // -e: the error log used before the configuration is read (else /var/log/nginx).
        cmd.arg("-e")
            .arg(&log)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&base);
        let process = Process::spawn(
            "nginx",
            cmd,
            libc::SIGTERM,
            port,
            dir,
            base.join("nginx.out"),
        )
        .map_err(|err| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            err.context(format!("nginx error.log:\n{log}"))
        })?;
        Ok(Nginx { process })
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    /// The master process.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The worker processes (children of the master), which do the socket I/O.
    pub fn worker_pids(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    /// The temporary directory with nginx.conf, the logs and `www/`.
    pub fn dir(&self) -> &Path {
        self.process.dir.path()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on SIGTERM; if it has to be killed, they would be
        // left behind holding the port, so remember them and make sure.
        let workers = self.worker_pids();
        self.process.stop();
        for pid in workers {
            if stat_ppid_comm(pid).is_some_and(|(_, comm)| comm == "nginx") {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
}

fn nginx_conf(base: &Path, port: u16) -> String {
    let base = base.display();
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
# As root, workers would otherwise switch to nobody, who cannot read the 0700 temp dir.
user root;
pid {base}/nginx.pid;
error_log {base}/error.log;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    keepalive_requests 10000;
    keepalive_timeout 65;
    sendfile on;
    types {{
        text/html html htm;
        text/plain txt;
        application/json json;
    }}
    default_type application/octet-stream;
    client_body_temp_path {base}/client_body_temp;
    proxy_temp_path {base}/proxy_temp;
    fastcgi_temp_path {base}/fastcgi_temp;
    uwsgi_temp_path {base}/uwsgi_temp;
    scgi_temp_path {base}/scgi_temp;

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {base}/www;
    }}
}}
"#
    )
}

/// Python's `http.server` serving a directory on loopback.
pub struct PythonHttp {
    process: Process,
}

/// Like `python3 -m http.server`, with a chosen protocol version and no per-request log.
const PYTHON_HTTP_SCRIPT: &str = r#"
import functools, http.server, sys
port, directory, protocol = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = protocol
    def log_message(self, *args):
        pass
handler = functools.partial(Handler, directory=directory)
http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
"#;

impl PythonHttp {
    /// `python3 -m http.server PORT --bind 127.0.0.1 --directory DIR`, exactly as a person
    /// would run it: HTTP/1.0, so one request per connection.
    pub fn start(dir_files: &[(&str, Vec<u8>)]) -> anyhow::Result<PythonHttp> {
        let (dir, www, port) = Self::prepare(dir_files)?;
        let mut cmd = Command::new("python3");
        cmd.args(["-u", "-m", "http.server"])
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--directory"])
            .arg(&www);
        let log = dir.path().join("server.log");
        let process = Process::spawn("python3 -m http.server", cmd, libc::SIGKILL, port, dir, log)?;
        Ok(PythonHttp { process })
    }

    /// The same server with `protocol_version` set, e.g. `"HTTP/1.1"` for keep-alive.
    pub fn start_with_protocol(
        dir_files: &[(&str, Vec<u8>)],
        protocol: &str,
    ) -> anyhow::Result<PythonHttp> {
        let (dir, www, port) = Self::prepare(dir_files)?;
        let mut cmd = Command::new("python3");
        cmd.args(["-u", "-c", PYTHON_HTTP_SCRIPT])
            .arg(port.to_string())
            .arg(&www)
            .arg(protocol);
        let log = dir.path().join("server.log");
        let process = Process::spawn("python3 http.server", cmd, libc::SIGKILL, port, dir, log)?;
        Ok(PythonHttp { process })
    }

    fn prepare(
        dir_files: &[(&str, Vec<u8>)],
    ) -> anyhow::Result<(TempDir, std::path::PathBuf, u16)> {
        let dir = tempfile::Builder::new().prefix("sonde-pyhttp-").tempdir()?;
        let www = dir.path().join("www");
        write_files(&www, dir_files)?;
        Ok((dir, www, free_port()))
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// A Python HTTP/1.1 server with two large responses:
/// - `GET /chunked`: `Transfer-Encoding: chunked`, [`PythonChunked::CHUNKS`] chunks of
///   [`PythonChunked::CHUNK_SIZE`] bytes, each written and flushed on its own, so the body
///   spans many writes and reads. Chunk `i` is filled with the letter `b'a' + i % 26`.
/// - `GET /big`: [`PythonChunked::BIG_SIZE`] bytes with a Content-Length, byte `i` being
///   `b'a' + i % 26`.
///
/// Anything else is a 404.
pub struct PythonChunked {
    process: Process,
}

const PYTHON_CHUNKED_SCRIPT: &str = r#"
import http.server, sys
port, chunks, chunk_size, big_size = (int(a) for a in sys.argv[1:5])
alphabet = b"abcdefghijklmnopqrstuvwxyz"
big = (alphabet * (big_size // 26 + 1))[:big_size]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(chunks):
                data = alphabet[i % 26:i % 26 + 1] * chunk_size
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(big)))
            self.end_headers()
            self.wfile.write(big)
        else:
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

impl PythonChunked {
    pub const CHUNKS: usize = 200;
    pub const CHUNK_SIZE: usize = 1000;
    pub const BIG_SIZE: usize = 1 << 20;

    pub fn start() -> anyhow::Result<PythonChunked> {
        let dir = tempfile::Builder::new()
            .prefix("sonde-pychunked-")
            .tempdir()?;
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args(["-u", "-c", PYTHON_CHUNKED_SCRIPT]).args([
            port.to_string(),
            Self::CHUNKS.to_string(),
            Self::CHUNK_SIZE.to_string(),
            Self::BIG_SIZE.to_string(),
        ]);
        let log = dir.path().join("server.log");
        let process = Process::spawn("python3 chunked server", cmd, libc::SIGKILL, port, dir, log)?;
        Ok(PythonChunked { process })
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}
