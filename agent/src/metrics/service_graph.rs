//! The service graph: requests, failures and durations per client -> server edge.
//!
//! sonde sees both ends of a loopback or same-host call: the client's connection
//! `local -> peer` is the server's `peer -> local`. The client and server spans of one request
//! finish close together, in either order, so each waits up to [`PAIR_WINDOW`] in a table
//! keyed by that 4-tuple for its other half (requests on one connection are sequential, so
//! halves pair first-in first-out). A half left alone had no watched other end:
//! - a client span names the server `server.address:server.port`;
//! - a server span names the client `user`, as Tempo's virtual node does (never the client's
//!   address: that is unbounded).
//!
//! Database client spans do not wait: sonde never reports a database server's side.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

// foldhash: `waiting` and `name_index` are looked up per span; SipHash was a visible cost.
use foldhash::{HashMap, HashMapExt};

use super::{
    histogram::Histogram,
    series::{Labels, SeriesTable},
    services::ServiceResource,
};
use crate::stats::SelfStats;

/// How long a half waits for its other half. Both are read from one ring buffer within
/// milliseconds of each other; the margin covers a busy pipeline.
pub const PAIR_WINDOW: Duration = Duration::from_secs(2);

/// Halves waiting at once. Past that the oldest is reported unpaired early. 16 Ki covers
/// 8,000 requests a second to unwatched servers within the window, at ~100 bytes each.
const MAX_PENDING: usize = 16 * 1024;

/// The client of a server span whose client is not watched.
pub const USER: &str = "user";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// One finished span, as the graph needs it.
#[derive(Clone, Copy, Debug)]
pub struct GraphSpan<'a> {
    pub side: Side,
    pub service: &'a str,
    /// Client spans: whom the server is named after when it is not watched.
    pub server_address: Option<&'a str>,
    pub server_port: Option<i64>,
    /// (local, peer) of the connection, when known.
    pub conn: Option<(SocketAddr, SocketAddr)>,
    /// Whether the other end may report a span (HTTP); false for database clients.
    pub pairable: bool,
    pub seconds: f64,
    pub failed: bool,
    pub start_unix_ns: u64,
}

/// The statistics of one edge.
#[derive(Debug, Default)]
pub struct EdgeStats {
    pub requests: u64,
    pub failed: u64,
    /// Durations of the server spans (paired, or server-only).
    pub server: Histogram,
    /// Durations of the client spans (paired, or client-only).
    pub client: Histogram,
}

/// A node name, interned.
type NodeId = u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ConnKey {
    client: SocketAddr,
    server: SocketAddr,
}

#[derive(Debug)]
struct Half {
    seq: u64,
    side: Side,
    /// The span's own service; None once the node table is full.
    node: Option<NodeId>,
    /// Client halves: the server's name if no server half comes.
    fallback: Option<NodeId>,
    seconds: f64,
    failed: bool,
    start_unix_ns: u64,
}

pub struct ServiceGraph {
    names: Vec<Box<str>>,
    name_index: HashMap<Box<str>, NodeId>,
    max_names: usize,
    waiting: HashMap<ConnKey, VecDeque<Half>>,
    /// Every half in arrival order, for expiry. Entries of halves already paired stay until
    /// their time comes; they keep their (empty, reusable) queue in `waiting` alive.
    arrivals: VecDeque<(Instant, u64, ConnKey)>,
    next_seq: u64,
    edges: SeriesTable<EdgeStats>,
    agent: Arc<ServiceResource>,
    name_buf: String,
    key_buf: Vec<u8>,
    /// The last (address, port) given to `endpoint_node` and its answer.
    last_endpoint: Option<(String, Option<i64>, Option<NodeId>)>,
}

impl ServiceGraph {
    pub fn new(
        max_series: usize,
        agent: Arc<ServiceResource>,
        stats: Arc<SelfStats>,
    ) -> ServiceGraph {
        ServiceGraph {
            names: Vec::new(),
            name_index: HashMap::new(),
            // Every edge has two names; more names than edges can never be used.
            max_names: max_series.saturating_mul(2),
            waiting: HashMap::new(),
            arrivals: VecDeque::new(),
            next_seq: 0,
            edges: SeriesTable::new(max_series, stats),
            agent,
            name_buf: String::new(),
            key_buf: Vec::with_capacity(8),
            last_endpoint: None,
        }
    }

