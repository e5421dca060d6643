//! Names, attributes and status of database client spans (OpenTelemetry database semantic
//! conventions): PostgreSQL, MySQL/MariaDB and Redis alike.

use super::span::{AttrValue, SpanAttributes, SpanKind, SpanStatus};
use crate::{
    conn::ConnInfo,
    protocol::{DbExchange, Incomplete},
};

pub struct DbSpanParts {
    pub name: String,
    pub kind: SpanKind,
    pub attributes: SpanAttributes,
    pub status: SpanStatus,
}

fn push(attrs: &mut SpanAttributes, key: &'static str, value: impl Into<AttrValue>) {
    attrs.push((key, value.into()));
}

pub fn parts(x: &DbExchange, info: Option<&ConnInfo>) -> DbSpanParts {
    let mut attrs = SpanAttributes::with_capacity(10);
    push(&mut attrs, "db.system.name", x.system.as_str());
    if let Some(ns) = &x.namespace {
        push(&mut attrs, "db.namespace", ns.clone());
    }
    if let Some(op) = &x.operation {
        push(&mut attrs, "db.operation.name", op.clone());
    }
    if let Some(coll) = &x.collection {
        push(&mut attrs, "db.collection.name", coll.clone());
    }
    if let Some(text) = &x.query_text {
        push(&mut attrs, "db.query.text", text.clone());
    }
    if let Some(info) = info {
        push(&mut attrs, "server.address", info.peer.ip().to_string());
        push(&mut attrs, "server.port", info.peer.port() as i64);
        push(
            &mut attrs,
            "network.peer.address",
            info.peer.ip().to_string(),
        );
        push(&mut attrs, "network.peer.port", info.peer.port() as i64);
    }
    if let Some(rows) = x.rows {
        push(&mut attrs, "db.response.returned_rows", rows as i64);
    }
    let status = match (&x.error, x.incomplete) {
        (Some(err), _) => {
            push(&mut attrs, "db.response.status_code", err.code.clone());
            push(&mut attrs, "error.type", err.code.clone());
            SpanStatus::Error {
                message: err.message.clone(),
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
    let name = match (&x.operation, &x.collection) {
        (Some(op), Some(coll)) => format!("{op} {coll}"),
        (Some(op), None) => op.clone(),
        (None, _) => x.system.as_str().to_owned(),
    };
    DbSpanParts {
        name,
        kind: SpanKind::Client,
        attributes: attrs,
        status,
    }
}
