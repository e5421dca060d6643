//! Prepared statements and portals of one connection, by name, so that each Execute can say
//! which statement it ran. Both maps are bounded; the least recently used name goes first.

use std::sync::Arc;

use lru::LruCache;

use crate::protocol::sql::SqlSummary;

/// Named prepared statements kept per connection.
pub const MAX_STATEMENTS: usize = 1024;
/// Named portals kept per connection (drivers name portals only for cursors).
pub const MAX_PORTALS: usize = 64;

/// A portal: the statement it was bound to, and when (the start of its Execute's span).
#[derive(Clone, Debug)]
pub(super) struct Portal {
    /// None when the statement was prepared before sonde saw the connection.
    pub statement: Option<Arc<SqlSummary>>,
    pub start_ns: u64,
    pub tid: u32,
}

pub(super) struct Statements {
    unnamed: Option<Arc<SqlSummary>>,
    named: LruCache<Box<str>, Arc<SqlSummary>>,
    unnamed_portal: Option<Portal>,
    named_portals: LruCache<Box<str>, Portal>,
    /// Statements dropped to stay within [`MAX_STATEMENTS`].
    pub evicted: u64,
    /// Binds of a statement this connection never showed being prepared.
    pub unknown: u64,
}

impl Statements {
    pub(super) fn new() -> Self {
        Self {
            unnamed: None,
            // Unbounded maps grown on demand, bounded by hand: a connection that prepares
            // nothing costs nothing.
            named: LruCache::unbounded(),
            unnamed_portal: None,
            named_portals: LruCache::unbounded(),
            evicted: 0,
            unknown: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.named.len()
    }

    /// Parse: `name` now stands for `statement` (the empty name is the unnamed statement).
    pub(super) fn define(&mut self, name: &str, statement: Arc<SqlSummary>) {
        if name.is_empty() {
            self.unnamed = Some(statement);
            return;
        }
        if let Some(slot) = self.named.get_mut(name) {
            *slot = statement;
            return;
        }
        if self.named.len() >= MAX_STATEMENTS && self.named.pop_lru().is_some() {
            self.evicted += 1;
        }
        self.named.put(name.into(), statement);
    }

    /// The statement a Bind names.
    pub(super) fn lookup(&mut self, name: &str) -> Option<Arc<SqlSummary>> {
        let found = if name.is_empty() {
            self.unnamed.clone()
        } else {
            self.named.get(name).cloned()
        };
        if found.is_none() {
            self.unknown += 1;
        }
        found
    }

    /// Close of a statement.
    pub(super) fn forget(&mut self, name: &str) {
        if name.is_empty() {
            self.unnamed = None;
        } else {
            self.named.pop(name);
        }
    }

    /// Bind: `portal` now runs `p`.
    pub(super) fn bind(&mut self, portal: &str, p: Portal) {
        if portal.is_empty() {
            self.unnamed_portal = Some(p);
            return;
        }
        if let Some(slot) = self.named_portals.get_mut(portal) {
            *slot = p;
            return;
        }
        if self.named_portals.len() >= MAX_PORTALS {
            self.named_portals.pop_lru();
        }
        self.named_portals.put(portal.into(), p);
    }

    /// The portal an Execute names.
    pub(super) fn portal(&mut self, name: &str) -> Option<Portal> {
        if name.is_empty() {
            self.unnamed_portal.clone()
        } else {
            self.named_portals.get(name).cloned()
        }
    }

    /// Close of a portal.
    pub(super) fn forget_portal(&mut self, name: &str) {
        if name.is_empty() {
            self.unnamed_portal = None;
        } else {
            self.named_portals.pop(name);
        }
    }
}
