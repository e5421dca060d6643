//! The console exporter: each trace of a batch as a readable tree, one line per span.
//!
//! ```text
//! trace 4bf92f3577b34da6a3ce929d0e0e4736
//!   GET /items/{id}  SERVER  12.3ms  200  service=app pid=1234
//!     SELECT items  CLIENT  1.2ms  SELECT * FROM items WHERE id = ?  service=app pid=1234
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;

use crate::trace::span::{AttrValue, SpanKind, SpanRecord, SpanStatus};

/// The attributes worth a glance, shown in this order when present.
const KEY_ATTRIBUTES: [&str; 5] = [
    "url.full",
    // Server spans have no url.full; their path says which request it was.
    "url.path",
    "http.response.status_code",
    "db.query.text",
    "db.response.status_code",
];

/// Query texts can be long; the console shows their start.
const MAX_VALUE_CHARS: usize = 120;

/// Prints a batch to stdout.
pub(crate) fn print(spans: &[SpanRecord]) -> std::io::Result<()> {
    let text = format_traces(spans);
    if cfg!(test) {
        // The test harness captures print! only; the daemon writes directly so that a closed
        // stdout is an error instead of a panic.
        print!("{text}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Formats a batch: its spans grouped by trace id (in the order the traces first appear),
/// children indented under their parents, siblings by start time. A span whose parent is not
/// in the batch is shown at the top level of its trace.
pub fn format_traces(spans: &[SpanRecord]) -> String {
    let mut traces: Vec<([u8; 16], Vec<usize>)> = Vec::new();
    let mut trace_of: HashMap<[u8; 16], usize> = HashMap::new();
    for (i, span) in spans.iter().enumerate() {
        let t = *trace_of.entry(span.trace_id).or_insert_with(|| {
            traces.push((span.trace_id, Vec::new()));
            traces.len() - 1
        });
        traces[t].1.push(i);
    }

    let mut out = String::new();
    for (trace_id, members) in &traces {
        let _ = writeln!(out, "trace {}", hex(trace_id));
        format_tree(spans, members, &mut out);
    }
    out
}

/// Writes the spans of one trace (indexes into `spans`) as a tree.
fn format_tree(spans: &[SpanRecord], members: &[usize], out: &mut String) {
    let mut index_of: HashMap<[u8; 8], usize> = HashMap::new();
    for &i in members {
        index_of.entry(spans[i].span_id).or_insert(i);
    }
    let mut roots = Vec::new();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for &i in members {
        let parent = spans[i]
            .parent_span_id
            .and_then(|p| index_of.get(&p).copied())
            .filter(|&p| p != i);
        match parent {
            Some(p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| spans[i].start_unix_ns);
    by_start(&mut roots);
    children.values_mut().for_each(by_start);

    // Depth-first without recursion; `printed` also breaks parent cycles, whose spans are
    // then shown at the top level.
    let mut printed = vec![false; spans.len()];
    let mut pending_roots = roots;
    pending_roots.extend(members.iter().copied());
    for root in pending_roots {
        let mut stack = vec![(root, 1usize)];
        while let Some((i, depth)) = stack.pop() {
            if printed[i] {
                continue;
            }
            printed[i] = true;
            format_line(&spans[i], depth, out);
            if let Some(kids) = children.get(&i) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
    }
}

/// One span: `{indent}{name}  {KIND}  {duration}  {key attributes}  [ERROR...]  service=.. pid=..`
pub fn format_line(span: &SpanRecord, depth: usize, out: &mut String) {
    let kind = match span.kind {
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
    };
    let duration = format_duration(span.end_unix_ns.saturating_sub(span.start_unix_ns));
    let _ = write!(
        out,
        "{:indent$}{}  {kind}  {duration}",
        "",
        one_line(&span.name),
        indent = depth * 2
    );
    for key in KEY_ATTRIBUTES {
        if let Some(value) = span.attr(key) {
            let _ = write!(out, "  {}", display_value(value));
        }
    }
    if let SpanStatus::Error { message } = &span.status {
        if message.is_empty() {
            out.push_str("  ERROR");
        } else {
            let _ = write!(out, "  ERROR: {}", one_line(message));
        }
    }
    let _ = write!(out, "  service={}", one_line(span.resource.service_name()));
    if let Some(pid) = span.resource.get("process.pid") {
        let _ = write!(out, " pid={}", display_value(pid));
    }
    out.push('\n');
}

fn format_duration(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e6 {
        format!("{:.1}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

fn display_value(value: &AttrValue) -> String {
    match value {
        AttrValue::Str(s) => one_line(s),
        AttrValue::Int(i) => i.to_string(),
        AttrValue::Bool(b) => b.to_string(),
    }
}

/// Keeps a captured string on one short line: control characters become spaces and long
/// values are cut.
fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_VALUE_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_VALUE_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::span::Resource;
    use std::sync::Arc;

    fn resource(service: &str, pid: i64) -> Arc<Resource> {
        Arc::new(Resource {
            attributes: vec![
                ("service.name".into(), service.into()),
                ("process.pid".into(), AttrValue::Int(pid)),
            ],
        })
    }

    fn span(trace: u8, id: u8, parent: Option<u8>, name: &str, start_ms: u64) -> SpanRecord {
        SpanRecord {
            trace_id: [trace; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: name.into(),
            kind: if parent.is_some() {
                SpanKind::Client
            } else {
                SpanKind::Server
            },
            start_unix_ns: start_ms * 1_000_000,
            end_unix_ns: start_ms * 1_000_000 + 12_300_000,
            attributes: Vec::new(),
            status: SpanStatus::Unset,
            resource: resource("app", 1234),
        }
    }

    #[test]
    fn children_are_indented_under_parents() {
        let mut server = span(1, 1, None, "GET /items/{id}", 0);
        server
            .attributes
            .push(("http.response.status_code", AttrValue::Int(200)));
        let mut query = span(1, 2, Some(1), "SELECT items", 2);
        query
            .attributes
            .push(("db.query.text", "SELECT * FROM items WHERE id = ?".into()));
        query.end_unix_ns = query.start_unix_ns + 1_200_000;
        let cache = span(1, 3, Some(1), "GET", 1);
        // Children arrive before their parent and out of order.
        let text = format_traces(&[query, server, cache]);
        assert_eq!(
            text,
            "trace 01010101010101010101010101010101\n\
             \x20 GET /items/{id}  SERVER  12.3ms  200  service=app pid=1234\n\
             \x20   GET  CLIENT  12.3ms  service=app pid=1234\n\
             \x20   SELECT items  CLIENT  1.2ms  SELECT * FROM items WHERE id = ?  service=app pid=1234\n"
        );
    }

    #[test]
    fn traces_are_grouped_and_orphans_are_top_level() {
        let a = span(1, 1, None, "GET /a", 0);
        let b = span(2, 2, None, "GET /b", 0);
        let orphan = span(1, 3, Some(9), "GET", 5);
        let text = format_traces(&[a, b, orphan]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("trace 0101"));
        assert!(lines[1].starts_with("  GET /a  SERVER"));
        assert!(
            lines[2].starts_with("  GET  CLIENT"),
            "orphan at top level: {text}"
        );
        assert!(lines[3].starts_with("trace 0202"));
        assert!(lines[4].starts_with("  GET /b  SERVER"));
    }

    #[test]
    fn error_status_is_shown() {
        let mut s = span(1, 1, None, "POST /pay", 0);
        s.attributes
            .push(("http.response.status_code", AttrValue::Int(503)));
        s.status = SpanStatus::Error {
            message: "HTTP 503".into(),
        };
        let mut line = String::new();
        format_line(&s, 1, &mut line);
        assert_eq!(
            line,
            "  POST /pay  SERVER  12.3ms  503  ERROR: HTTP 503  service=app pid=1234\n"
        );
    }

    #[test]
    fn parent_cycles_still_print_every_span_once() {
        let a = span(1, 1, Some(2), "A", 0);
        let b = span(1, 2, Some(1), "B", 1);
        let itself = span(1, 3, Some(3), "C", 2);
        let text = format_traces(&[a, b, itself]);
        assert_eq!(text.lines().count(), 4, "{text}");
        for name in ["A  ", "B  ", "C  "] {
            assert_eq!(text.matches(name).count(), 1, "{text}");
        }
    }

    #[test]
    fn captured_text_stays_on_one_short_line() {
        let mut s = span(1, 1, None, "GET\r\n/x", 0);
        s.attributes.push(("db.query.text", "x".repeat(500).into()));
        let mut line = String::new();
        format_line(&s, 0, &mut line);
        assert_eq!(line.lines().count(), 1);
        assert!(line.starts_with("GET  /x  SERVER"), "{line}");
        assert!(line.contains(&format!("{}…", "x".repeat(MAX_VALUE_CHARS))));
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_duration(12_500), "12.5µs");
        assert_eq!(format_duration(12_300_000), "12.3ms");
        assert_eq!(format_duration(1_520_000_000), "1.52s");
    }
}
