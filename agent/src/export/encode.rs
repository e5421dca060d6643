//! OTLP `ExportTraceServiceRequest` bytes, encoded straight from borrowed [`SpanRecord`]s.
//!
//! Why hand-written: [`super::proto::export_request`] first builds the opentelemetry-proto
//! structs, copying every string of every span (some 25 allocations per span on the export
//! thread) only to serialise them once and drop them. This writes the same fields in the same
//! order with prost's own encoding primitives (the ones its derived code calls), into one
//! buffer of the exact size. The tests below check that the bytes are those of
//! `proto::export_request(..).encode_to_vec()` and decode to the same request.
//!
//! Layout rules copied from prost's proto3 encoding: scalar and string fields equal to their
//! default are left out, `optional` messages and `oneof` values are written whenever set, and
//! nested messages are length-prefixed, so each length is computed before it is written.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use prost::encoding::{WireType, encode_varint, encoded_len_varint, key_len};

use super::proto::{SCOPE_NAME, W3C_FLAG_SAMPLED};
use crate::trace::span::{AttrValue, SpanKind, SpanRecord, SpanStatus};

// Field numbers, from the opentelemetry-proto definitions.
const REQUEST_RESOURCE_SPANS: u32 = 1;
const RESOURCE_SPANS_RESOURCE: u32 = 1;
const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_SPANS_SCOPE: u32 = 1;
const SCOPE_SPANS_SPANS: u32 = 2;
const SCOPE_NAME_FIELD: u32 = 1;
const SCOPE_VERSION: u32 = 2;
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_FLAGS: u32 = 16;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START: u32 = 7;
const SPAN_END: u32 = 8;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_STATUS: u32 = 15;
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;

/// `span::SpanKind` and `status::StatusCode` values of the OTLP enums.
const KIND_SERVER: u64 = 2;
const KIND_CLIENT: u64 = 3;
const STATUS_CODE_ERROR: u64 = 2;

/// A span with no successor in its group.
const NONE: u32 = u32::MAX;

/// The spans of one resource, linked in batch order.
struct Group {
    first: u32,
    last: u32,
    /// Encoded length of the group's `spans` fields (keys and length prefixes included).
    spans_len: usize,
}

/// Scratch state reused from batch to batch: once it has grown to the batch size, encoding
/// a batch allocates only the returned buffer.
#[derive(Default)]
pub struct TraceEncoder {
    groups: Vec<Group>,
    /// Group index of each resource, by the address of its `Arc` (spans of one process
    /// share one), as `proto::export_request` groups them.
    group_of: HashMap<usize, usize, foldhash::fast::RandomState>,
    /// Per span: the next span of the same group, and the span's encoded length.
    next: Vec<u32>,
    span_len: Vec<usize>,
}

