//! Names, attributes and status of database client spans (OpenTelemetry database semantic
//! conventions): PostgreSQL, MySQL/MariaDB and Redis alike.

use compact_str::CompactString;

use super::span::{AttrValue, SpanAttributes, SpanKind, SpanStatus};
use crate::{
    conn::ConnInfo,
    protocol::{DbExchange, Incomplete},
};

pub struct DbSpanParts {
    pub name: CompactString,
    pub kind: SpanKind,
    pub attributes: SpanAttributes,
    pub status: SpanStatus,
}

fn push(attrs: &mut SpanAttributes, key: &'static str, value: impl Into<AttrValue>) {
    attrs.push((key, value.into()));
}

/// The span parts of `x`. Its strings are moved into the attributes, so `x` is left with
/// empty fields: build a span from an exchange once.
pub fn parts(x: &mut DbExchange, info: Option<&ConnInfo>) -> DbSpanParts {
    let mut attrs = SpanAttributes::with_capacity(10);
    let name = match (&x.operation, &x.collection) {
        (Some(op), Some(coll)) => compact_str::format_compact!("{op} {coll}"),
        (Some(op), None) => op.as_str().into(),
        (None, _) => CompactString::const_new(x.system.as_str()),
    };
    push(&mut attrs, "db.system.name", x.system.as_str());
    if let Some(ns) = x.namespace.take() {
        push(&mut attrs, "db.namespace", ns);
    }
    if let Some(op) = x.operation.take() {
        push(&mut attrs, "db.operation.name", op);
    }
    if let Some(coll) = x.collection.take() {
        push(&mut attrs, "db.collection.name", coll);
    }
    if let Some(text) = x.query_text.take() {
        push(&mut attrs, "db.query.text", text);
    }
    if let Some(info) = info {
        push(&mut attrs, "server.address", info.peer_ip.clone());
        push(&mut attrs, "server.port", info.peer.port() as i64);
        push(&mut attrs, "network.peer.address", info.peer_ip.clone());
        push(&mut attrs, "network.peer.port", info.peer.port() as i64);
    }
    if let Some(rows) = x.rows {
        push(&mut attrs, "db.response.returned_rows", rows as i64);
    }
    let status = match (x.error.take(), x.incomplete) {
        (Some(err), _) => {
            push(&mut attrs, "db.response.status_code", err.code.clone());
            push(&mut attrs, "error.type", err.code);
            SpanStatus::Error {
                message: err.message,
            }
        }
        (None, Some(why)) => {
            let error_type = match why {
                Incomplete::Timeout => "timeout",
                Incomplete::ConnectionClosed => "connection_closed",
                Incomplete::Desync => "sonde.stream_desync",
            };
            push(&mut attrs, "error.type", error_type);
            SpanStatus::Error {
                message: format!("no complete response: {error_type}"),
            }
        }
        (None, None) => SpanStatus::Unset,
    };
    if x.incomplete.is_some() {
        push(&mut attrs, "sonde.partial", true);
    }
    DbSpanParts {
        name,
        kind: SpanKind::Client,
        attributes: attrs,
        status,
    }
}
