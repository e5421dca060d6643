//! The FastAPI service of PLATFORM.md's reference measurement: uvicorn, one worker,
//! `GET /items/{item_id}` doing a Redis GET, one psycopg2 SELECT and a Redis SETEX, run plain
//! or under `opentelemetry-instrument` (OTLP/gRPC to the bench's sink).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::child::Guarded;
use crate::net;
use crate::servers::python::Venv;

const APP: &str = r#"
import os

import psycopg2.pool
import redis
from fastapi import FastAPI

# minconn = maxconn: psycopg2's pool closes every connection returned beyond minconn, which
# would open a new PostgreSQL connection (a backend fork) for most requests.
pool = psycopg2.pool.ThreadedConnectionPool(
    24, 24, host="127.0.0.1", port=int(os.environ["PG_PORT"]), dbname="bench", user="postgres"
)
cache = redis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]))
api = FastAPI()


@api.get("/items/{item_id}")
def get_item(item_id: int):
    cached = cache.get(f"item:{item_id}")
    conn = pool.getconn()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT id, name, price FROM items WHERE id = %s", (item_id,))
            row = cur.fetchone()
    finally:
        pool.putconn(conn)
    cache.setex(f"item:{item_id}", 60, row[1])
    return {"id": row[0], "name": row[1], "price": float(row[2]), "cached": cached is not None}
"#;

/// wrk script: a random item per request.
pub const WRK_SCRIPT: &str = r#"
math.randomseed(42)
request = function()
  return wrk.format("GET", "/items/" .. math.random(1, 1000))
end
"#;

/// How the service runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instrumentation {
    None,
    /// `opentelemetry-instrument uvicorn ...`: FastAPI, psycopg2 and Redis instrumentations,
    /// traces over OTLP/gRPC; metrics and logs exporters off.
    Sdk,
}

pub struct FastApi {
    process: Guarded,
    pub port: u16,
}

/// The directory with app.py and the wrk script.
pub fn app_dir() -> anyhow::Result<TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("sonde-bench-app-")
        .tempdir()?;
    std::fs::write(dir.path().join("app.py"), APP)?;
    std::fs::write(dir.path().join("items.lua"), WRK_SCRIPT)?;
    Ok(dir)
}

impl FastApi {
    pub fn start(
        venv: &Venv,
        app_dir: &Path,
        how: Instrumentation,
        pg_port: u16,
        redis_port: u16,
        otlp_endpoint: &str,
        log: &Path,
    ) -> anyhow::Result<FastApi> {
        let port = net::free_port()?;
        let uvicorn_args = [
            "app:api",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--no-access-log",
            "--log-level",
            "warning",
        ];
        let mut cmd = match how {
            Instrumentation::None => Command::new(venv.bin("uvicorn")),
            Instrumentation::Sdk => {
                let mut c = Command::new(venv.bin("opentelemetry-instrument"));
                c.arg(venv.bin("uvicorn"))
                    .env("OTEL_SERVICE_NAME", "bench-app")
                    .env("OTEL_TRACES_EXPORTER", "otlp")
                    .env("OTEL_METRICS_EXPORTER", "none")
                    .env("OTEL_LOGS_EXPORTER", "none")
                    .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint)
                    .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
                    .env("OTEL_EXPORTER_OTLP_INSECURE", "true");
                c
            }
        };
        cmd.args(uvicorn_args)
            .current_dir(app_dir)
            .env("PG_PORT", pg_port.to_string())
            .env("REDIS_PORT", redis_port.to_string())
            .env("PATH", path_with(&venv.dir.join("bin")))
            .env_remove("PYTHONPATH");
        let mut process = Guarded::spawn("uvicorn", cmd, log)?;
        net::wait_for_port(port, Duration::from_secs(60), || process.check_running())?;
        Ok(FastApi { process, port })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGTERM; uvicorn shuts down and the SDK flushes its spans on exit.
    pub fn stop(mut self) {
        self.process.stop();
    }
}

/// `$PATH` with `dir` first.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(old) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(paths).unwrap_or_default()
}
