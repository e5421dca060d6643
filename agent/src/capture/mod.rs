//! Ring-buffer reading and the single-threaded pipeline that turns records into spans.

pub mod pipeline;
pub mod reader;

pub use pipeline::Pipeline;