    pub fn record(&mut self, span: GraphSpan<'_>, now: Instant) {
        self.expire(now);
        let node = self.node(span.service);
        let fallback = match span.side {
            Side::Client => self.endpoint_node(span.server_address, span.server_port),
            Side::Server => None,
        };
        self.next_seq += 1;
        let half = Half {
            seq: self.next_seq,
            side: span.side,
            node,
            fallback,
            seconds: span.seconds,
            failed: span.failed,
            start_unix_ns: span.start_unix_ns,
        };
        match span.conn {
            Some((local, peer)) if span.pairable => {
                let key = match span.side {
                    Side::Client => ConnKey {
                        client: local,
                        server: peer,
                    },
                    Side::Server => ConnKey {
                        client: peer,
                        server: local,
                    },
                };
                self.pair_or_wait(key, half, now);
            }
            _ => self.alone(half),
        }
    }

    /// Reports the halves that waited longer than the window.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(arrived, _, _)) = self.arrivals.front() {
            if now.saturating_duration_since(arrived) < PAIR_WINDOW {
                break;
            }
            self.expire_oldest();
        }
    }

    /// Reports every waiting half as unpaired (shutdown: no other half can come).
    pub fn expire_all(&mut self) {
        while !self.arrivals.is_empty() {
            self.expire_oldest();
        }
    }

    pub fn edges(&self) -> &SeriesTable<EdgeStats> {
        &self.edges
    }

    fn pair_or_wait(&mut self, key: ConnKey, half: Half, now: Instant) {
        if let Some(queue) = self.waiting.get_mut(&key)
            && queue.front().is_some_and(|other| other.side != half.side)
            && let Some(other) = queue.pop_front()
        {
            let (client, server) = match half.side {
                Side::Client => (half, other),
                Side::Server => (other, half),
            };
            self.add(
                client.node,
                server.node,
                Some(client.seconds),
                Some(server.seconds),
                client.failed || server.failed,
                client.start_unix_ns.min(server.start_unix_ns),
            );
            return;
        }
        if self.arrivals.len() >= MAX_PENDING {
            self.expire_oldest();
        }
        self.arrivals.push_back((now, half.seq, key));
        self.waiting.entry(key).or_default().push_back(half);
    }

    fn expire_oldest(&mut self) {
        let Some((_, seq, key)) = self.arrivals.pop_front() else {
            return;
        };
        let Some(queue) = self.waiting.get_mut(&key) else {
            return;
        };
        // Halves of one key arrive in sequence order, so a half still waiting is in front.
        let half = if queue.front().is_some_and(|h| h.seq == seq) {
            queue.pop_front()
        } else {
            None
        };
        if queue.is_empty() {
            self.waiting.remove(&key);
        }
        if let Some(half) = half {
            self.alone(half);
        }
    }

    /// A half whose other end is not watched.
    fn alone(&mut self, half: Half) {
        match half.side {
            Side::Client => self.add(
                half.node,
                half.fallback,
                Some(half.seconds),
                None,
                half.failed,
                half.start_unix_ns,
            ),
            Side::Server => {
                let user = self.node(USER);
                self.add(
                    user,
                    half.node,
                    None,
                    Some(half.seconds),
                    half.failed,
                    half.start_unix_ns,
                );
            }
        }
    }

    fn add(
        &mut self,
        client: Option<NodeId>,
        server: Option<NodeId>,
        client_seconds: Option<f64>,
        server_seconds: Option<f64>,
        failed: bool,
        start_unix_ns: u64,
    ) {
        let edge = match (client, server) {
            (Some(c), Some(s)) => {
                self.key_buf.clear();
                self.key_buf.extend_from_slice(&c.to_le_bytes());
                self.key_buf.extend_from_slice(&s.to_le_bytes());
                let names = &self.names;
                let resource = &self.agent;
                self.edges.value(
                    &self.key_buf,
                    start_unix_ns,
                    || Labels {
                        resource: resource.clone(),
                        attributes: vec![
                            ("client", (*names[c as usize]).into()),
                            ("server", (*names[s as usize]).into()),
                        ],
                    },
                    &self.agent,
                )
            }
            _ => self.edges.overflow(start_unix_ns, &self.agent),
        };
        edge.requests += 1;
        edge.failed += u64::from(failed);
        if let Some(s) = client_seconds {
            edge.client.record(s);
        }
        if let Some(s) = server_seconds {
            edge.server.record(s);
        }
    }

    /// The id of a node name; allocates only for a new name. None once the table is full.
    fn node(&mut self, name: &str) -> Option<NodeId> {
        if let Some(&id) = self.name_index.get(name) {
            return Some(id);
        }
        if self.names.len() >= self.max_names {
            return None;
        }
        let id = NodeId::try_from(self.names.len()).ok()?;
        self.names.push(name.into());
        self.name_index.insert(name.into(), id);
        Some(id)
    }

    /// `address:port` (`[v6]:port`) of a server that is not watched, built in a reused buffer.
    /// The last answer is remembered: a client calls the same server span after span, and
    /// a node id never changes once given (names are never removed).
    fn endpoint_node(&mut self, address: Option<&str>, port: Option<i64>) -> Option<NodeId> {
        let address = address.filter(|a| !a.is_empty()).unwrap_or("unknown");
        if let Some((last_address, last_port, id)) = &self.last_endpoint
            && *last_port == port
            && last_address == address
        {
            return *id;
        }
        let id = self.format_endpoint_node(address, port);
        let (last_address, last_port, last_id) =
            self.last_endpoint.get_or_insert_with(Default::default);
        last_address.clear();
        last_address.push_str(address);
        *last_port = port;
        *last_id = id;
        id
    }

    fn format_endpoint_node(&mut self, address: &str, port: Option<i64>) -> Option<NodeId> {
        let mut name = std::mem::take(&mut self.name_buf);
        name.clear();
        let _ = if address.contains(':') {
            write!(name, "[{address}]")
        } else {
            write!(name, "{address}")
        };
        if let Some(port) = port {
            let _ = write!(name, ":{port}");
        }
        let id = self.node(&name);
        self.name_buf = name;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::series::{OVERFLOW_KEY, no_stats, overflow_count};
    use crate::trace::span::AttrValue;

    fn graph(max_series: usize) -> ServiceGraph {
        ServiceGraph::new(
            max_series,
            Arc::new(ServiceResource::agent("h", &[])),
            no_stats(),
        )
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn client<'a>(service: &'a str, local: &str, peer: &str, seconds: f64) -> GraphSpan<'a> {
        GraphSpan {
            side: Side::Client,
            service,
            server_address: Some("127.0.0.1"),
            server_port: Some(i64::from(addr(peer).port())),
            conn: Some((addr(local), addr(peer))),
            pairable: true,
            seconds,
            failed: false,
            start_unix_ns: 100,
        }
    }

    fn server<'a>(service: &'a str, local: &str, peer: &str, seconds: f64) -> GraphSpan<'a> {
        GraphSpan {
            side: Side::Server,
            server_address: None,
            server_port: None,
            ..client(service, local, peer, seconds)
        }
    }

    /// (client, server, requests, failed, client count, server count) per edge.
    fn edges(g: &ServiceGraph) -> Vec<(String, String, u64, u64, u64, u64)> {
        let name = |labels: &Labels, key: &str| {
            labels
                .attributes
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| match v {
                    AttrValue::Str(s) => s.to_string(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        };
        g.edges()
            .iter()
            .map(|e| {
                (
                    name(&e.labels, "client"),
                    name(&e.labels, "server"),
                    e.value.requests,
                    e.value.failed,
                    e.value.client.count,
                    e.value.server.count,
                )
            })
            .collect()
    }

    #[test]
    fn halves_pair_in_either_order() {
        let mut g = graph(100);
        let t = Instant::now();
        // Request 1: client half first. Request 2 on the same connection: server half first.
        g.record(client("curl", "127.0.0.1:5000", "127.0.0.1:80", 0.002), t);
        g.record(server("nginx", "127.0.0.1:80", "127.0.0.1:5000", 0.001), t);
        g.record(server("nginx", "127.0.0.1:80", "127.0.0.1:5000", 0.001), t);
        let mut c = client("curl", "127.0.0.1:5000", "127.0.0.1:80", 0.002);
        c.failed = true;
        g.record(c, t);
        assert_eq!(edges(&g), [("curl".into(), "nginx".into(), 2, 1, 2, 2)]);
        // Nothing left waiting: expiry adds nothing.
        g.expire_all();
        assert_eq!(edges(&g), [("curl".into(), "nginx".into(), 2, 1, 2, 2)]);
    }

    #[test]
    fn halves_of_other_connections_do_not_pair() {
        let mut g = graph(100);
        let t = Instant::now();
        g.record(client("curl", "127.0.0.1:5000", "127.0.0.1:80", 0.002), t);
        // Same server, another client port: a different request.
        g.record(server("nginx", "127.0.0.1:80", "127.0.0.1:5001", 0.001), t);
        assert!(edges(&g).is_empty());
        g.expire(t + PAIR_WINDOW);
        assert_eq!(
            edges(&g),
            [
                ("curl".into(), "127.0.0.1:80".into(), 1, 0, 1, 0),
                ("user".into(), "nginx".into(), 1, 0, 0, 1),
            ]
        );
    }

    #[test]
    fn lone_halves_wait_for_the_window_only() {
        let mut g = graph(100);
        let t = Instant::now();
        g.record(client("app", "127.0.0.1:5000", "127.0.0.1:8080", 0.01), t);
        g.expire(t + PAIR_WINDOW - Duration::from_millis(1));
        assert!(edges(&g).is_empty());
        // A later record expires it too.
        g.record(
            client("app", "127.0.0.1:5001", "127.0.0.1:8080", 0.01),
            t + PAIR_WINDOW,
        );
        assert_eq!(
            edges(&g),
            [("app".into(), "127.0.0.1:8080".into(), 1, 0, 1, 0)]
        );
        g.expire_all();
        assert_eq!(
            edges(&g),
            [("app".into(), "127.0.0.1:8080".into(), 2, 0, 2, 0)]
        );
        assert!(g.waiting.is_empty() && g.arrivals.is_empty());
    }

    #[test]
    fn database_clients_and_unknown_connections_count_at_once() {
        let mut g = graph(100);
        let t = Instant::now();
        let mut redis = client("app", "127.0.0.1:5000", "127.0.0.1:6379", 0.001);
        redis.pairable = false;
        g.record(redis, t);
        let mut v6 = client("app", "[::1]:5000", "[::1]:5432", 0.001);
        v6.server_address = Some("::1");
        v6.conn = None;
        g.record(v6, t);
        let mut lone = server("nginx", "127.0.0.1:80", "127.0.0.1:9", 0.001);
        lone.conn = None;
        g.record(lone, t);
        assert_eq!(
            edges(&g),
            [
                ("app".into(), "127.0.0.1:6379".into(), 1, 0, 1, 0),
                ("app".into(), "[::1]:5432".into(), 1, 0, 1, 0),
                ("user".into(), "nginx".into(), 1, 0, 0, 1),
            ]
        );
    }

    #[test]
    fn waiting_halves_are_bounded() {
        let mut g = graph(100_000);
        let t = Instant::now();
        for port in 0..(MAX_PENDING + 10) {
            let local = format!("127.0.0.1:{}", 1000 + port % 60_000);
            let peer = format!("127.0.0.{}:80", 1 + port / 60_000);
            g.record(client("app", &local, &peer, 0.001), t);
        }
        assert_eq!(g.arrivals.len(), MAX_PENDING);
        assert!(g.waiting.len() <= MAX_PENDING);
        // The ten oldest were reported early, unpaired.
        let total: u64 = g.edges().iter().map(|e| e.value.requests).sum();
        assert_eq!(total, 10);
    }

    #[test]
    fn edges_past_the_cap_overflow() {
        let stats = no_stats();
        let mut g = ServiceGraph::new(3, Arc::new(ServiceResource::agent("h", &[])), stats.clone());
        let t = Instant::now();
        for n in 0..5u16 {
            let mut c = client("app", "127.0.0.1:5000", "127.0.0.1:80", 0.001);
            c.pairable = false;
            c.server_port = Some(i64::from(8000 + n));
            g.record(c, t);
        }
        let all: Vec<_> = g.edges().iter().collect();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all[2].labels.attributes,
            vec![(OVERFLOW_KEY, AttrValue::Bool(true))]
        );
        assert_eq!(all[2].value.requests, 3);
        assert_eq!(overflow_count(&stats), 3);
    }
}
