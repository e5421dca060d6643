//! The Redis parser of one connection: commands flow one way and replies the other; which
//! way is fixed at detection. Each direction has its own RESP reader; commands wait in a
//! FIFO and each reply, in order, completes the oldest one (pushes and pub/sub messages
//! aside, which answer no command).

use super::commands;
use super::error::RedisError;
use super::inline::InlineWords;
use super::pending::{PendingCommand, PendingQueue};
use super::query::{Command, CommandBuilder, Effect, ReplyMode};
use super::reply::{ReplyClass, ReplySummary, Shape, Status};
use super::resp::{Mode, Position, Reader, Sink, Value};
use crate::protocol::{
    Chunk, DbExchange, DbSystem, Direction, Exchange, Incomplete, ParserLimits, ProtocolParser,
    Role,
};

/// Counters of what the parser dropped or could not make sense of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Times a direction lost sync: a gap where a type byte was expected, or bytes that are
    /// not RESP.
    pub desyncs: u64,
    /// Commands ended as `Desync` because `max_pending` others were already waiting.
    pub pending_overflows: u64,
    /// Replies no known command was waiting for (after lost commands, or before detection).
    pub orphan_replies: u64,
    /// RESP3 pushes and pub/sub messages: read, never matched to a command.
    pub pushes: u64,
    /// Blocking commands (BLPOP, BRPOP, XREAD BLOCK, ...) that timed out with a null reply:
    /// counted here and not reported, so an idle consumer loop does not flood the backend.
    pub blocking_timeouts: u64,
    /// The most recent reason for a loss of sync.
    pub last_error: Option<RedisError>,
}

pub struct RedisParser {
    requests: Reader,
    replies: Reader,
    conv: Conversation,
}

/// What the connection's replies depend on, per session.
#[derive(Clone, Copy, Debug, Default)]
struct Session {
    /// The SELECTed database index (0 until a SELECT).
    db: u32,
    /// RESP2 subscribed mode: arrays that look like pub/sub messages are messages.
    subscribed: bool,
    reply_mode: ReplyMode,
}

/// Everything but the two readers, so that a reader can report into it while borrowed.
struct Conversation {
    role: Role,
    limits: ParserLimits,
    builder: CommandBuilder,
    pending: PendingQueue,
    summary: ReplySummary,
    session: Session,
    stats: RedisStats,
    /// Replies still to come for commands that already left the queue (timed out, dropped).
    owed_replies: u64,
    /// The request side lost sync: commands were sent that the queue does not know, so a
    /// reply finding the queue empty is theirs.
    commands_lost: bool,
    /// The request side resynchronised at a guess and has not completed a command since: a
    /// failure now is more of the same loss.
    tentative: bool,
    /// Time of the latest reply bytes: where a reply that lost sync is taken to end.
    last_reply_ns: u64,
    /// A reply is being read (its first byte arrived, its last not yet).
    reply_in_message: bool,
}

impl RedisParser {
    /// A parser for a connection on which the process is `role` (Client: it writes commands).
    pub fn new(limits: ParserLimits, role: Role) -> Self {
        Self {
            requests: Reader::new(Mode::Requests, limits.max_header_bytes),
            replies: Reader::new(Mode::Replies, limits.max_header_bytes),
            conv: Conversation {
                role,
                limits,
                builder: CommandBuilder::default(),
                pending: PendingQueue::new(limits.max_pending),
                summary: ReplySummary::default(),
                session: Session::default(),
                stats: RedisStats::default(),
                owed_replies: 0,
                commands_lost: false,
                tentative: false,
                last_reply_ns: 0,
                reply_in_message: false,
            },
        }
    }

    pub fn role(&self) -> Role {
        self.conv.role
    }

    pub fn stats(&self) -> RedisStats {
        self.conv.stats
    }

    /// Commands waiting for their replies (at most `max_pending`).
    pub fn pending_len(&self) -> usize {
        self.conv.pending.len()
    }

    /// Bytes held between reads by both directions (each at most `max_header_bytes`).
    pub fn streams_held_bytes(&self) -> usize {
        self.requests.held_bytes() + self.replies.held_bytes()
    }

    fn request_direction(&self) -> Direction {
        match self.conv.role {
            Role::Client => Direction::Egress,
            Role::Server => Direction::Ingress,
        }
    }

