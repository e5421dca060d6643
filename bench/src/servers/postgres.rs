//! PostgreSQL 15: initdb in a temporary directory as the `postgres` user, started on a free
//! loopback port, with a database `bench` holding `items(id, name, price)`, 1,000 rows.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tempfile::TempDir;

use crate::child::Guarded;
use crate::net;

const BIN: &str = "/usr/lib/postgresql/15/bin";
pub const DATABASE: &str = "bench";

const SCHEMA: &str = "CREATE TABLE items (id integer PRIMARY KEY, name text NOT NULL, \
    price numeric(10, 2) NOT NULL); \
    INSERT INTO items SELECT g, 'item ' || g, g / 10.0 FROM generate_series(1, 1000) AS g;";

pub struct Postgres {
    // Declared before `dir`: stopped before its directory is removed.
    _process: Guarded,
    pub port: u16,
    _dir: TempDir,
}

/// uid and gid of the `postgres` user (PostgreSQL refuses to run as root).
fn postgres_user() -> anyhow::Result<(u32, u32)> {
    let name = c"postgres";
    // SAFETY: a valid C string; the returned record is read at once, before any other
    // getpw* call on this thread.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!("no `postgres` user: apt-get install postgresql");
    }
    // SAFETY: non-null pointer from getpwnam.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn as_postgres(program: &str, uid: u32, gid: u32) -> Command {
    let mut cmd = Command::new(Path::new(BIN).join(program));
    cmd.uid(uid).gid(gid);
    cmd
}

impl Postgres {
    pub fn start() -> anyhow::Result<Postgres> {
        let (uid, gid) = postgres_user()?;
        let dir = tempfile::Builder::new()
            .prefix("sonde-bench-pg-")
            .tempdir()?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        let data = dir.path().join("data");
        let out = as_postgres("initdb", uid, gid)
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = net::free_port()?;
        let mut cmd = as_postgres("postgres", uid, gid);
        cmd.arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=50"]);
        let log = dir.path().join("postgres.log");
        let mut process = Guarded::spawn("postgres", cmd, &log)?;
        net::wait_for_port(port, Duration::from_secs(30), || process.check_running())?;
        let pg = Postgres {
            _process: process,
            port,
            _dir: dir,
        };
        pg.psql("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        pg.psql(DATABASE, SCHEMA)?;
        Ok(pg)
    }

    fn psql(&self, database: &str, sql: &str) -> anyhow::Result<()> {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!(
                "psql failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}