impl TraceEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The protobuf encoding of the request `proto::export_request(spans)` builds: one
    /// `ResourceSpans` per distinct resource in the order of first appearance, each with one
    /// `ScopeSpans` named "sonde" holding that resource's spans in batch order.
    pub fn encode(&mut self, spans: &[SpanRecord]) -> Vec<u8> {
        self.group(spans);
        let scope_len = scope_len();
        let mut total = 0;
        for g in &self.groups {
            total += delimited_len(
                REQUEST_RESOURCE_SPANS,
                resource_spans_len(spans, g, scope_len),
            );
        }
        let mut buf = Vec::with_capacity(total);
        for g in &self.groups {
            let resource = &spans[g.first as usize].resource.attributes;
            let resource_len = attributes_len(resource);
            let scope_spans_len = delimited_len(SCOPE_SPANS_SCOPE, scope_len) + g.spans_len;
            let resource_spans_len = delimited_len(RESOURCE_SPANS_RESOURCE, resource_len)
                + delimited_len(RESOURCE_SPANS_SCOPE_SPANS, scope_spans_len);
            delimiter(REQUEST_RESOURCE_SPANS, resource_spans_len, &mut buf);
            delimiter(RESOURCE_SPANS_RESOURCE, resource_len, &mut buf);
            write_attributes(RESOURCE_ATTRIBUTES, resource, &mut buf);
            delimiter(RESOURCE_SPANS_SCOPE_SPANS, scope_spans_len, &mut buf);
            delimiter(SCOPE_SPANS_SCOPE, scope_len, &mut buf);
            write_scope(&mut buf);
            let mut i = g.first;
            while i != NONE {
                let at = i as usize;
                delimiter(SCOPE_SPANS_SPANS, self.span_len[at], &mut buf);
                write_span(&spans[at], &mut buf);
                i = self.next[at];
            }
        }
        debug_assert_eq!(buf.len(), total);
        buf
    }

    /// Fills `groups`, `next` and `span_len` for `spans`.
    fn group(&mut self, spans: &[SpanRecord]) {
        self.groups.clear();
        self.group_of.clear();
        self.next.clear();
        self.span_len.clear();
        for (i, span) in spans.iter().enumerate() {
            // A batch is at most the queue size, far below u32::MAX.
            let i = u32::try_from(i).unwrap_or(NONE - 1);
            let len = span_len(span);
            self.span_len.push(len);
            self.next.push(NONE);
            let field = delimited_len(SCOPE_SPANS_SPANS, len);
            match self.group_of.entry(Arc::as_ptr(&span.resource) as usize) {
                Entry::Occupied(e) => {
                    let g = &mut self.groups[*e.get()];
                    self.next[g.last as usize] = i;
                    g.last = i;
                    g.spans_len += field;
                }
                Entry::Vacant(e) => {
                    e.insert(self.groups.len());
                    self.groups.push(Group {
                        first: i,
                        last: i,
                        spans_len: field,
                    });
                }
            }
        }
    }
}

/// prost's `encode_varint` with the one-byte case (every key here, most lengths) inline:
/// the general loop was the encoder's largest cost.
#[inline]
fn varint(value: u64, buf: &mut Vec<u8>) {
    if value < 0x80 {
        buf.push(value as u8);
    } else {
        encode_varint(value, buf);
    }
}

/// prost's `encode_key`: the varint of the tag and the wire type.
#[inline]
fn encode_key(tag: u32, wire_type: WireType, buf: &mut Vec<u8>) {
    varint(u64::from(tag << 3 | wire_type as u32), buf);
}

/// A length-delimited field: its key, its length, and `len` bytes.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn delimiter(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    varint(len as u64, buf);
}

/// A string or bytes field; prost leaves empty ones out.
fn bytes_len(tag: u32, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        delimited_len(tag, bytes.len())
    }
}

fn write_bytes(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    if !bytes.is_empty() {
        delimiter(tag, bytes.len(), buf);
        buf.extend_from_slice(bytes);
    }
}

fn resource_spans_len(spans: &[SpanRecord], g: &Group, scope_len: usize) -> usize {
    let resource_len = attributes_len(&spans[g.first as usize].resource.attributes);
    let scope_spans_len = delimited_len(SCOPE_SPANS_SCOPE, scope_len) + g.spans_len;
    delimited_len(RESOURCE_SPANS_RESOURCE, resource_len)
        + delimited_len(RESOURCE_SPANS_SCOPE_SPANS, scope_spans_len)
}

const SCOPE_VERSION_VALUE: &str = env!("CARGO_PKG_VERSION");

fn scope_len() -> usize {
    bytes_len(SCOPE_NAME_FIELD, SCOPE_NAME.as_bytes())
        + bytes_len(SCOPE_VERSION, SCOPE_VERSION_VALUE.as_bytes())
}

fn write_scope(buf: &mut Vec<u8>) {
    write_bytes(SCOPE_NAME_FIELD, SCOPE_NAME.as_bytes(), buf);
    write_bytes(SCOPE_VERSION, SCOPE_VERSION_VALUE.as_bytes(), buf);
}

fn kind_value(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Server => KIND_SERVER,
        SpanKind::Client => KIND_CLIENT,
    }
}

fn status_len(message: &str) -> usize {
    bytes_len(STATUS_MESSAGE, message.as_bytes())
        + key_len(STATUS_CODE)
        + encoded_len_varint(STATUS_CODE_ERROR)
}

