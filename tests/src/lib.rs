pub mod agent;
pub mod otlp;
pub mod ports;
pub mod servers;
