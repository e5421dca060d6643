//! Names, attributes and status of HTTP spans (OpenTelemetry HTTP semantic conventions).

use super::{
    route::{Route, Routes, path_of},
    span::{AttrValue, SpanAttributes, SpanKind, SpanStatus},
};
use crate::{
    conn::ConnInfo,
    protocol::{Incomplete, Role, http::HttpExchange},
};

pub struct HttpSpanParts {
    pub name: String,
    pub kind: SpanKind,
    pub attributes: SpanAttributes,
    pub status: SpanStatus,
}

/// Longest attribute string copied from the wire; longer values are cut (bounded export).
const MAX_ATTR_LEN: usize = 1024;

fn bounded(s: &str) -> String {
    if s.len() <= MAX_ATTR_LEN {
        return s.to_owned();
    }
    let mut cut = MAX_ATTR_LEN;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s[..cut].to_owned()
}

fn push(attrs: &mut SpanAttributes, key: &'static str, value: impl Into<AttrValue>) {
    attrs.push((key, value.into()));
}

/// Host header without its port.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .map_or(host, |h| h.trim_start_matches('['));
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

pub fn parts(x: &HttpExchange, info: Option<&ConnInfo>, routes: &Routes) -> HttpSpanParts {
    let mut attrs = SpanAttributes::with_capacity(12);
    let method = bounded(&x.method);
    push(&mut attrs, "http.request.method", method.clone());
    if let Some(status) = x.status {
        push(&mut attrs, "http.response.status_code", status as i64);
    }
    push(
        &mut attrs,
        "network.protocol.version",
        format!("1.{}", x.version_minor),
    );
    let (name, kind) = match x.role {
        Role::Server => {
            let route = routes.route(&x.target);
            push(&mut attrs, "url.path", bounded(path_of(&x.target)));
            push(&mut attrs, "url.scheme", "http");
            push(&mut attrs, "http.route", route.as_str().to_owned());
            if let Some(info) = info {
                push(&mut attrs, "server.port", info.local.port() as i64);
                push(&mut attrs, "client.address", info.peer.ip().to_string());
                push(
                    &mut attrs,
                    "network.peer.address",
                    info.peer.ip().to_string(),
                );
                push(&mut attrs, "network.peer.port", info.peer.port() as i64);
            }
            if let Some(host) = &x.host {
                push(&mut attrs, "server.address", bounded(host_name(host)));
            }
            if let Some(ua) = &x.user_agent {
                push(&mut attrs, "user_agent.original", bounded(ua));
            }
            // Only configured routes name spans: a heuristic template could still be wrong,
            // and a span name must stay low-cardinality.
            let name = match route {
                Route::Configured(r) => format!("{method} {r}"),
                Route::Heuristic(_) => method.clone(),
            };
            (name, SpanKind::Server)
        }
        Role::Client => {
            let host = x.host.as_deref().map(host_name);
            let server_address = host
                .map(str::to_owned)
                .or_else(|| info.map(|i| i.peer.ip().to_string()))
                .unwrap_or_default();
            let port = info.map(|i| i.peer.port());
            let url_full = if x.target.contains("://") {
                x.target.clone()
            } else {
                match (x.host.as_deref(), port) {
                    (Some(h), _) => format!("http://{h}{}", x.target),
                    (None, Some(p)) => format!("http://{server_address}:{p}{}", x.target),
                    (None, None) => x.target.clone(),
                }
            };
            push(&mut attrs, "url.full", bounded(&url_full));
            push(&mut attrs, "server.address", bounded(&server_address));
            if let Some(info) = info {
                push(&mut attrs, "server.port", info.peer.port() as i64);
                push(
                    &mut attrs,
                    "network.peer.address",
                    info.peer.ip().to_string(),
                );
                push(&mut attrs, "network.peer.port", info.peer.port() as i64);
            }
            (method.clone(), SpanKind::Client)
        }
    };
    let error_threshold = if kind == SpanKind::Server { 500 } else { 400 };
    let status = match (x.status, x.incomplete) {
        (Some(code), _) if code >= error_threshold => {
            push(&mut attrs, "error.type", code.to_string());
            SpanStatus::Error {
                message: String::new(),
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
        _ => SpanStatus::Unset,
    };
    if x.incomplete.is_some() {
        // A partial span: some of its fields may be missing.
        push(&mut attrs, "sonde.partial", true);
    }
    HttpSpanParts {
        name,
        kind,
        attributes: attrs,
        status,
    }
}
