//! The benchmark's own Python environment, target/benchenv (separate from the tests' venv):
//! FastAPI, uvicorn, the database drivers and the OpenTelemetry SDK with its
//! instrumentations, from PyPI. Created and completed on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// What the FastAPI service and the SDK variant need.
pub const PACKAGES: &[&str] = &[
    "fastapi",
    "uvicorn",
    "psycopg2-binary",
    "redis",
    "opentelemetry-distro",
    "opentelemetry-exporter-otlp",
    "opentelemetry-instrumentation-fastapi",
    "opentelemetry-instrumentation-psycopg2",
    "opentelemetry-instrumentation-redis",
];

pub struct Venv {
    pub dir: PathBuf,
}

impl Venv {
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// `name==version` of every package above, for the setup notes.
    pub fn versions(&self) -> String {
        let out = Command::new(self.bin("python"))
            .args(["-m", "pip", "freeze", "--disable-pip-version-check"])
            .output();
        let Ok(out) = out else {
            return String::new();
        };
        let wanted: Vec<String> = PACKAGES.iter().map(|p| p.to_lowercase()).collect();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| {
                let name = l.split("==").next().unwrap_or_default().to_lowercase();
                wanted.contains(&name) || name == "opentelemetry-sdk" || name == "opentelemetry-api"
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    println!("+ {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Creates target/benchenv if needed and installs whatever is missing.
pub fn ensure(root: &Path) -> anyhow::Result<Venv> {
    let venv = Venv {
        dir: root.join("target").join("benchenv"),
    };
    let python = venv.bin("python");
    let works = Command::new(&python)
        .args(["-c", ""])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        if venv.dir.exists() {
            std::fs::remove_dir_all(&venv.dir)?;
        }
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv.dir))?;
    }
    let check = "import fastapi, uvicorn, psycopg2, redis, opentelemetry.instrumentation.fastapi, \
                 opentelemetry.instrumentation.psycopg2, opentelemetry.instrumentation.redis, \
                 opentelemetry.exporter.otlp.proto.grpc.trace_exporter";
    let complete = Command::new(&python)
        .args(["-c", check])
        .output()
        .is_ok_and(|o| o.status.success());
    if !complete {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES))?;
    }
    Ok(venv)
}