fn span_len(span: &SpanRecord) -> usize {
    let parent = span.parent_span_id.as_ref().map_or(&[][..], |p| &p[..]);
    let mut len = bytes_len(SPAN_TRACE_ID, &span.trace_id)
        + bytes_len(SPAN_SPAN_ID, &span.span_id)
        + bytes_len(SPAN_PARENT_SPAN_ID, parent)
        + key_len(SPAN_FLAGS)
        + 4
        + bytes_len(SPAN_NAME, span.name.as_bytes())
        + key_len(SPAN_KIND)
        + encoded_len_varint(kind_value(span.kind))
        + fixed64_len(SPAN_START, span.start_unix_ns)
        + fixed64_len(SPAN_END, span.end_unix_ns);
    for (key, value) in &span.attributes {
        len += delimited_len(SPAN_ATTRIBUTES, key_value_len(key, value));
    }
    if let SpanStatus::Error { message } = &span.status {
        len += delimited_len(SPAN_STATUS, status_len(message));
    }
    len
}

fn write_span(span: &SpanRecord, buf: &mut Vec<u8>) {
    let parent = span.parent_span_id.as_ref().map_or(&[][..], |p| &p[..]);
    write_bytes(SPAN_TRACE_ID, &span.trace_id, buf);
    write_bytes(SPAN_SPAN_ID, &span.span_id, buf);
    write_bytes(SPAN_PARENT_SPAN_ID, parent, buf);
    write_bytes(SPAN_NAME, span.name.as_bytes(), buf);
    encode_key(SPAN_KIND, WireType::Varint, buf);
    varint(kind_value(span.kind), buf);
    write_fixed64(SPAN_START, span.start_unix_ns, buf);
    write_fixed64(SPAN_END, span.end_unix_ns, buf);
    write_attributes(SPAN_ATTRIBUTES, &span.attributes, buf);
    if let SpanStatus::Error { message } = &span.status {
        delimiter(SPAN_STATUS, status_len(message), buf);
        write_bytes(STATUS_MESSAGE, message.as_bytes(), buf);
        encode_key(STATUS_CODE, WireType::Varint, buf);
        varint(STATUS_CODE_ERROR, buf);
    }
    // prost writes fields in tag order: `flags` (16) comes last.
    encode_key(SPAN_FLAGS, WireType::ThirtyTwoBit, buf);
    buf.extend_from_slice(&W3C_FLAG_SAMPLED.to_le_bytes());
}

/// A fixed64 field; prost leaves out zero.
fn fixed64_len(tag: u32, value: u64) -> usize {
    if value == 0 { 0 } else { key_len(tag) + 8 }
}