    /// Feeds one chunk; appends every exchange that completes to `out`.
    pub fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>) {
        let gap = u64::from(chunk.len).saturating_sub(chunk.data.len() as u64);
        if chunk.direction == self.request_direction() {
            self.feed_requests(chunk, gap, out);
        } else {
            self.feed_replies(chunk, gap, out);
        }
    }

    fn feed_requests(&mut self, chunk: &Chunk<'_>, gap: u64, out: &mut Vec<Exchange>) {
        if self.requests.is_lost() {
            // Clients start writes with a command: look again only where a write starts.
            if !plausible_command_start(chunk.data) {
                return;
            }
            self.requests.resync();
            self.conv.tentative = true;
        }
        let mut sink = RequestSink {
            conv: &mut self.conv,
            replies: &mut self.replies,
            ts_ns: chunk.ts_ns,
            tid: chunk.tid,
            out,
        };
        let mut result = self.requests.feed(chunk.data, &mut sink);
        if result.is_ok() {
            result = self.requests.skip(gap, &mut sink);
        }
        if let Err(e) = result {
            self.conv.requests_lost(e, out);
        }
    }

    fn feed_replies(&mut self, chunk: &Chunk<'_>, gap: u64, out: &mut Vec<Exchange>) {
        self.conv.last_reply_ns = chunk.ts_ns;
        if self.replies.is_lost() {
            return;
        }
        if let Some(front) = self.conv.pending.front_mut() {
            front.last_activity_ns = chunk.ts_ns;
        }
        let mut sink = ReplySink {
            conv: &mut self.conv,
            ts_ns: chunk.ts_ns,
            out,
        };
        let mut result = self.replies.feed(chunk.data, &mut sink);
        if result.is_ok() {
            result = self.replies.skip(gap, &mut sink);
        }
        if let Err(e) = result {
            self.conv.replies_lost(e);
        }
    }

    /// Ends commands that waited longer than `limits.request_timeout` (plus their own
    /// timeout, for blocking commands) as `Incomplete::Timeout`.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        self.conv.expire(now_ns, out);
    }

    /// The connection closed: every waiting command ends as `Incomplete::ConnectionClosed`.
    /// The parser is then as new, counters aside.
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        let c = &mut self.conv;
        out.extend(
            c.pending
                .drain()
                .map(|p| Exchange::Db(p.finish(ts_ns, Some(Incomplete::ConnectionClosed)))),
        );
        c.builder = CommandBuilder::default();
        c.summary = ReplySummary::default();
        c.session = Session::default();
        c.owed_replies = 0;
        c.commands_lost = false;
        c.tentative = false;
        c.reply_in_message = false;
        self.requests.resync();
        self.replies.resync();
    }
}

impl ProtocolParser for RedisParser {
    fn feed(&mut self, chunk: &Chunk<'_>, out: &mut Vec<Exchange>) {
        RedisParser::feed(self, chunk, out);
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        RedisParser::expire(self, now_ns, out);
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        RedisParser::close(self, ts_ns, out);
    }

    fn makes_spans(&self) -> bool {
        self.role() == Role::Client
    }
}

/// Where a lost command stream may start again: a RESP array, or a word (inline).
fn plausible_command_start(data: &[u8]) -> bool {
    match data {
        [b'*', rest @ ..] => rest.first().is_none_or(u8::is_ascii_digit),
        [b, ..] => b.is_ascii_alphabetic(),
        [] => false,
    }
}

struct RequestSink<'a> {
    conv: &'a mut Conversation,
    replies: &'a mut Reader,
    ts_ns: u64,
    tid: u32,
    out: &'a mut Vec<Exchange>,
}

impl Sink for RequestSink<'_> {
    fn message_start(&mut self) {
        if self.replies.is_lost() {
            // A client writes its next command once it has read the previous reply: the
            // reply stream is at a message boundary again.
            self.conv.end_lost_replies(self.out);
            self.replies.resync();
        }
        self.conv.builder.start(self.ts_ns, self.tid);
    }

    fn keep(&self, at: Position, _kind: u8) -> usize {
        if at.depth == 1 {
            self.conv.builder.keep(at.index)
        } else {
            0
        }
    }

    fn value(&mut self, at: Position, value: Value<'_>) -> Result<(), RedisError> {
        match (at.depth, value) {
            (
                0,
                Value::Aggregate {
                    kind: b'*',
                    count: Some(n),
                },
            ) => {
                self.conv.builder.set_argc(n);
                Ok(())
            }
            // `*-1`: servers skip it.
            (0, Value::Null) => Ok(()),
            (0, Value::Inline(line)) => self.conv.inline(line),
            (
                1,
                Value::Text {
                    kind: b'$',
                    bytes,
                    len,
                },
            ) => {
                self.conv.builder.arg(at.index, bytes, len);
                Ok(())
            }
            _ => Err(RedisError::NotACommand),
        }
    }

    fn message_end(&mut self) {
        if let Some(command) = self.conv.builder.finish() {
            self.conv.push_command(command, false, self.out);
        }
    }
}

