//! The parser of one MySQL connection: both byte streams in, exchanges out.
//!
//! Each direction has its own framer; packets go to the session, which knows what they
//! mean. This file handles what lies between: which direction a chunk belongs to, and how
//! a direction whose framing was lost in a gap finds it again.

use super::command::looks_like_command;
use super::framer::Framer;
use super::reply::ending_at_end;
use super::session::{CommandSink, Phase, ResponseSink, Session};
use super::stats::MysqlStats;
use super::wire::{HEADER_LEN, Header};
use crate::protocol::{Chunk, DbExchange, Direction, Exchange, ParserLimits, Role};

/// How the parser starts, from what detection saw.
#[derive(Clone, Copy, Debug)]
pub(super) enum Start {
    /// The detected chunk starts with the server's greeting.
    Greeting,
    /// The detected chunk is the greeting's payload alone: the client read its header in
    /// an earlier read, which was not fed here.
    GreetingPayload { len: u32, ts_ns: u64, tid: u32 },
    /// A command on a connection opened before sonde: the handshake was missed.
    Commands,
}

pub struct MysqlParser {
    /// Client to server.
    commands: Framer,
    /// Server to client.
    responses: Framer,
    session: Session,
    /// While the commands' framing is lost: the start of the captured bytes since the
    /// last gap, checked once for the start of a command.
    command_run: RunStart,
    /// Exchanges on their way out through [`MysqlParser::with_scratch`]; kept so that the
    /// connection table's calls do not allocate a Vec per completed exchange.
    scratch: Vec<DbExchange>,
}

/// Bytes that decide whether a run of captured bytes starts with a command: the header,
/// the command byte and the byte after it.
const RUN_CHECK_BYTES: usize = HEADER_LEN + 2;

#[derive(Debug, Default)]
struct RunStart {
    bytes: [u8; RUN_CHECK_BYTES],
    len: usize,
    decided: bool,
}

impl MysqlParser {
    pub(super) fn new(limits: ParserLimits, role: Role, start: Start) -> Self {
        let keep = limits.max_header_bytes;
        let (responses, phase) = match start {
            Start::Greeting => (Framer::new(keep), Phase::Greeting),
            Start::GreetingPayload { len, ts_ns, tid } => (
                Framer::inside_payload(keep, Header { len, seq: 0 }, ts_ns, tid),
                Phase::Greeting,
            ),
            Start::Commands => (Framer::new(keep), Phase::Commands),
        };
        Self {
            commands: Framer::new(keep),
            responses,
            session: Session::new(limits, role, phase),
            command_run: RunStart::default(),
            scratch: Vec::new(),
        }
    }

    /// Runs `step` with an empty reusable Vec, then moves what it produced to `out`.
    pub(super) fn with_scratch(
        &mut self,
        out: &mut Vec<Exchange>,
        step: impl FnOnce(&mut Self, &mut Vec<DbExchange>),
    ) {
        let mut done = std::mem::take(&mut self.scratch);
        step(self, &mut done);
        out.extend(done.drain(..).map(Exchange::Db));
        self.scratch = done;
    }

    /// A parser for a connection whose handshake comes next: the server's greeting is the
    /// first packet. `role` is the watched process's side.
    pub fn with_handshake(limits: ParserLimits, role: Role) -> Self {
        Self::new(limits, role, Start::Greeting)
    }

    /// A parser for a connection already in its command phase (opened before sonde).
    pub fn mid_stream(limits: ParserLimits, role: Role) -> Self {
        Self::new(limits, role, Start::Commands)
    }

    pub fn role(&self) -> Role {
        self.session.role
    }

    pub fn stats(&self) -> MysqlStats {
        let mut stats = self.session.stats;
        stats.statements_evicted = self.session.statements.evicted;
        stats
    }

    /// Commands waiting for their answers (at most `max_pending`).
    pub fn pending_len(&self) -> usize {
        self.session.pending.len()
    }

    /// Prepared statements known on this connection (at most 1024).
    pub fn statements_len(&self) -> usize {
        self.session.statements.len()
    }

    /// Payload bytes kept by both framers (each at most `max_header_bytes`).
    pub fn framers_held_bytes(&self) -> usize {
        self.commands.held_bytes() + self.responses.held_bytes()
    }

    /// Bytes of state held: the framers' buffers and the waiting commands.
    pub fn buffered_bytes(&self) -> usize {
        self.framers_held_bytes() + self.session.pending.held_bytes()
    }

    /// Whether nothing more will be read on this connection (TLS, compression, ...).
    pub fn is_off(&self) -> bool {
        matches!(self.session.phase, Phase::Off(_))
    }