fn write_fixed64(tag: u32, value: u64, buf: &mut Vec<u8>) {
    if value != 0 {
        encode_key(tag, WireType::SixtyFourBit, buf);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

fn attributes_len<K: AsRef<str>>(attributes: &[(K, AttrValue)]) -> usize {
    attributes
        .iter()
        .map(|(k, v)| delimited_len(RESOURCE_ATTRIBUTES, key_value_len(k.as_ref(), v)))
        .sum()
}

fn write_attributes<K: AsRef<str>>(tag: u32, attributes: &[(K, AttrValue)], buf: &mut Vec<u8>) {
    for (key, value) in attributes {
        let key = key.as_ref();
        delimiter(tag, key_value_len(key, value), buf);
        write_bytes(KEY_VALUE_KEY, key.as_bytes(), buf);
        delimiter(KEY_VALUE_VALUE, any_value_len(value), buf);
        write_any_value(value, buf);
    }
}

fn key_value_len(key: &str, value: &AttrValue) -> usize {
    // The value is an optional message: written even when its encoding is short.
    bytes_len(KEY_VALUE_KEY, key.as_bytes()) + delimited_len(KEY_VALUE_VALUE, any_value_len(value))
}

/// A `oneof` member is written whenever set, default value or not.
fn any_value_len(value: &AttrValue) -> usize {
    match value {
        AttrValue::Str(s) => delimited_len(ANY_STRING, s.len()),
        AttrValue::Bool(_) => key_len(ANY_BOOL) + 1,
        AttrValue::Int(i) => key_len(ANY_INT) + encoded_len_varint(*i as u64),
    }
}

fn write_any_value(value: &AttrValue, buf: &mut Vec<u8>) {
    match value {
        AttrValue::Str(s) => {
            delimiter(ANY_STRING, s.len(), buf);
            buf.extend_from_slice(s.as_bytes());
        }
        AttrValue::Bool(b) => {
            encode_key(ANY_BOOL, WireType::Varint, buf);
            varint(u64::from(*b), buf);
        }
        AttrValue::Int(i) => {
            encode_key(ANY_INT, WireType::Varint, buf);
            // int64 is encoded as its two's complement, as prost does.
            varint(*i as u64, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::proto::export_request;
    use crate::trace::span::Resource;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    fn resource(service: &str, pid: i64) -> Arc<Resource> {
        Arc::new(Resource {
            attributes: vec![
                ("service.name".into(), service.into()),
                ("process.pid".into(), AttrValue::Int(pid)),
                ("empty".into(), "".into()),
                ("".into(), AttrValue::Bool(false)),
            ],
        })
    }

    fn span(n: u8, resource: &Arc<Resource>) -> SpanRecord {
        SpanRecord {
            trace_id: [n; 16],
            span_id: [n.wrapping_add(1); 8],
            parent_span_id: n.is_multiple_of(2).then_some([7; 8]),
            name: if n.is_multiple_of(5) {
                String::new().into()
            } else {
                format!("GET /items/{n}").into()
            },
            kind: if n.is_multiple_of(3) {
                SpanKind::Server
            } else {
                SpanKind::Client
            },
            start_unix_ns: if n == 4 {
                0
            } else {
                1_700_000_000_000_000_000 + u64::from(n)
            },
            end_unix_ns: 1_700_000_000_012_300_000 + u64::from(n),
            attributes: vec![
                ("http.request.method", "GET".into()),
                (
                    "http.response.status_code",
                    AttrValue::Int(200 + i64::from(n)),
                ),
                ("negative", AttrValue::Int(-1)),
                ("zero", AttrValue::Int(0)),
                ("sonde.partial", AttrValue::Bool(n % 2 == 1)),
                ("empty", AttrValue::Str("".into())),
                ("long", "x".repeat(300 + usize::from(n)).into()),
                ("utf8", "é ü 漢".into()),
            ],
            status: match n % 4 {
                0 => SpanStatus::Unset,
                1 => SpanStatus::Error {
                    message: String::new(),
                },
                _ => SpanStatus::Error {
                    message: format!("no complete response: {n}"),
                },
            },
            resource: resource.clone(),
        }
    }

    fn batch() -> Vec<SpanRecord> {
        let app = resource("app", 1);
        let db = resource("db", 2);
        let bare = Arc::new(Resource {
            attributes: Vec::new(),
        });
        (0..40u8)
            .map(|n| match n % 3 {
                0 => span(n, &app),
                1 => span(n, &db),
                _ if n % 2 == 0 => span(n, &bare),
                _ => span(n, &app),
            })
            .collect()
    }

    #[test]
    fn bytes_equal_the_opentelemetry_proto_encoding() {
        let spans = batch();
        let mut encoder = TraceEncoder::new();
        let old = export_request(&spans);
        let bytes = encoder.encode(&spans);
        let decoded = ExportTraceServiceRequest::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, old);
        assert_same_bytes(&bytes, &old.encode_to_vec());
        // The scratch state is reset between batches.
        assert_same_bytes(
            &encoder.encode(&spans[5..17]),
            &export_request(&spans[5..17]).encode_to_vec(),
        );
    }

    /// Reports where two encodings part, instead of printing kilobytes of bytes.
    fn assert_same_bytes(got: &[u8], want: &[u8]) {
        let first = got.iter().zip(want).position(|(a, b)| a != b);
        assert!(
            got == want,
            "lengths {} and {}, first difference at {first:?}",
            got.len(),
            want.len()
        );
    }

    #[test]
    fn empty_batch_is_an_empty_request() {
        assert!(TraceEncoder::new().encode(&[]).is_empty());
    }
}
