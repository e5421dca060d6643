//! Requests waiting for their responses, in the order they were sent. HTTP/1.x answers
//! requests strictly in order (RFC 9112 section 9.3.2), so the response being read always
//! belongs to the oldest request still here.

use std::collections::VecDeque;

use super::HttpExchange;
use crate::protocol::Incomplete;

#[derive(Debug)]
pub(super) struct Pending {
    /// Increases by one per request, so a stale reference to an entry that left is detected.
    pub seq: u64,
    pub exchange: HttpExchange,
    /// Request start, then the time of the latest response bytes: what the timeout counts from.
    pub last_activity_ns: u64,
    /// The stream lost sync around this exchange; it ends as `Incomplete::Desync`.
    pub desync: bool,
}

#[derive(Debug)]
pub(super) struct PendingQueue {
    entries: VecDeque<Pending>,
    next_seq: u64,
    max: usize,
}

impl PendingQueue {
    pub(super) fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            next_seq: 0,
            // At least one, or no request could ever wait for its response.
            max: max.max(1),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a request; when the queue is full the oldest ends as `Desync`, so a stream that
    /// never answers cannot grow it. Returns the new entry's seq.
    pub(super) fn push(
        &mut self,
        exchange: HttpExchange,
        desync: bool,
        now_ns: u64,
        out: &mut Vec<HttpExchange>,
    ) -> (u64, bool) {
        let mut overflowed = false;
        while self.entries.len() >= self.max {
            if let Some(oldest) = self.entries.pop_front() {
                out.push(finish(oldest, now_ns, Some(Incomplete::Desync)));
                overflowed = true;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.push_back(Pending {
            seq,
            last_activity_ns: exchange.request_start_ns,
            exchange,
            desync,
        });
        (seq, overflowed)
    }

    pub(super) fn front(&self) -> Option<&Pending> {
        self.entries.front()
    }

    pub(super) fn front_mut(&mut self) -> Option<&mut Pending> {
        self.entries.front_mut()
    }

    pub(super) fn get_mut(&mut self, seq: u64) -> Option<&mut Pending> {
        let first = self.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get_mut(index).filter(|p| p.seq == seq)
    }

    /// The response of entry `seq` ended at `end_ns`: it leaves, complete (or `Desync` if
    /// marked). Nothing happens if it already left (expired, dropped).
    pub(super) fn complete(&mut self, seq: u64, end_ns: u64, out: &mut Vec<HttpExchange>) {
        if self.entries.front().is_some_and(|p| p.seq == seq)
            && let Some(p) = self.entries.pop_front()
        {
            out.push(finish(p, end_ns, None));
        }
    }

    /// Ends, as `Timeout`, the oldest entries that saw no activity for longer than
    /// `timeout_ns`. Entries behind a live one wait, as their responses would.
    pub(super) fn expire(&mut self, now_ns: u64, timeout_ns: u64, out: &mut Vec<HttpExchange>) {
        while let Some(front) = self.entries.front() {
            if now_ns.saturating_sub(front.last_activity_ns) <= timeout_ns {
                break;
            }
            if let Some(p) = self.entries.pop_front() {
                out.push(finish(p, now_ns, Some(Incomplete::Timeout)));
            }
        }
    }

    /// Ends every entry with `cause`.
    pub(super) fn flush(&mut self, end_ns: u64, cause: Incomplete, out: &mut Vec<HttpExchange>) {
        out.extend(
            self.entries
                .drain(..)
                .map(|p| finish(p, end_ns, Some(cause))),
        );
    }

    /// Drops every entry without a trace (after the connection switched protocols).
    pub(super) fn discard(&mut self) -> usize {
        let n = self.entries.len();
        self.entries = VecDeque::new();
        n
    }

    /// Memory held: the slots and the strings of the waiting exchanges.
    pub(super) fn held_bytes(&self) -> usize {
        let strings: usize = self.entries.iter().map(|p| string_bytes(&p.exchange)).sum();
        self.entries.capacity() * size_of::<Pending>() + strings
    }
}

fn string_bytes(x: &HttpExchange) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    x.method.capacity()
        + x.target.capacity()
        + opt(&x.host)
        + opt(&x.user_agent)
        + opt(&x.traceparent)
}

/// The exchange as it leaves: a mark of lost sync outranks the other causes, because it says
/// fields may be wrong rather than missing.
fn finish(p: Pending, end_ns: u64, cause: Option<Incomplete>) -> HttpExchange {
    let mut exchange = p.exchange;
    exchange.response_end_ns = end_ns;
    exchange.incomplete = if p.desync {
        Some(Incomplete::Desync)
    } else {
        cause
    };
    exchange
}
