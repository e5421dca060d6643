//! sonde: the agent library. Data flows one way, in module order:
//! load -> capture -> conn -> protocol -> trace -> {metrics, export}.

pub mod alloc;
pub mod capture;
pub mod config;
pub mod conn;
pub mod discovery;
pub mod export;
pub mod load;
pub mod metrics;
pub mod ops;
pub mod protocol;
pub mod run;
pub mod stats;
pub mod trace;
