//! Commands waiting for their replies, in the order they were sent. Redis answers each
//! connection's commands strictly in order, so a reply (pushes aside) always belongs to the
//! oldest command still here.

use std::collections::VecDeque;

use super::query::Effect;
use crate::protocol::{DbExchange, Incomplete};

#[derive(Debug)]
pub(super) struct PendingCommand {
    /// Filled but for the end, the error and `incomplete`, which its reply decides.
    pub exchange: DbExchange,
    /// The database index the command ran against (SELECT changes it for what follows).
    pub db: u32,
    pub effect: Effect,
    /// False under CLIENT REPLY OFF / SKIP: the server will not answer.
    pub expects_reply: bool,
    /// Confirmations received, for (un)subscribe commands.
    pub confirmations: u64,
    /// Sent, or the latest bytes of its reply: what the timeout counts from.
    pub last_activity_ns: u64,
    /// The stream lost sync around this command; it ends as `Incomplete::Desync`.
    pub desync: bool,
}

impl PendingCommand {
    /// The exchange as it leaves: a mark of lost sync outranks other causes, because it says
    /// fields may be wrong rather than missing.
    pub(super) fn finish(self, end_ns: u64, cause: Option<Incomplete>) -> DbExchange {
        let mut x = self.exchange;
        x.end_ns = end_ns.max(x.start_ns);
        x.namespace = Some(self.db.to_string());
        x.incomplete = if self.desync {
            Some(Incomplete::Desync)
        } else {
            cause
        };
        x
    }
}

#[derive(Debug)]
pub(super) struct PendingQueue {
    entries: VecDeque<PendingCommand>,
    max: usize,
}

impl PendingQueue {
    pub(super) fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            // At least one, or no command could ever wait for its reply.
            max: max.max(1),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a command; when the queue is full, the oldest leaves and is returned (it ends as
    /// `Desync`: a stream that never answers cannot grow the queue).
    pub(super) fn push(&mut self, command: PendingCommand) -> Option<PendingCommand> {
        let dropped = if self.entries.len() >= self.max {
            self.entries.pop_front()
        } else {
            None
        };
        self.entries.push_back(command);
        dropped
    }

    pub(super) fn front(&self) -> Option<&PendingCommand> {
        self.entries.front()
    }

    pub(super) fn front_mut(&mut self) -> Option<&mut PendingCommand> {
        self.entries.front_mut()
    }

    pub(super) fn pop_front(&mut self) -> Option<PendingCommand> {
        self.entries.pop_front()
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut PendingCommand> {
        self.entries.iter_mut()
    }

    /// Every entry, oldest first, leaving none.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = PendingCommand> + '_ {
        self.entries.drain(..)
    }
}
