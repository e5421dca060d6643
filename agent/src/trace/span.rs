//! sonde's own span record: what the trace stage produces and the export stage consumes.
//!
//! It is a plain data type instead of the OpenTelemetry SDK's `SpanData` because every span
//! carries the resource of the process that made the call (one service per process), while
//! the SDK ties one resource to a whole tracer provider.

use std::sync::Arc;

use compact_str::CompactString;

/// A string value is a `CompactString`: most attribute values (methods, status codes, IP
/// addresses, routes, operation names) fit its 24 inline bytes, so a span's values cost no
/// allocation and copying a connection's peer address into every span is free.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    Str(CompactString),
    Int(i64),
    Bool(bool),
}

impl From<&str> for AttrValue {
    fn from(v: &str) -> Self {
        AttrValue::Str(v.into())
    }
}
impl From<String> for AttrValue {
    fn from(v: String) -> Self {
        AttrValue::Str(v.into())
    }
}
impl From<CompactString> for AttrValue {
    fn from(v: CompactString) -> Self {
        AttrValue::Str(v)
    }
}
impl From<i64> for AttrValue {
    fn from(v: i64) -> Self {
        AttrValue::Int(v)
    }
}
impl From<bool> for AttrValue {
    fn from(v: bool) -> Self {
        AttrValue::Bool(v)
    }
}

impl std::fmt::Display for AttrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrValue::Str(s) => write!(f, "{s:?}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

pub type Attributes = Vec<(String, AttrValue)>;

/// Span attributes: the keys are the semantic conventions' fixed names, so they are never
/// allocated (a span has a dozen of them, and allocation was the pipeline's largest cost).
pub type SpanAttributes = Vec<(&'static str, AttrValue)>;

/// The resource of one watched process: service.name, process.pid, host.name, ...
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub attributes: Attributes,
}

impl Resource {
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn service_name(&self) -> &str {
        match self.get("service.name") {
            Some(AttrValue::Str(s)) => s,
            _ => "unknown_service",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    Server,
    Client,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Error { message: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// None for a root span.
    pub parent_span_id: Option<[u8; 8]>,
    pub name: CompactString,
    pub kind: SpanKind,
    /// Unix epoch nanoseconds.
    pub start_unix_ns: u64,
    pub end_unix_ns: u64,
    pub attributes: SpanAttributes,
    pub status: SpanStatus,
    pub resource: Arc<Resource>,
}

impl SpanRecord {
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}
