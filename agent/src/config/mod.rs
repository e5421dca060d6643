//! One resolved configuration from command-line flags, an optional YAML file and the
//! standard OTEL_* environment. Precedence: flags, then the file, then the environment,
//! then defaults.

mod cli;
mod env;
mod file;

pub use cli::Cli;
pub use file::{FileConfig, Limits};

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::export::{ExportConfig, ExporterKind};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("{name}={value:?}: {message}")]
    Env {
        name: &'static str,
        value: String,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Which processes to watch. Empty = every process but sonde itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub pids: Vec<u32>,
    pub ports: Vec<u16>,
    pub exes: Vec<String>,
}

impl Selection {
    pub fn is_everything(&self) -> bool {
        self.pids.is_empty() && self.ports.is_empty() && self.exes.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub export: ExportConfig,
    pub selection: Selection,
    pub listen: SocketAddr,
    /// OTEL_RESOURCE_ATTRIBUTES, added to every process's resource.
    pub resource_attributes: Vec<(String, String)>,
    pub metric_export_interval: Duration,
    /// Route templates from the file, e.g. "/items/{id}"; they win over the heuristic.
    pub routes: Vec<String>,
    pub limits: Limits,
}

impl Config {
    /// Resolves the configuration from parsed flags and the process environment.
    pub fn resolve(cli: &Cli) -> Result<Config, ConfigError> {
        Self::resolve_with(cli, &|name| std::env::var(name).ok())
    }

    /// As `resolve`, with the environment given as a lookup function (for tests).
    pub fn resolve_with(
        cli: &Cli,
        getenv: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        let env = env::OtelEnv::read(getenv)?;
        let exporter = cli
            .exporter
            .or(file.exporter)
            .unwrap_or(if env.endpoint.is_some() {
                cli::ExporterFlag::Otlp
            } else {
                cli::ExporterFlag::Console
            });
        let kind = match exporter {
            cli::ExporterFlag::Console => ExporterKind::Console,
            cli::ExporterFlag::Otlp => match env.protocol {
                env::Protocol::Grpc => ExporterKind::OtlpGrpc,
                env::Protocol::HttpProtobuf => ExporterKind::OtlpHttp,
            },
        };
        let default_endpoint = match kind {
            ExporterKind::OtlpHttp => "http://localhost:4318",
            _ => "http://localhost:4317",
        };
        let export = ExportConfig {
            kind,
            endpoint: env
                .endpoint
                .clone()
                .unwrap_or_else(|| default_endpoint.to_owned()),
            headers: env.headers.clone(),
            schedule_delay: env.bsp_schedule_delay,
            max_queue: env.bsp_max_queue,
            max_batch: env.bsp_max_batch,
            timeout: env.export_timeout,
        };
        let selection = Selection {
            pids: merge(&cli.pid, &file.pid),
            ports: merge(&cli.port, &file.port),
            exes: merge(&cli.exe, &file.exe),
        };
        for glob in &selection.exes {
            globset::Glob::new(glob)
                .map_err(|e| ConfigError::Invalid(format!("--exe {glob:?}: {e}")))?;
        }
        let listen = cli
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9464)));
        let limits = file.limits.clone().unwrap_or_default();
        limits.validate()?;
        Ok(Config {
            export,
            selection,
            listen,
            resource_attributes: env.resource_attributes,
            metric_export_interval: env.metric_export_interval,
            routes: file.routes.clone(),
            limits,
        })
    }
}

fn merge<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    for item in b {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}
