//! A real PostgreSQL server for the end-to-end tests: a fresh cluster made by `initdb` in a
//! temporary directory owned by the `postgres` OS user (PostgreSQL refuses to run as root),
//! `postgres` on a free loopback port with its socket in that directory, a database `shop`
//! with a table `items(id int, name text)` holding ids 1..=100, and roles that log in over
//! TCP with a real password (SCRAM, MD5 and cleartext). Everyone else is trusted on
//! 127.0.0.1. The server is stopped and its directory removed when the handle is dropped.
//!
//! The postmaster gets `PR_SET_PDEATHSIG` (SIGINT, a fast shutdown that also stops its
//! backends), so it dies with the test process even if no `Drop` runs; the kernel ties that
//! signal to the thread that spawned it, so start the server from the test's own thread.

use std::io;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use crate::ports::free_port;

pub const DATABASE: &str = "shop";
/// Roles that must give a password over TCP, by authentication method.
pub const SCRAM_USER: &str = "app_scram";
pub const MD5_USER: &str = "app_md5";
pub const CLEARTEXT_USER: &str = "app_cleartext";
/// A password the tests look for in everything sonde exports and logs.
pub const PASSWORD: &str = "pg-s3cret-Pass";
/// Rows in `items`.
pub const ITEMS: i32 = 100;

/// How long initialisation and start-up may take.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGINT before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

const HBA: &str = "\
local all all trust
host all app_scram 127.0.0.1/32 scram-sha-256
host all app_md5 127.0.0.1/32 md5
host all app_cleartext 127.0.0.1/32 password
host all all 127.0.0.1/32 trust
";

const SETUP_SQL: &str = "\
CREATE TABLE items (id int, name text);
INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 100) g;
SET password_encryption = 'scram-sha-256';
CREATE ROLE app_scram LOGIN PASSWORD 'pg-s3cret-Pass';
CREATE ROLE app_cleartext LOGIN PASSWORD 'pg-s3cret-Pass';
SET password_encryption = 'md5';
CREATE ROLE app_md5 LOGIN PASSWORD 'pg-s3cret-Pass';
GRANT SELECT ON items TO app_scram, app_md5, app_cleartext;
";

pub struct Postgres {
    child: Child,
    port: u16,
    log: PathBuf,
    dir: TempDir,
}

impl Postgres {
    /// Initialises a cluster, starts the server, waits until it accepts connections, and
    /// creates the database, its table and the roles.
    pub fn start() -> anyhow::Result<Postgres> {
        let (uid, gid) = postgres_ids()?;
        let dir = tempfile::Builder::new().prefix("sonde-pg-").tempdir()?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
            .context("giving the cluster directory to the postgres user")?;
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        run_checked(
            as_postgres(Command::new(bin("initdb")), uid, gid)
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
            "initdb",
        )?;
        std::fs::write(data.join("pg_hba.conf"), HBA).context("writing pg_hba.conf")?;
        let port = free_port();
        let log_file = std::fs::File::create(&log)?;
        std::os::unix::fs::chown(&log, Some(uid), Some(gid))?;
        let mut cmd = as_postgres(Command::new(bin("postgres")), uid, gid);
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "ssl=off", "-c", "max_connections=50"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        die_with_parent(&mut cmd, libc::SIGINT);
        let child = cmd.spawn().context("starting postgres")?;
        let mut server = Postgres {
            child,
            port,
            log,
            dir,
        };
        server.wait_ready()?;
        server.admin("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        server.admin(DATABASE, SETUP_SQL)?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A libpq connection string for `user` over TCP (no TLS).
    pub fn conninfo(&self, user: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname={DATABASE} sslmode=disable",
            self.port
        )
    }

    /// `psql -X -A -t -h 127.0.0.1 -p PORT -U user -d shop -c sql`, with `password` in
    /// PGPASSWORD when given; fails unless psql exits 0. Returns its standard output.
    pub fn psql(&self, user: &str, password: Option<&str>, sql: &str) -> anyhow::Result<String> {
        let mut cmd = Command::new(bin("psql"));
        cmd.args(["-X", "-A", "-t", "-h", "127.0.0.1"])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", user, "-d", DATABASE, "-c", sql])
            .env_remove("PGPASSWORD")
            .env_remove("PGSSLMODE");
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        let out = cmd.output().context("running psql")?;
        if !out.status.success() {
            bail!(
                "psql {sql:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// psql over TCP as the superuser, whatever its exit status.
    pub fn psql_output(&self, sql: &str) -> anyhow::Result<Output> {
        Command::new(bin("psql"))
            .args(["-X", "-h", "127.0.0.1"])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", DATABASE, "-c", sql])
            .output()
            .context("running psql")
    }

    /// A PostgreSQL program (`pgbench`, `pg_isready`, ...) of the server's version.
    pub fn program(&self, name: &str) -> PathBuf {
        bin(name)
    }

    /// SQL over the Unix socket as the superuser (setup, not what the tests capture).
    fn admin(&self, database: &str, sql: &str) -> anyhow::Result<()> {
        run_checked(
            Command::new(bin("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres"])
                .arg("-h")
                .arg(self.dir.path())
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-d", database, "-c", sql]),
            "psql (setup)",
        )
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(bin("pg_isready"))
                .args(["-q", "-h", "127.0.0.1"])
                .arg("-p")
                .arg(self.port.to_string())
                .status()
                .context("running pg_isready")?;
            if ready.success() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("postgres exited ({status}); its log:\n{}", self.log_text());
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres not ready after {START_TIMEOUT:?}; its log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SIGINT: fast shutdown (backends are told to exit, no waiting for clients).
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
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

/// The directory of PostgreSQL's programs: the newest version under /usr/lib/postgresql.
fn bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max();
    match newest {
        Some(v) => root.join(v.to_string()).join("bin"),
        None => root.join("15/bin"),
    }
}

fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// The uid and gid of the `postgres` OS user, from /etc/passwd.
fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres"))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .context("no postgres user (is the postgresql package installed?)")
}

/// Runs `cmd` as the postgres user, in a directory it may read.
fn as_postgres(mut cmd: Command, uid: u32, gid: u32) -> Command {
    cmd.uid(uid).gid(gid).current_dir("/").env("HOME", "/tmp");
    cmd
}

fn run_checked(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Makes the child get `signal` when the thread that spawned it dies.
fn die_with_parent(cmd: &mut Command, signal: libc::c_int) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (prctl, getppid, _exit); it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
