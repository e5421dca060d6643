//! Which processes to watch, and who they are: service names and resource attributes.

pub mod naming;
pub mod procfs_read;
pub mod registry;
pub mod selection;

pub use registry::ProcessRegistry;
pub use selection::ExeMatcher;
