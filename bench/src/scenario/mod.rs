//! One module per section of docs/BENCHMARKS.md.

pub mod nginx;
pub mod pipeline;
pub mod redis;
pub mod loss;
pub mod fastapi;
pub mod kernel;
