//! Connection table keyed by the kernel's connection id.

use std::sync::Arc;

// foldhash: these maps are looked up per span or per event; SipHash was a visible cost.
use foldhash::{HashMap, HashMapExt};

use sonde_common::ConnEvent;

use super::ConnInfo;
use crate::{
    protocol::{Chunk, Exchange, InFlight, ParserLimits, StreamParser},
    stats::SelfStats,
};

/// Chunks looked at for a known protocol before a connection is given up as unsupported.
/// More than one, because a connection open before sonde may first show the middle of a body.
const DETECT_ATTEMPTS: u8 = 32;

enum State {
    Detecting {
        attempts: u8,
    },
    Parsing(StreamParser),
    /// No span can come of it (unknown protocol, or a database's server side): its capture
    /// is muted in the kernel, and the entry stays only to swallow events already in flight
    /// until the close arrives.
    Muted,
}

struct Connection {
    pid: u32,
    info: Option<Arc<ConnInfo>>,
    state: State,
    last_seen_ns: u64,
}

/// An exchange with the connection it happened on.
#[derive(Clone, Debug)]
pub struct Finished {
    pub conn_id: u64,
    pub pid: u32,
    /// None when the connection's CONN_OPEN was lost (ring buffer full or table eviction).
    pub info: Option<Arc<ConnInfo>>,
    pub exchange: Exchange,
}

impl Finished {
    pub fn exchange_incomplete(&self) -> bool {
        self.exchange.is_incomplete()
    }
}

pub struct ConnTable {
    conns: HashMap<u64, Connection>,
    max: usize,
    limits: ParserLimits,
    stats: Arc<SelfStats>,
    scratch: Vec<Exchange>,
    /// Connections newly muted, for the kernel (drained by [`ConnTable::drain_muted`]). Bounded
    /// by the table: a connection is muted once, and the capture thread drains the list after
    /// every ring-buffer batch.
    muted: Vec<u64>,
}

impl ConnTable {
    pub fn new(max: usize, limits: ParserLimits, stats: Arc<SelfStats>) -> Self {
        Self {
            conns: HashMap::with_capacity(max.min(4096)),
            max,
            limits,
            stats,
            scratch: Vec::new(),
            muted: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn make_room(&mut self) {
        if self.conns.len() < self.max {
            return;
        }
        // Rare (only at the bound), so a linear scan beats keeping an LRU list on every event.
        if let Some(oldest) = self
            .conns
            .iter()
            .min_by_key(|(_, c)| c.last_seen_ns)
            .map(|(id, _)| *id)
        {
            self.conns.remove(&oldest);
            SelfStats::add(&self.stats.connections_evicted, 1);
        }
    }

    /// A connection seen for the first time; returns its decoded addresses and origin.
    pub fn open(&mut self, ev: &ConnEvent) -> Arc<ConnInfo> {
        let info = Arc::new(ConnInfo::from_event(ev));
        if let Some(conn) = self.conns.get_mut(&ev.header.conn_id) {
            conn.info = Some(info.clone());
            return info;
        }
        self.make_room();
        self.conns.insert(
            ev.header.conn_id,
            Connection {
                pid: ev.header.pid,
                info: Some(info.clone()),
                state: State::Detecting { attempts: 0 },
                last_seen_ns: ev.header.ts_ns,
            },
        );
        info
    }

    pub fn data(&mut self, conn_id: u64, pid: u32, chunk: &Chunk<'_>, out: &mut Vec<Finished>) {
        // One lookup per event unless the table is full (then a new connection evicts one).
        if self.conns.len() >= self.max && !self.conns.contains_key(&conn_id) {
            self.make_room();
        }
        let conn = self.conns.entry(conn_id).or_insert_with(|| Connection {
            pid,
            info: None,
            state: State::Detecting { attempts: 0 },
            last_seen_ns: chunk.ts_ns,
        });
        conn.last_seen_ns = chunk.ts_ns;
        if let State::Detecting { attempts } = &mut conn.state {
            match crate::protocol::detect::detect(chunk, conn.info.as_deref(), self.limits) {
                Some(parser) if parser.makes_spans() => conn.state = State::Parsing(parser),
                Some(_) => {
                    mute(conn, conn_id, &mut self.muted, &self.stats);
                    return;
                }
                None => {
                    *attempts += 1;
                    if *attempts >= DETECT_ATTEMPTS {
                        mute(conn, conn_id, &mut self.muted, &self.stats);
                    }
                    return;
                }
            }
        }
        if let State::Parsing(parser) = &mut conn.state {
            parser.feed(chunk, &mut self.scratch);
            drain(conn_id, conn, &mut self.scratch, out);
        }
    }

    pub fn close(&mut self, conn_id: u64, ts_ns: u64, out: &mut Vec<Finished>) {
        if let Some(mut conn) = self.conns.remove(&conn_id)
            && let State::Parsing(parser) = &mut conn.state
        {
            parser.close(ts_ns, &mut self.scratch);
            drain(conn_id, &conn, &mut self.scratch, out);
        }
    }

    /// The process exited: its connections are closed.
    pub fn process_exit(&mut self, pid: u32, ts_ns: u64, out: &mut Vec<Finished>) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| c.pid == pid)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close(id, ts_ns, out);
        }
    }

    /// Connections muted since the last call: the kernel should stop capturing them.
    pub fn drain_muted(&mut self) -> std::vec::Drain<'_, u64> {
        self.muted.drain(..)
    }

    /// The request a server connection is serving now (for parent links).
    pub fn server_in_flight(&self, conn_id: u64) -> Option<InFlight<'_>> {
        match &self.conns.get(&conn_id)?.state {
            State::Parsing(parser) => parser.server_in_flight(),
            _ => None,
        }
    }

    /// Times out requests that wait too long for responses.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Finished>) {
        for (id, conn) in self.conns.iter_mut() {
            if let State::Parsing(parser) = &mut conn.state {
                parser.expire(now_ns, &mut self.scratch);
                drain(*id, conn, &mut self.scratch, out);
            }
        }
    }
}

fn mute(conn: &mut Connection, conn_id: u64, muted: &mut Vec<u64>, stats: &SelfStats) {
    conn.state = State::Muted;
    muted.push(conn_id);
    SelfStats::add(&stats.connections_muted, 1);
}

fn drain(conn_id: u64, conn: &Connection, scratch: &mut Vec<Exchange>, out: &mut Vec<Finished>) {
    out.extend(scratch.drain(..).map(|exchange| Finished {
        conn_id,
        pid: conn.pid,
        info: conn.info.clone(),
        exchange,
    }));
}
