//! The HTTP/1.x parser of one connection: both byte streams in, exchanges out.
//!
//! Requests flow one way and responses the other; which way is fixed by the first request
//! seen. Each direction is a small state machine (head, body, lost). Requests wait in a FIFO
//! and each response, in order, completes the oldest one.

use std::mem;

use super::HttpExchange;
use super::body::Body;
use super::detect::{HeadKind, classify};
use super::error::HttpError;
use super::head::{Head, RequestHead, ResponseHead, partial_request_line, partial_status};
use super::head_buffer::HeadStep;
use super::pending::PendingQueue;
use super::stream::{State, Stream, is_resync_point};
use crate::protocol::{Chunk, Direction, InFlight, Incomplete, ParserLimits, Role};

/// Counters of what the parser dropped or could not make sense of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Times a direction lost sync: a gap where a head was expected, bytes that are not
    /// HTTP, bad framing, or a head over the limit.
    pub desyncs: u64,
    /// Heads longer than `max_header_bytes` (also counted in `desyncs`).
    pub oversized_heads: u64,
    /// Responses no request was waiting for; they were framed and skipped.
    pub orphan_responses: u64,
    /// Requests ended as `Desync` because `max_pending` others were already waiting.
    pub pending_overflows: u64,
    /// Requests dropped, unreported, because the connection switched protocols before
    /// their turn came.
    pub dropped_after_switch: u64,
    /// The most recent reason for a loss of sync.
    pub last_error: Option<HttpError>,
}

/// What can still be learnt from a head that will never complete.
enum Salvage {
    Request {
        method: compact_str::CompactString,
        target: String,
        version_minor: u8,
    },
    Status(u16),
}

pub struct HttpParser {
    limits: ParserLimits,
    role: Option<Role>,
    /// Indexed by `dir_index`.
    streams: [Stream; 2],
    pending: PendingQueue,
    /// 101 Switching Protocols or a CONNECT tunnel: the rest is not HTTP.
    switched: bool,
    stats: HttpStats,
    /// Exchanges on their way out through [`HttpParser::with_scratch`]; kept so that the
    /// connection table's calls do not allocate a Vec per completed exchange.
    scratch: Vec<HttpExchange>,
}

