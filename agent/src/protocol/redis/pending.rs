//! Commands waiting for their replies, in the order they were sent. Redis answers each
//! connection's commands strictly in order, so a reply (pushes aside) always belongs to the
//! oldest command still here.

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

/// Commands waiting for their replies, oldest first.
pub(super) type PendingQueue = crate::protocol::bounded_fifo::BoundedFifo<PendingCommand>;
