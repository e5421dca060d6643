//! One module per section of docs/BENCHMARKS.md.

pub mod fastapi;
pub mod kernel;
pub mod loss;
pub mod nginx;
pub mod pipeline;
pub mod redis;