fn dir_index(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// The process that reads a request serves it; the one that writes it is the client.
fn role_for_requests_on(direction: Direction) -> Role {
    match direction {
        Direction::Ingress => Role::Server,
        Direction::Egress => Role::Client,
    }
}

impl HttpParser {
    pub fn new(limits: ParserLimits) -> Self {
        Self {
            limits,
            role: None,
            streams: Default::default(),
            pending: PendingQueue::new(limits.max_pending),
            switched: false,
            stats: HttpStats::default(),
            scratch: Vec::new(),
        }
    }

    /// Runs `step` with an empty reusable Vec, then moves what it produced to `out`.
    pub(crate) fn with_scratch<T>(
        &mut self,
        out: &mut Vec<T>,
        wrap: fn(HttpExchange) -> T,
        step: impl FnOnce(&mut Self, &mut Vec<HttpExchange>),
    ) {
        let mut done = mem::take(&mut self.scratch);
        step(self, &mut done);
        out.extend(done.drain(..).map(wrap));
        self.scratch = done;
    }

    /// The role, once the first request fixed it.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn stats(&self) -> HttpStats {
        self.stats
    }

    /// Requests waiting for their responses.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// On a server connection, the oldest request received and not answered yet: the one
    /// being served, to which the process's outgoing calls belong.
    pub fn server_in_flight(&self) -> Option<InFlight<'_>> {
        if self.role != Some(Role::Server) {
            return None;
        }
        let x = &self.pending.front()?.exchange;
        Some(InFlight {
            tid: x.tid,
            start_ns: x.request_start_ns,
            traceparent: x.traceparent.as_deref(),
        })
    }

    /// The connection switched to another protocol (101, CONNECT): no more exchanges.
    pub fn is_switched(&self) -> bool {
        self.switched
    }

    /// Bytes of state held: kept head bytes (at most `max_header_bytes` per direction) and the
    /// exchanges waiting for responses (at most `max_pending`).
    pub fn buffered_bytes(&self) -> usize {
        self.streams_held_bytes() + self.pending.held_bytes()
    }

    /// Head bytes kept by both directions (each at most `max_header_bytes`).
    pub fn streams_held_bytes(&self) -> usize {
        self.streams.iter().map(|s| s.head.held_bytes()).sum()
    }

    /// Feeds one chunk; appends every exchange that completes to `out`.
    pub fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<HttpExchange>) {
        if self.switched {
            return;
        }
        let d = dir_index(chunk.direction);
        if matches!(self.streams[d].state, State::Lost) {
            if !is_resync_point(chunk.data, self.kind_of(chunk.direction)) {
                return;
            }
            self.streams[d].state = State::Head;
            self.streams[d].tentative = true;
        }
        let mut rest = chunk.data;
        while !rest.is_empty() && !self.switched {
            rest = match mem::take(&mut self.streams[d].state) {
                State::Head => self.feed_head(chunk, rest, out),
                State::Body { body, kind, owner } => {
                    self.feed_body(chunk, rest, body, kind, owner, out)
                }
                State::Lost => {
                    self.streams[d].state = State::Lost;
                    break;
                }
            };
        }
        let gap = u64::from(chunk.len).saturating_sub(chunk.data.len() as u64);
        if gap > 0 && !self.switched {
            self.skip_gap(chunk, gap, out);
        }
    }

    /// Ends requests that waited longer than `limits.request_timeout` for (more of) a response
    /// as `Incomplete::Timeout`, and frees their state.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<HttpExchange>) {
        let timeout_ns = u64::try_from(self.limits.request_timeout.as_nanos()).unwrap_or(u64::MAX);
        self.pending.expire(now_ns, timeout_ns, out);
    }

    /// The connection closed: a response delimited by the close ends normally (at the time of
    /// its last bytes); every other waiting request ends as `Incomplete::ConnectionClosed`.
    /// The parser is then as new, counters aside.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<HttpExchange>) {
        for stream in &self.streams {
            if let State::Body {
                body: Body::UntilClose,
                kind: HeadKind::Response,
                owner: Some(seq),
            } = stream.state
                && let Some(p) = self.pending.get_mut(seq)
            {
                let end_ns = p.last_activity_ns;
                self.pending.complete(seq, end_ns, out);
            }
        }
        self.pending.flush(ts_ns, Incomplete::ConnectionClosed, out);
        self.pending.discard();
        self.streams.iter_mut().for_each(Stream::reset);
        self.role = None;
        self.switched = false;
    }

    /// What heads a direction carries, once the role is known.
    fn kind_of(&self, direction: Direction) -> Option<HeadKind> {
        let role = self.role?;
        Some(if role_for_requests_on(direction) == role {
            HeadKind::Request
        } else {
            HeadKind::Response
        })
    }

    /// A head is expected: parse it from `rest` (plus bytes kept from earlier chunks).
    /// Returns the bytes after it.
    fn feed_head<'a>(
        &mut self,
        chunk: &Chunk<'_>,
        rest: &'a [u8],
        out: &mut Vec<HttpExchange>,
    ) -> &'a [u8] {
        let d = dir_index(chunk.direction);
        let kind = self.kind_of(chunk.direction);
        let stream = &mut self.streams[d];
        let mut rest = rest;
        if stream.head.bytes() == b"\r"
            && let [b'\n', after @ ..] = rest
        {
            // The CR kept at the end of the last chunk was half of an empty line.
            stream.head.clear();
            rest = after;
        }
        if stream.head.is_empty() {
            rest = skip_whole_empty_lines(rest);
        }
        if rest.is_empty() {
            return rest;
        }
        match stream.head.offer(
            rest,
            chunk.ts_ns,
            chunk.tid,
            kind,
            self.limits.max_header_bytes,
        ) {
            HeadStep::NeedMore => &[],
            HeadStep::Complete {
                head,
                used,
                start_ts_ns,
                start_tid,
            } => {
                stream.tentative = false;
                match head {
                    Head::Request(req) => self.on_request(chunk, req, start_ts_ns, start_tid, out),
                    Head::Response(resp) => self.on_response(chunk, resp, out),
                }
                rest.get(used..).unwrap_or_default()
            }
            HeadStep::Failed { error, carried } => {
                let partial = if carried { None } else { Some(rest) };
                self.abandon_head(chunk, error, partial, out);
                // The bytes kept from earlier chunks were not a head, but this chunk may
                // still start one on its own.
                if carried && is_resync_point(rest, self.kind_of(chunk.direction)) {
                    self.streams[d].state = State::Head;
                    self.streams[d].tentative = true;
                    rest
                } else {
                    &[]
                }
            }
        }
    }

    fn on_request(
        &mut self,
        chunk: &Chunk<'_>,
        req: RequestHead,
        start_ts_ns: u64,
        start_tid: u32,
        out: &mut Vec<HttpExchange>,
    ) {
        let role = *self
            .role
            .get_or_insert(role_for_requests_on(chunk.direction));
        let body = req.framing.request_body();
        let exchange = HttpExchange {
            role,
            method: req.method,
            target: req.target,
            version_minor: req.version_minor,
            host: req.host,
            user_agent: req.user_agent,
            traceparent: req.traceparent,
            status: None,
            request_start_ns: start_ts_ns,
            response_end_ns: start_ts_ns,
            tid: start_tid,
            request_body_bytes: 0,
            response_body_bytes: 0,
            incomplete: None,
        };
        let seq = self.push_pending(exchange, body.is_err(), chunk.ts_ns, out);
        let state = match body {
            Ok(None) => State::Head,
            Ok(Some(body)) => State::Body {
                body,
                kind: HeadKind::Request,
                owner: Some(seq),
            },
            Err(error) => {
                self.note_desync(error);
                State::Lost
            }
        };
        self.streams[dir_index(chunk.direction)].state = state;
    }

    fn push_pending(
        &mut self,
        exchange: HttpExchange,
        desync: bool,
        now_ns: u64,
        out: &mut Vec<HttpExchange>,
    ) -> u64 {
        let (seq, overflowed) = self.pending.push(exchange, desync, now_ns, out);
        if overflowed {
            self.stats.pending_overflows += 1;
        }
        seq
    }

    fn on_response(&mut self, chunk: &Chunk<'_>, resp: ResponseHead, out: &mut Vec<HttpExchange>) {
        let status = resp.status;
        let interim = (100..200).contains(&status) && status != 101;
        let Some(front) = self.pending.front_mut() else {
            if !interim {
                self.stats.orphan_responses += 1;
            }
            return self.after_response_head(chunk, resp, None, false, false, out);
        };
        front.last_activity_ns = chunk.ts_ns;
        if interim {
            // 100 Continue and other 1xx come before the final response (RFC 9110 15.2).
            return;
        }
        front.exchange.status = Some(status);
        let owner = Some(front.seq);
        let is_head = front.exchange.method == "HEAD";
        let is_connect = front.exchange.method == "CONNECT";
        self.after_response_head(chunk, resp, owner, is_head, is_connect, out);
    }

    fn after_response_head(
        &mut self,
        chunk: &Chunk<'_>,
        resp: ResponseHead,
        owner: Option<u64>,
        request_was_head: bool,
        request_was_connect: bool,
        out: &mut Vec<HttpExchange>,
    ) {
        let status = resp.status;
        if status == 101 || (request_was_connect && (200..300).contains(&status)) {
            if let Some(seq) = owner {
                self.pending.complete(seq, chunk.ts_ns, out);
            }
            return self.switch_protocols();
        }
        let d = dir_index(chunk.direction);
        match resp.framing.response_body(request_was_head, status) {
            Ok(None) => {
                if let Some(seq) = owner {
                    self.pending.complete(seq, chunk.ts_ns, out);
                }
            }
            Ok(Some(body)) => {
                self.streams[d].state = State::Body {
                    body,
                    kind: HeadKind::Response,
                    owner,
                };
            }
            Err(error) => {
                self.note_desync(error);
                self.pending.flush(chunk.ts_ns, Incomplete::Desync, out);
                self.streams[d].state = State::Lost;
            }
        }
    }

    /// After 101 or a CONNECT tunnel the bytes are another protocol: stop, and hold nothing.
    fn switch_protocols(&mut self) {
        self.switched = true;
        self.stats.dropped_after_switch += self.pending.discard() as u64;
        self.streams.iter_mut().for_each(Stream::reset);
    }

    /// Inside a body: count `rest` towards it. Returns the bytes after the body.
    fn feed_body<'a>(
        &mut self,
        chunk: &Chunk<'_>,
        rest: &'a [u8],
        mut body: Body,
        kind: HeadKind,
        owner: Option<u64>,
        out: &mut Vec<HttpExchange>,
    ) -> &'a [u8] {
        let d = dir_index(chunk.direction);
        match body.advance(rest) {
            Ok(progress) => {
                self.count_body(kind, owner, progress.payload, chunk.ts_ns);
                if progress.done {
                    self.body_done(kind, owner, chunk.ts_ns, out);
                    self.streams[d].state = State::Head;
                } else {
                    self.streams[d].state = State::Body { body, kind, owner };
                }
                let consumed = usize::try_from(progress.consumed).unwrap_or(usize::MAX);
                rest.get(consumed..).unwrap_or_default()
            }
            Err(error) => {
                self.body_lost(kind, owner, error, chunk.ts_ns, out);
                self.streams[d].state = State::Lost;
                &[]
            }
        }
    }

    fn count_body(&mut self, kind: HeadKind, owner: Option<u64>, payload: u64, ts_ns: u64) {
        let Some(p) = owner.and_then(|seq| self.pending.get_mut(seq)) else {
            return;
        };
        match kind {
            HeadKind::Request => {
                p.exchange.request_body_bytes =
                    p.exchange.request_body_bytes.saturating_add(payload)
            }
            HeadKind::Response => {
                p.exchange.response_body_bytes =
                    p.exchange.response_body_bytes.saturating_add(payload);
                p.last_activity_ns = ts_ns;
            }
        }
    }

    fn body_done(
        &mut self,
        kind: HeadKind,
        owner: Option<u64>,
        ts_ns: u64,
        out: &mut Vec<HttpExchange>,
    ) {
        if let (HeadKind::Response, Some(seq)) = (kind, owner) {
            self.pending.complete(seq, ts_ns, out);
        }
    }

    /// The framing of a body broke: a request's exchange is marked; a broken response leaves
    /// no way to tell which response answers which request, so every waiting one ends.
    fn body_lost(
        &mut self,
        kind: HeadKind,
        owner: Option<u64>,
        error: HttpError,
        ts_ns: u64,
        out: &mut Vec<HttpExchange>,
    ) {
        self.note_desync(error);
        match kind {
            HeadKind::Request => {
                if let Some(p) = owner.and_then(|seq| self.pending.get_mut(seq)) {
                    p.desync = true;
                }
            }
            HeadKind::Response => self.pending.flush(ts_ns, Incomplete::Desync, out),
        }
    }

    /// `gap` bytes of the chunk were not captured: skip them inside a body, lose sync anywhere
    /// else.
    fn skip_gap(&mut self, chunk: &Chunk<'_>, gap: u64, out: &mut Vec<HttpExchange>) {
        let d = dir_index(chunk.direction);
        match mem::take(&mut self.streams[d].state) {
            State::Lost => self.streams[d].state = State::Lost,
            State::Head => {
                let stream = &mut self.streams[d];
                if stream.tentative && stream.head.is_empty() {
                    // Still looking for a resync point: nothing was lost that counts.
                    stream.state = State::Lost;
                } else {
                    self.abandon_head(chunk, HttpError::GapInHead, None, out);
                }
            }
            State::Body {
                mut body,
                kind,
                owner,
            } => match body.skip(gap) {
                Ok(progress) => {
                    self.count_body(kind, owner, progress.payload, chunk.ts_ns);
                    if !progress.done {
                        self.streams[d].state = State::Body { body, kind, owner };
                        return;
                    }
                    self.body_done(kind, owner, chunk.ts_ns, out);
                    if progress.consumed < gap {
                        // The rest of the gap is where the next head was.
                        self.abandon_head(chunk, HttpError::GapInHead, None, out);
                    }
                }
                Err(error) => {
                    self.body_lost(kind, owner, error, chunk.ts_ns, out);
                    self.streams[d].state = State::Lost;
                }
            },
        }
    }

    /// A head failed: salvage what it said, mark or end the exchanges it concerns, and drop
    /// the direction into `Lost`. `partial` is the failed bytes when they were not kept in the
    /// head buffer. Bytes that are simply not HTTP at a resync attempt are more of the loss
    /// already counted, and change nothing.
    fn abandon_head(
        &mut self,
        chunk: &Chunk<'_>,
        error: HttpError,
        partial: Option<&[u8]>,
        out: &mut Vec<HttpExchange>,
    ) {
        let d = dir_index(chunk.direction);
        let kind = self.kind_of(chunk.direction);
        let stream = &self.streams[d];
        let silent = stream.tentative && error == HttpError::NotHttp;
        let (start_ts_ns, start_tid) = if partial.is_some() {
            (chunk.ts_ns, chunk.tid)
        } else {
            stream.head.start()
        };
        // Only a head cut short (not a malformed one) is trusted for its first line. Before
        // the role is known, the bytes say which kind of head it was.
        let salvage = match error {
            HttpError::HeadTooLarge { .. } | HttpError::GapInHead => {
                let bytes = partial.unwrap_or(stream.head.bytes());
                salvage(bytes, kind.unwrap_or_else(|| classify(bytes)))
            }
            _ => None,
        };
        self.streams[d].head.clear();
        self.streams[d].state = State::Lost;
        if silent {
            return;
        }
        self.note_desync(error);
        if matches!(error, HttpError::HeadTooLarge { .. }) {
            self.stats.oversized_heads += 1;
        }
        match (kind, salvage) {
            (
                Some(HeadKind::Request) | None,
                Some(Salvage::Request {
                    method,
                    target,
                    version_minor,
                }),
            ) => {
                let role = *self
                    .role
                    .get_or_insert(role_for_requests_on(chunk.direction));
                let exchange = HttpExchange {
                    role,
                    method,
                    target,
                    version_minor,
                    host: None,
                    user_agent: None,
                    traceparent: None,
                    status: None,
                    request_start_ns: start_ts_ns,
                    response_end_ns: start_ts_ns,
                    tid: start_tid,
                    request_body_bytes: 0,
                    response_body_bytes: 0,
                    incomplete: None,
                };
                // Its response may still come and be matched in order.
                self.push_pending(exchange, true, chunk.ts_ns, out);
            }
            (Some(HeadKind::Response), salvage) => {
                if let (Some(Salvage::Status(status)), Some(front)) =
                    (salvage, self.pending.front_mut())
                {
                    front.exchange.status = Some(status);
                }
                self.pending.flush(chunk.ts_ns, Incomplete::Desync, out);
            }
            _ => {}
        }
    }

    fn note_desync(&mut self, error: HttpError) {
        self.stats.desyncs += 1;
        self.stats.last_error = Some(error);
    }
}

fn salvage(bytes: &[u8], kind: HeadKind) -> Option<Salvage> {
    match kind {
        HeadKind::Request => {
            partial_request_line(bytes).map(|(method, target, version_minor)| Salvage::Request {
                method,
                target,
                version_minor,
            })
        }
        HeadKind::Response => partial_status(bytes)
            .filter(|s| !(100..200).contains(s))
            .map(Salvage::Status),
    }
}

/// Drops complete empty lines before a head (RFC 9112 section 2.2 allows them), so that a
/// head's start time is that of its first real byte and stray CRLFs are never kept.
fn skip_whole_empty_lines(mut bytes: &[u8]) -> &[u8] {
    loop {
        match bytes {
            [b'\n', rest @ ..] | [b'\r', b'\n', rest @ ..] => bytes = rest,
            _ => return bytes,
        }
    }
}
