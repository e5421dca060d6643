//! The YAML configuration file. Unknown keys are rejected with the key's name.

use std::{net::SocketAddr, path::Path, time::Duration};

use serde::Deserialize;

use super::{ConfigError, cli::ExporterFlag};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub exporter: Option<ExporterFlag>,
    #[serde(default)]
    pub pid: Vec<u32>,
    #[serde(default)]
    pub port: Vec<u16>,
    #[serde(default)]
    pub exe: Vec<String>,
    pub listen: Option<SocketAddr>,
    /// Route templates such as "/items/{id}", tried in order before the heuristic.
    #[serde(default)]
    pub routes: Vec<String>,
    pub limits: Option<Limits>,
}

/// Bounds on every table and queue. Each default is commented with why.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Kernel ring buffer bytes. 8 MiB holds about 16,000 small (512 B) or 2,000 full
    /// (4 KiB) events, tens of milliseconds at the rates one host produces; it is mapped
    /// twice by the kernel (for wrap-around), so it counts about twice in sonde's RSS.
    pub ring_buffer_bytes: u32,
    /// Kernel connection table entries (LRU): one per TCP socket seen opening or doing I/O,
    /// removed when it closes. 65536 covers a busy host's open connections; past it the
    /// least recently used verdict is forgotten and simply made again.
    /// (`kernel_descriptors` is the key's earlier name, still accepted.)
    #[serde(alias = "kernel_descriptors")]
    pub kernel_connections: u32,
    /// Connections the agent keeps parser state for; the least recently used go first.
    pub connections: usize,
    /// Milliseconds a request waits for its response before its span ends with an error.
    pub request_timeout_ms: u64,
    /// Longest message head (request line + headers) buffered while incomplete.
    pub max_header_bytes: usize,
    /// Requests waiting for responses per connection (pipelining depth).
    pub max_pending: usize,
    /// Series per metric (attribute sets), the overflow series included; past it,
    /// measurements go to the one `otel.metric.overflow=true` series. 2000 is the
    /// OpenTelemetry SDKs' default cardinality limit: a few MiB for all metrics at most.
    pub max_metric_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ring_buffer_bytes: 8 * 1024 * 1024,
            kernel_connections: 65536,
            connections: 16384,
            request_timeout_ms: 30_000,
            max_header_bytes: 16 * 1024,
            max_pending: 64,
            max_metric_series: 2000,
        }
    }
}

impl Limits {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.ring_buffer_bytes.is_power_of_two() || self.ring_buffer_bytes < 4096 {
            return Err(ConfigError::Invalid(format!(
                "limits.ring_buffer_bytes must be a power of two of at least 4096, got {}",
                self.ring_buffer_bytes
            )));
        }
        if self.kernel_connections == 0
            || self.connections == 0
            || self.max_pending == 0
            || self.max_metric_series == 0
        {
            return Err(ConfigError::Invalid(
                "limits: table sizes must be positive".into(),
            ));
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Yaml {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<FileConfig, String> {
        if text.trim().is_empty() {
            return Ok(FileConfig::default());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = FileConfig::parse("exporter: console\nbogus_key: 1\n").unwrap_err();
        assert!(err.contains("bogus_key"), "{err}");
        let err = FileConfig::parse("limits:\n  connectionz: 5\n").unwrap_err();
        assert!(err.contains("connectionz"), "{err}");
    }

    #[test]
    fn full_file_parses() {
        let cfg = FileConfig::parse(
            "exporter: otlp\npid: [1, 2]\nport: [8080]\nexe: ['*/nginx']\nlisten: 127.0.0.1:9999\nroutes: ['/items/{id}']\nlimits:\n  connections: 10\n",
        )
        .unwrap();
        assert_eq!(cfg.exporter, Some(ExporterFlag::Otlp));
        assert_eq!(cfg.pid, vec![1, 2]);
        assert_eq!(cfg.routes, vec!["/items/{id}".to_owned()]);
        let limits = cfg.limits.unwrap();
        assert_eq!(limits.connections, 10);
        assert_eq!(limits.max_pending, Limits::default().max_pending);
    }

    #[test]
    fn metric_series_cap_is_configurable() {
        assert_eq!(Limits::default().max_metric_series, 2000);
        let cfg = FileConfig::parse("limits:\n  max_metric_series: 50\n").unwrap();
        let limits = cfg.limits.unwrap();
        assert_eq!(limits.max_metric_series, 50);
        assert!(limits.validate().is_ok());
        let zero = FileConfig::parse("limits:\n  max_metric_series: 0\n").unwrap();
        assert!(zero.limits.unwrap().validate().is_err());
    }
}