struct ReplySink<'a> {
    conv: &'a mut Conversation,
    ts_ns: u64,
    out: &'a mut Vec<Exchange>,
}

impl Sink for ReplySink<'_> {
    fn message_start(&mut self) {
        self.conv.summary = ReplySummary::default();
        self.conv.reply_in_message = true;
    }

    fn keep(&self, at: Position, kind: u8) -> usize {
        ReplySummary::keep(at, kind)
    }

    fn value(&mut self, at: Position, value: Value<'_>) -> Result<(), RedisError> {
        self.conv.summary.value(at, value);
        Ok(())
    }

    fn message_end(&mut self) {
        self.conv.reply_in_message = false;
        self.conv.on_reply(self.ts_ns, self.out);
    }
}

impl Conversation {
    fn inline(&mut self, line: &[u8]) -> Result<(), RedisError> {
        let mut words = InlineWords::new(line);
        let first = words.next();
        // After lost sync, a line only counts if it starts with a real command.
        if self.tentative && first.is_none_or(|w| commands::find(w).is_none()) {
            return Err(RedisError::UnknownInlineCommand);
        }
        self.builder
            .set_argc(first.map_or(0, |_| 1 + words.count() as u64));
        for (i, word) in InlineWords::new(line).enumerate() {
            let i = i as u64;
            let keep = self.builder.keep(i).min(word.len());
            self.builder.arg(i, &word[..keep], word.len() as u64);
        }
        Ok(())
    }

    fn push_command(&mut self, command: Command, desync: bool, out: &mut Vec<Exchange>) {
        let mut desync = desync;
        if !desync {
            self.tentative = false;
            if self.pending.is_empty() {
                // Every reply of the lost commands has been read (or will be an orphan).
                self.commands_lost = false;
            }
            desync = self.commands_lost;
        }
        let mut expects_reply = match self.session.reply_mode {
            ReplyMode::On => true,
            ReplyMode::Off => false,
            ReplyMode::Skip => {
                self.session.reply_mode = ReplyMode::On;
                false
            }
        };
        let db = self.session.db;
        match command.effect {
            Effect::ClientReply(mode) => {
                // ON is answered even while replies are off; OFF and SKIP never are.
                expects_reply = mode == ReplyMode::On;
                self.session.reply_mode = mode;
            }
            // Applied now, not at the reply: pipelined commands behind it use the new index.
            Effect::Select { db } => self.session.db = db,
            Effect::Reset => {
                self.session.db = 0;
                self.session.reply_mode = ReplyMode::On;
                expects_reply = true;
            }
            _ => {}
        }
        let entry = PendingCommand {
            exchange: DbExchange {
                system: DbSystem::Redis,
                role: self.role,
                namespace: None,
                operation: command.operation,
                collection: None,
                query_text: command.query_text,
                error: None,
                start_ns: command.start_ns,
                end_ns: command.start_ns,
                tid: command.tid,
                rows: None,
                incomplete: None,
            },
            db,
            effect: command.effect,
            expects_reply,
            confirmations: 0,
            last_activity_ns: command.start_ns,
            desync,
        };
        if let Some(dropped) = self.pending.push(entry) {
            self.stats.pending_overflows += 1;
            if dropped.expects_reply {
                self.owed_replies += 1;
            }
            let x = dropped.finish(command.start_ns, Some(Incomplete::Desync));
            out.push(Exchange::Db(x));
        }
        self.complete_unanswered(out);
    }

    /// Commands the server will not answer (CLIENT REPLY OFF / SKIP) end when their turn
    /// comes, with no duration.
    fn complete_unanswered(&mut self, out: &mut Vec<Exchange>) {
        while self.pending.front().is_some_and(|p| !p.expects_reply) {
            if let Some(p) = self.pending.pop_front() {
                let start = p.exchange.start_ns;
                out.push(Exchange::Db(p.finish(start, None)));
            }
        }
    }

    fn requests_lost(&mut self, error: RedisError, out: &mut Vec<Exchange>) {
        let partial = self.builder.abandon();
        if self.tentative {
            return;
        }
        self.stats.desyncs += 1;
        self.stats.last_error = Some(error);
        // The server got all of a command whose name arrived: it takes its turn.
        if let Some(command) = partial {
            self.push_command(command, true, out);
        }
        self.commands_lost = true;
    }

