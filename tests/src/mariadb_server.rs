//! A real MariaDB server for the end-to-end tests: a fresh data directory made by
//! `mariadb-install-db` in a temporary directory, `mariadbd` on a free loopback port (no
//! TLS: clients would otherwise switch to it and nothing could be read), a database `shop`
//! with a table `items(id int, name text)`, and a user `app` with a real password. The
//! server is stopped and its directory removed when the handle is dropped.
//!
//! The child gets `PR_SET_PDEATHSIG` (SIGKILL), so it dies with the test process even if no
//! `Drop` runs; the kernel ties that signal to the thread that spawned it, so start the
//! server from the test's own thread.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use crate::ports::free_port;

pub const DATABASE: &str = "shop";
pub const USER: &str = "app";
/// A password the tests look for in everything sonde exports and logs.
pub const PASSWORD: &str = "s3cret-pass";

/// How long initialisation and start-up may take.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

const SETUP_SQL: &str = "\
CREATE DATABASE shop;
CREATE TABLE shop.items (id INT, name TEXT);
INSERT INTO shop.items VALUES (7, 'seven'), (8, 'eight');
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 's3cret-pass';
GRANT ALL ON shop.* TO 'app'@'127.0.0.1';
";

pub struct MariaDb {
    child: Child,
    port: u16,
    socket: PathBuf,
    log: PathBuf,
    dir: TempDir,
}

impl MariaDb {
    /// Initialises a data directory, starts the server, waits until it accepts
    /// connections, and creates the database, table and user.
    pub fn start() -> anyhow::Result<MariaDb> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        let socket = dir.path().join("mariadb.sock");
        let log = dir.path().join("mariadbd.log");
        let port = free_port();
        install_db(&data, &dir.path().join("install.log"))?;

        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mariadbd.pid").display()
            ))
            .arg("--skip-log-bin")
            .arg("--skip-name-resolve")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().context("starting mariadbd")?;
        let mut server = MariaDb {
            child,
            port,
            socket,
            log,
            dir,
        };
        server.wait_ready()?;
        server.root_sql(SETUP_SQL)?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `sql` as root over the Unix socket (not the watched TCP port).
    pub fn root_sql(&self, sql: &str) -> anyhow::Result<()> {
        let mut child = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .arg("-uroot")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the mariadb client")?;
        child
            .stdin
            .take()
            .context("client stdin")?
            .write_all(sql.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "mariadb -uroot failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // The socket file appears once the server finished starting; the TCP port
            // alone may accept a moment before the server can answer.
            if self.socket.exists()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("mariadbd exited ({status}); its log:\n{}", self.log_text());
            }
            if Instant::now() >= deadline {
                bail!(
                    "mariadbd not ready after {START_TIMEOUT:?}; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
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
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn install_db(data: &Path, log: &Path) -> anyhow::Result<()> {
    let out = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg("--user=root")
        .arg(format!("--datadir={}", data.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .stdin(Stdio::null())
        .output()
        .context("running mariadb-install-db (apt package mariadb-server)")?;
    std::fs::write(log, [&out.stdout[..], &out.stderr[..]].concat())?;
    if !out.status.success() {
        bail!(
            "mariadb-install-db failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Makes the child get SIGKILL when the thread that spawned it dies.
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
