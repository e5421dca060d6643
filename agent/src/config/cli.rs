//! Command-line flags.

use std::{net::SocketAddr, path::PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExporterFlag {
    /// OTLP to OTEL_EXPORTER_OTLP_ENDPOINT (gRPC or http/protobuf per OTEL_EXPORTER_OTLP_PROTOCOL).
    Otlp,
    /// Each finished trace printed to stdout as a tree, one line per span.
    Console,
}

/// Zero-code instrumentation: sees the HTTP calls of running processes through eBPF and
/// exports them as OpenTelemetry spans. Runs as root (or with CAP_BPF, CAP_PERFMON,
/// CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH).
#[derive(Clone, Debug, Default, clap::Parser)]
#[command(name = "sonde", version)]
pub struct Cli {
    /// Where spans go. Default: otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set, console otherwise.
    #[arg(long, value_enum)]
    pub exporter: Option<ExporterFlag>,
    /// Watch this process (and the children it starts). Repeatable.
    #[arg(long, value_name = "PID")]
    pub pid: Vec<u32>,
    /// Watch connections with this local or remote port. Repeatable.
    #[arg(long, value_name = "PORT")]
    pub port: Vec<u16>,
    /// Watch processes whose executable path or name matches this glob. Repeatable.
    #[arg(long, value_name = "GLOB")]
    pub exe: Vec<String>,
    /// Operations endpoint: /healthz (503 until every probe is attached, then 200) and
    /// /metrics (Prometheus text). Default 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// YAML file with the same settings and more (routes, limits). Unknown keys are errors.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}
