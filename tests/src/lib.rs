pub mod agent;
pub mod mariadb_server;
pub mod otlp;
pub mod ports;
pub mod postgres_server;
pub mod prometheus_server;
pub mod redis_server;
pub mod servers;