    fn commands_direction(&self) -> Direction {
        match self.session.role {
            Role::Client => Direction::Egress,
            Role::Server => Direction::Ingress,
        }
    }

    /// Feeds one chunk; appends every exchange that completes to `out`.
    pub fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<DbExchange>) {
        if !self.is_off() {
            let gap = u64::from(chunk.len).saturating_sub(chunk.data.len() as u64);
            if chunk.direction == self.commands_direction() {
                self.feed_commands(chunk, gap);
            } else {
                self.feed_responses(chunk, gap);
            }
            self.apply_resyncs();
        }
        out.append(&mut self.session.out);
    }

    fn feed_commands(&mut self, chunk: &Chunk<'_>, gap: u64) {
        if self.commands.is_lost() {
            self.check_command_run(chunk);
        }
        let sink = &mut CommandSink(&mut self.session);
        self.commands.feed(chunk.data, chunk.ts_ns, chunk.tid, sink);
        if gap > 0 {
            let was_lost = self.commands.is_lost();
            self.commands
                .skip(gap, chunk.ts_ns, &mut CommandSink(&mut self.session));
            if self.commands.is_lost() {
                // The next captured bytes start a write: maybe a command.
                self.command_run = RunStart::default();
                if !was_lost {
                    self.session.stats.framing_lost += 1;
                }
            }
        }
    }

    /// While the commands' framing is lost, the first captured bytes after a gap start a
    /// write: if they look like a command, framing starts again there. Decided once per run
    /// of captured bytes, from its first `RUN_CHECK_BYTES` bytes, so how the run is cut
    /// into reads does not matter.
    fn check_command_run(&mut self, chunk: &Chunk<'_>) {
        let run = &mut self.command_run;
        if run.decided {
            return;
        }
        let earlier = run.len;
        let more = (RUN_CHECK_BYTES - earlier).min(chunk.data.len());
        run.bytes[earlier..earlier + more].copy_from_slice(&chunk.data[..more]);
        run.len += more;
        if run.len < RUN_CHECK_BYTES {
            return;
        }
        run.decided = true;
        if !looks_like_command(&run.bytes, None) {
            return;
        }
        // The run's bytes from earlier chunks, then this chunk as usual.
        let replay = run.bytes;
        self.commands.resync();
        self.commands.feed(
            &replay[..earlier],
            chunk.ts_ns,
            chunk.tid,
            &mut CommandSink(&mut self.session),
        );
    }

    fn feed_responses(&mut self, chunk: &Chunk<'_>, gap: u64) {
        self.responses.feed(
            chunk.data,
            chunk.ts_ns,
            chunk.tid,
            &mut ResponseSink(&mut self.session),
        );
        if gap == 0 {
            self.check_tail_ending(chunk.ts_ns);
        } else {
            let was_lost = self.responses.is_lost();
            self.responses
                .skip(gap, chunk.ts_ns, &mut ResponseSink(&mut self.session));
            if !was_lost && self.responses.is_lost() {
                self.session.framing_lost_in_responses();
            }
        }
        self.session.touch_front(chunk.ts_ns);
    }

    /// While the answers' framing is lost: a read that ends with the packet that ends the
    /// answer (clients read up to it, then send their next command) gives it back.
    fn check_tail_ending(&mut self, ts_ns: u64) {
        let Some(tail) = self.responses.lost_tail() else {
            return;
        };
        let Some(ending) = ending_at_end(tail) else {
            return;
        };
        if !self.session.trusts_tail_ending(&ending) {
            return;
        }
        self.session.ending_found_in_tail(ending, ts_ns);
        self.responses.resync();
    }

    fn apply_resyncs(&mut self) {
        if std::mem::take(&mut self.session.resync_responses) {
            self.responses.resync();
        }
        if std::mem::take(&mut self.session.resync_commands) && self.commands.is_lost() {
            self.commands.resync();
        }
    }

    /// Ends commands that waited longer than the request timeout: as `Timeout`, or, when
    /// their answer went on in uncaptured bytes and then the stream fell silent, as
    /// complete at the last bytes seen (the answer ended in them).
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<DbExchange>) {
        if self.session.expire(now_ns) {
            self.responses.resync();
        }
        out.append(&mut self.session.out);
    }

    /// The connection closed: commands still waiting end as `ConnectionClosed` (an answer
    /// that went on in uncaptured bytes as complete). Nothing is read after this.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<DbExchange>) {
        self.session.close(ts_ns);
        self.commands.resync();
        self.responses.resync();
        out.append(&mut self.session.out);
    }
}
