//! nginx (master + one worker) serving one small static file on a free loopback port.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use tempfile::TempDir;

use crate::child::Guarded;
use crate::{net, procfs};

/// The file wrk fetches: 13 bytes, as in PLATFORM.md's reference measurement.
pub const BODY: &[u8] = b"hello, world\n";
pub const PATH: &str = "/hello.txt";

pub struct Nginx {
    // Declared before `dir`: stopped before its directory is removed.
    process: Guarded,
    pub port: u16,
    _dir: TempDir,
}

impl Nginx {
    pub fn start() -> anyhow::Result<Nginx> {
        let dir = tempfile::Builder::new()
            .prefix("sonde-bench-nginx-")
            .tempdir()?;
        let base = dir.path();
        std::fs::create_dir_all(base.join("www"))?;
        std::fs::write(base.join("www").join(&PATH[1..]), BODY)?;
        let port = net::free_port()?;
        let conf = base.join("nginx.conf");
        std::fs::write(&conf, conf_text(base, port)).context("writing nginx.conf")?;
        let mut cmd = Command::new("/usr/sbin/nginx");
        cmd.arg("-e")
            .arg(base.join("error.log"))
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(base);
        let mut process = Guarded::spawn("nginx", cmd, &base.join("nginx.out"))?;
        net::wait_for_port(port, Duration::from_secs(20), || process.check_running())?;
        Ok(Nginx {
            process,
            port,
            _dir: dir,
        })
    }

    pub fn master_pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn worker_pids(&self) -> Vec<u32> {
        procfs::children(self.master_pid())
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{PATH}", self.port)
    }
}

fn conf_text(base: &Path, port: u16) -> String {
    let base = base.display();
    format!(
        r#"daemon off;
master_process on;
worker_processes 1;
user root;
pid {base}/nginx.pid;
error_log {base}/error.log;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    keepalive_requests 100000;
    keepalive_timeout 65;
    sendfile on;
    default_type text/plain;
    client_body_temp_path {base}/client_body_temp;
    proxy_temp_path {base}/proxy_temp;
    fastcgi_temp_path {base}/fastcgi_temp;
    uwsgi_temp_path {base}/uwsgi_temp;
    scgi_temp_path {base}/scgi_temp;
    server {{
        listen 127.0.0.1:{port};
        root {base}/www;
    }}
}}
"#
    )
}