    fn replies_lost(&mut self, error: RedisError) {
        self.stats.desyncs += 1;
        self.stats.last_error = Some(error);
        // Uncaptured bytes inside the array answering the only waiting command (LRANGE,
        // HGETALL, COMMAND DOCS: big replies read in big reads): nothing is missing but the
        // elements, and the reply ends where the client writes again. Otherwise the reply
        // being read was the oldest command's, and pipelined ones may be in the lost
        // stretch too.
        let cut_array = self.reply_in_message
            && matches!(error, RedisError::GapAtTypeByte | RedisError::GapInLine)
            && matches!(self.summary.shape, Shape::Aggregate { .. })
            && self.owed_replies == 0
            && self.pending.len() == 1;
        self.reply_in_message = false;
        if !cut_array {
            for p in self.pending.iter_mut() {
                p.desync = true;
            }
        }
        self.owed_replies = 0;
    }

    /// The reply stream is taken to be between messages again: whatever waited ends, at the
    /// time of the latest reply bytes (as `Desync` unless it was a cut array).
    fn end_lost_replies(&mut self, out: &mut Vec<Exchange>) {
        let end = self.last_reply_ns;
        out.extend(
            self.pending
                .drain()
                .map(|p| Exchange::Db(p.finish(end, None))),
        );
        self.owed_replies = 0;
    }

    fn on_reply(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        let front = self.pending.front();
        let waiting_for = front.and_then(|p| match p.effect {
            Effect::Subscribe {
                family,
                unsubscribe,
                ..
            } => Some((family, unsubscribe)),
            _ => None,
        });
        let class = self
            .summary
            .classify(waiting_for, front.is_some(), self.session.subscribed);
        if class != ReplyClass::Reply && !self.summary.is_push() {
            self.note_subscriptions(front.is_none());
        }
        match class {
            ReplyClass::OutOfBand => self.stats.pushes += 1,
            ReplyClass::Confirmation => self.confirm(ts_ns, out),
            ReplyClass::Reply => self.answer(ts_ns, out),
        }
        self.complete_unanswered(out);
    }

    /// RESP2 is in subscribed mode while subscriptions remain, as confirmations count them.
    fn note_subscriptions(&mut self, nothing_waits: bool) {
        match self.summary.confirmation() {
            Some((_, false)) => self.session.subscribed = true,
            Some((_, true)) if self.summary.third_int == Some(0) => self.session.subscribed = false,
            // A message with nothing waiting: a subscriber seen mid-way.
            None if nothing_waits && self.summary.is_message() => self.session.subscribed = true,
            _ => {}
        }
    }

    fn confirm(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        front.confirmations += 1;
        front.last_activity_ns = ts_ns;
        let done = matches!(front.effect, Effect::Subscribe { expected, .. } if front.confirmations >= expected);
        if done && let Some(p) = self.pending.pop_front() {
            out.push(Exchange::Db(p.finish(ts_ns, None)));
        }
    }

    fn answer(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        if self.owed_replies > 0 {
            self.owed_replies -= 1;
            return;
        }
        let Some(p) = self.pending.pop_front() else {
            self.stats.orphan_replies += 1;
            return;
        };
        let summary = std::mem::take(&mut self.summary);
        let mut error = summary.error;
        match p.effect {
            Effect::Blocking { .. } if summary.shape == Shape::Null && error.is_none() => {
                // Timed out with nothing to pop: the client idles (a worker's broker loop).
                self.stats.blocking_timeouts += 1;
                return;
            }
            Effect::Exec if error.is_none() => error = summary.nested_error,
            Effect::Select { .. } if error.is_some() => self.undo_select(p.db),
            Effect::Reset if summary.status == Status::Reset => self.session.subscribed = false,
            _ => {}
        }
        let mut x = p.finish(ts_ns, None);
        x.error = error;
        out.push(Exchange::Db(x));
    }

    /// A SELECT failed: the commands sent after it, up to the next SELECT, ran against the
    /// database before it.
    fn undo_select(&mut self, previous: u32) {
        for p in self.pending.iter_mut() {
            p.db = previous;
            if matches!(p.effect, Effect::Select { .. }) {
                return;
            }
        }
        self.session.db = previous;
    }

    fn expire(&mut self, now_ns: u64, out: &mut Vec<Exchange>) {
        let timeout_ns = u64::try_from(self.limits.request_timeout.as_nanos()).unwrap_or(u64::MAX);
        while let Some(front) = self.pending.front() {
            let wait = match front.effect {
                // BLPOP k 0: waiting forever is its job.
                Effect::Blocking { timeout_ns: None } => return,
                Effect::Blocking {
                    timeout_ns: Some(t),
                } => t,
                _ => 0,
            };
            let deadline = front
                .last_activity_ns
                .saturating_add(timeout_ns)
                .saturating_add(wait);
            if now_ns <= deadline {
                return;
            }
            if let Some(p) = self.pending.pop_front() {
                if p.expects_reply {
                    self.owed_replies += 1;
                }
                out.push(Exchange::Db(p.finish(now_ns, Some(Incomplete::Timeout))));
            }
        }
    }
}
