//! Operations sent and not answered yet, in the order the server will answer them.
//!
//! A *group* is what one ReadyForQuery ends: a simple Query, a FunctionCall, or the extended-
//! protocol messages up to and including a Sync. Only what produces spans (Executes, the
//! statements of a Query) and group ends are queued; Parse/Bind/Describe acknowledgements are
//! not needed to pair responses, so a batch of N executes costs N + 1 entries.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::protocol::sql::SqlSummary;

/// The statements of a simple Query still to be answered, in order. One statement (the common
/// case) needs no allocation.
#[derive(Debug, Default)]
pub(super) enum QueryStatements {
    #[default]
    None,
    One(Arc<SqlSummary>),
    Many(VecDeque<Arc<SqlSummary>>),
}

impl QueryStatements {
    pub(super) fn pop(&mut self) -> Option<Arc<SqlSummary>> {
        match std::mem::take(self) {
            QueryStatements::None => None,
            QueryStatements::One(s) => Some(s),
            QueryStatements::Many(mut many) => {
                let first = many.pop_front();
                if !many.is_empty() {
                    *self = QueryStatements::Many(many);
                }
                first
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            QueryStatements::None => 0,
            QueryStatements::One(_) => 1,
            QueryStatements::Many(many) => many.len(),
        }
    }

    /// Drops every statement; returns how many there were.
    pub(super) fn clear(&mut self) -> usize {
        let n = self.len();
        *self = QueryStatements::None;
        n
    }
}

#[derive(Debug)]
pub(super) struct QueryOp {
    pub statements: QueryStatements,
    /// Start of the next statement's span: the Query's chunk, then the end of the statement
    /// before (the server runs them one after the other).
    pub next_start_ns: u64,
    pub tid: u32,
}

#[derive(Debug)]
pub(super) struct ExecuteOp {
    /// None when the statement was prepared before sonde saw the connection.
    pub statement: Option<Arc<SqlSummary>>,
    pub start_ns: u64,
    pub tid: u32,
    /// DataRows seen, for a PortalSuspended (which carries no count).
    pub rows_seen: u64,
    /// Not seen but inferred: the capture lost the bytes after a Bind, where its Execute
    /// most likely was. It makes a span only if a response completes it.
    pub presumed: bool,
}

/// A Parse sent in a group, so that an error answering it (a statement that does not
/// prepare) still makes a span when the group runs nothing.
#[derive(Debug)]
pub(super) struct ParseInfo {
    pub statement: Arc<SqlSummary>,
    pub start_ns: u64,
    pub tid: u32,
}

#[derive(Debug)]
pub(super) enum Op {
    Query(QueryOp),
    Execute(ExecuteOp),
    Sync { parse: Option<ParseInfo> },
    FunctionCall,
}

impl Op {
    /// Whether a ReadyForQuery answers this op (it ends a group).
    pub(super) fn ends_group(&self) -> bool {
        !matches!(self, Op::Execute(_))
    }
}

#[derive(Debug)]
pub(super) struct PendingOps {
    ops: VecDeque<Op>,
    max: usize,
    /// Since an op was refused for lack of room, every later op is refused too (queued ops
    /// must stay a prefix of what was sent, or responses would be paired wrongly), until the
    /// groups refused have been answered.
    refusing: bool,
    /// Group ends refused and not answered yet.
    refused_group_ends: u32,
    /// An Execute was refused after the last refused group end: its group is still open.
    refused_open_group: bool,
    /// Latest op sent or response byte seen: what the timeout counts from.
    pub last_activity_ns: u64,
}

impl PendingOps {
    pub(super) fn new(max: usize) -> Self {
        Self {
            ops: VecDeque::new(),
            max: max.max(2),
            refusing: false,
            refused_group_ends: 0,
            refused_open_group: false,
            last_activity_ns: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.ops.len()
    }

    /// Queues `op`; false when it was refused (the queue is full or refusing).
    pub(super) fn push(&mut self, op: Op, now_ns: u64) -> bool {
        self.last_activity_ns = now_ns;
        if self.refusing || self.ops.len() >= self.max {
            self.refusing = true;
            if op.ends_group() {
                self.refused_group_ends += 1;
                self.refused_open_group = false;
            } else {
                self.refused_open_group = true;
            }
            return false;
        }
        self.ops.push_back(op);
        true
    }

    pub(super) fn front_mut(&mut self) -> Option<&mut Op> {
        self.ops.front_mut()
    }

    pub(super) fn pop_front(&mut self) -> Option<Op> {
        self.ops.pop_front()
    }

    /// Whether a queued op ends a group (else a ReadyForQuery answers a refused group).
    pub(super) fn has_group_end(&self) -> bool {
        self.ops.iter().any(Op::ends_group)
    }

    /// A ReadyForQuery came for a group that was refused, not queued.
    pub(super) fn refused_group_answered(&mut self) {
        self.refused_group_ends = self.refused_group_ends.saturating_sub(1);
        if self.refused_group_ends == 0 && !self.refused_open_group {
            self.refusing = false;
        }
    }

    /// Spans the front group still owes: its Executes, or its Query's statements.
    pub(super) fn front_group_units(&self) -> usize {
        let mut units = 0;
        for op in &self.ops {
            match op {
                Op::Execute(_) => units += 1,
                Op::Query(q) => return units + q.statements.len(),
                Op::Sync { .. } | Op::FunctionCall => return units,
            }
        }
        units
    }

    /// Index of the last op that ends a group, if any.
    pub(super) fn last_group_end(&self) -> Option<usize> {
        self.ops.iter().rposition(Op::ends_group)
    }

    /// Forgets everything, refusals included.
    pub(super) fn clear(&mut self) {
        self.ops = VecDeque::new();
        self.refusing = false;
        self.refused_group_ends = 0;
        self.refused_open_group = false;
    }
}
