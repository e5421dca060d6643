//! Names, attributes and status of HTTP spans (OpenTelemetry HTTP semantic conventions).

use std::mem;

use compact_str::CompactString;

use super::{
    route::{Route, Routes, path_of},
    span::{AttrValue, SpanAttributes, SpanKind, SpanStatus},
};
use crate::{
    conn::ConnInfo,
    protocol::{Incomplete, Role, http::HttpExchange},
};

pub struct HttpSpanParts {
    pub name: CompactString,
    pub kind: SpanKind,
    pub attributes: SpanAttributes,
    pub status: SpanStatus,
}

/// Longest attribute string copied from the wire; longer values are cut (bounded export).
const MAX_ATTR_LEN: usize = 1024;

/// `s` cut to [`MAX_ATTR_LEN`] bytes at a character boundary, in place: the exchange's own
/// strings become the span's attributes without a copy.
fn bounded(mut s: String) -> String {
    let len = cut(&s).len();
    s.truncate(len);
    s
}

/// `s` cut to [`MAX_ATTR_LEN`] bytes at a character boundary.
fn cut(s: &str) -> &str {
    let mut end = s.len().min(MAX_ATTR_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What `part` returns for `s`, reusing `s`'s buffer when it is a slice of `s` (a constant,
/// such as `path_of`'s "/", is copied).
fn keep(mut s: String, part: impl Fn(&str) -> &str) -> String {
    let sub = part(&s);
    let start = sub.as_ptr().addr().wrapping_sub(s.as_ptr().addr());
    if start > s.len() || s.len() - start < sub.len() {
        return sub.to_owned();
    }
    let end = start + sub.len();
    s.truncate(end);
    s.drain(..start);
    s
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

/// `network.protocol.version`; the two versions seen in practice without formatting.
fn protocol_version(minor: u8) -> CompactString {
    match minor {
        0 => CompactString::const_new("1.0"),
        1 => CompactString::const_new("1.1"),
        n => compact_str::format_compact!("1.{n}"),
    }
}

/// The span parts of `x`. Its strings are moved into the attributes, so `x` is left with
/// empty strings: build a span from an exchange once.
pub fn parts(x: &mut HttpExchange, info: Option<&ConnInfo>, routes: &Routes) -> HttpSpanParts {
    let mut attrs = SpanAttributes::with_capacity(12);
    let mut method = mem::take(&mut x.method);
    method.truncate(cut(&method).len());
    let route = (x.role == Role::Server).then(|| routes.route(&x.target));
    // Only configured routes name spans: a heuristic template could still be wrong, and a
    // span name must stay low-cardinality.
    let name = match &route {
        Some(Route::Configured(r)) => compact_str::format_compact!("{method} {}", r.as_str()),
        _ => method.clone(),
    };
    push(&mut attrs, "http.request.method", method);
    if let Some(status) = x.status {
        push(&mut attrs, "http.response.status_code", status as i64);
    }
    push(
        &mut attrs,
        "network.protocol.version",
        protocol_version(x.version_minor),
    );
    let kind = match route {
        Some(route) => {
            push(
                &mut attrs,
                "url.path",
                bounded(keep(mem::take(&mut x.target), path_of)),
            );
            push(&mut attrs, "url.scheme", "http");
            push(&mut attrs, "http.route", route.into_string());
            if let Some(info) = info {
                push(&mut attrs, "server.port", info.local.port() as i64);
                push(&mut attrs, "client.address", info.peer_ip.clone());
                push(&mut attrs, "network.peer.address", info.peer_ip.clone());
                push(&mut attrs, "network.peer.port", info.peer.port() as i64);
            }
            if let Some(host) = x.host.take() {
                push(&mut attrs, "server.address", bounded(keep(host, host_name)));
            }
            if let Some(ua) = x.user_agent.take() {
                push(&mut attrs, "user_agent.original", bounded(ua));
            }
            SpanKind::Server
        }
        None => {
            let host = x.host.as_deref().map(host_name);
            let server_address: CompactString = host
                .map(|h| CompactString::from(cut(h)))
                .or_else(|| info.map(|i| i.peer_ip.clone()))
                .unwrap_or_default();
            let port = info.map(|i| i.peer.port());
            let url_full = if x.target.contains("://") {
                mem::take(&mut x.target)
            } else {
                match (x.host.as_deref(), port) {
                    (Some(h), _) => format!("http://{h}{}", x.target),
                    (None, Some(p)) => format!("http://{server_address}:{p}{}", x.target),
                    (None, None) => mem::take(&mut x.target),
                }
            };
            push(&mut attrs, "url.full", bounded(url_full));
            push(&mut attrs, "server.address", server_address);
            if let Some(info) = info {
                push(&mut attrs, "server.port", info.peer.port() as i64);
                push(&mut attrs, "network.peer.address", info.peer_ip.clone());
                push(&mut attrs, "network.peer.port", info.peer.port() as i64);
            }
            SpanKind::Client
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_reuses_or_copies() {
        assert_eq!(keep("/items/1?x=2".into(), path_of), "/items/1");
        assert_eq!(keep("http://h:1".into(), path_of), "/");
        assert_eq!(keep("http://h:1/a?b".into(), path_of), "/a");
        assert_eq!(keep("[::1]:8080".into(), host_name), "::1");
        assert_eq!(keep("example.com:8080".into(), host_name), "example.com");
        assert_eq!(keep(String::new(), host_name), "");
    }

    #[test]
    fn bounded_cuts_at_a_char_boundary() {
        let long = "é".repeat(MAX_ATTR_LEN);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_ATTR_LEN && cut.len() >= MAX_ATTR_LEN - 1);
        assert_eq!(bounded("GET".into()), "GET");
    }
}
