//! A real redis-server for the end-to-end tests: on a free loopback port, persisting nothing,
//! with its files in a temporary directory, optionally behind a password; killed on drop.
//!
//! The child gets `PR_SET_PDEATHSIG` (SIGKILL), so it dies with the thread that started it
//! even if the test process is killed before `Drop` runs: start it from the test's thread.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use crate::ports::free_port;
use crate::servers::wait_for_port;

const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct RedisServer {
    child: Child,
    port: u16,
    password: Option<String>,
    dir: TempDir,
}

impl RedisServer {
    pub fn start() -> anyhow::Result<RedisServer> {
        Self::start_with_password(None)
    }

    /// With `--requirepass`: clients must AUTH (or HELLO ... AUTH) with `password`.
    pub fn start_with_password(password: Option<&str>) -> anyhow::Result<RedisServer> {
        let dir = tempfile::Builder::new().prefix("sonde-redis-").tempdir()?;
        let port = free_port();
        let log = dir.path().join("redis.log");
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log);
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // system calls (prctl, getppid, _exit); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().context("starting redis-server")?;
        let server = RedisServer {
            child,
            port,
            password: password.map(str::to_owned),
            dir,
        };
        if let Err(e) = wait_for_port(port, START_TIMEOUT) {
            bail!(
                "redis-server did not start: {e}; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A plain RESP client on a new connection (authenticated if the server wants it).
    pub fn client(&self) -> anyhow::Result<RespClient> {
        let mut client = RespClient::connect(self.port)?;
        if let Some(pw) = &self.password {
            client.command(&["AUTH", pw])?;
        }
        Ok(client)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal RESP2 client over std TCP: one command, one reply, in turn.
pub struct RespClient {
    reader: BufReader<TcpStream>,
}

impl RespClient {
    pub fn connect(port: u16) -> anyhow::Result<RespClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(RespClient {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command as an array of bulk strings (one write) and reads its reply,
    /// rendered as text (`OK`, `-ERR ...`, `:1`, `$value`, `nil`, `[a, b]`).
    pub fn command(&mut self, args: &[&str]) -> anyhow::Result<String> {
        let mut wire = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            wire.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.reader.get_mut().write_all(&wire)?;
        self.reply()
    }

    fn line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("connection closed");
        }
        Ok(line.trim_end_matches("\r\n").to_owned())
    }

    fn reply(&mut self) -> anyhow::Result<String> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(1.min(line.len()));
        Ok(match kind {
            "+" => rest.to_owned(),
            "-" | ":" => line,
            "$" if rest == "-1" => "nil".to_owned(),
            "$" => {
                let len: usize = rest.parse()?;
                let mut buf = vec![0; len + 2];
                self.reader.read_exact(&mut buf)?;
                format!("${}", String::from_utf8_lossy(&buf[..len]))
            }
            "*" if rest == "-1" => "nil".to_owned(),
            "*" => {
                let n: usize = rest.parse()?;
                let items = (0..n)
                    .map(|_| self.reply())
                    .collect::<anyhow::Result<Vec<_>>>()?;
                format!("[{}]", items.join(", "))
            }
            _ => bail!("unexpected reply line {line:?}"),
        })
    }
}
