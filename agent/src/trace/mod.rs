//! Spans from exchanges: naming, attributes, parent links, redaction.

pub mod builder;
pub mod clock;
mod db_span;
mod http_span;
pub mod route;
pub mod span;
pub mod traceparent;

pub use builder::SpanBuilder;
