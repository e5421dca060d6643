//! sonde: zero-code auto-instrumentation. See `sonde --help`.

use clap::Parser as _;

#[global_allocator]
static ALLOCATOR: sonde::alloc::Allocator = sonde::alloc::Allocator;

fn main() -> anyhow::Result<()> {
    sonde::alloc::purge_at_once(true);
    let cli = sonde::config::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SONDE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = sonde::config::Config::resolve(&cli)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(sonde::run::run(config))
}
