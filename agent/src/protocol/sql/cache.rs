//! Summaries kept by text, so that a statement seen again (a prepared statement parsed on
//! every connection, an ORM's fixed texts) is tokenized once.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use lru::LruCache;

use super::{SqlDialect, SqlSummary, summarize};

/// Texts longer than this are summarised every time rather than kept: the cache's memory
/// stays bounded by entries times this.
pub const MAX_CACHED_TEXT_BYTES: usize = 4096;

/// A bounded least-recently-used map from statement text to its summary.
pub struct SummaryCache {
    entries: LruCache<Box<str>, (SqlDialect, Arc<SqlSummary>)>,
    hits: u64,
    misses: u64,
}

impl SummaryCache {
    pub const DEFAULT_CAPACITY: usize = 1024;

    /// A cache of at most `capacity` texts (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: LruCache::new(NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN)),
            hits: 0,
            misses: 0,
        }
    }

    /// The summary of `sql`, from the cache or made now (and kept, evicting the least
    /// recently used text when full).
    pub fn get_or_insert(&mut self, sql: &str, dialect: SqlDialect) -> Arc<SqlSummary> {
        if let Some((d, summary)) = self.entries.get(sql)
            && *d == dialect
        {
            self.hits += 1;
            return Arc::clone(summary);
        }
        self.misses += 1;
        let summary = Arc::new(summarize(sql, dialect));
        if sql.len() <= MAX_CACHED_TEXT_BYTES {
            self.entries
                .put(sql.into(), (dialect, Arc::clone(&summary)));
        }
        summary
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (hits, misses) since the cache was made.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

impl Default for SummaryCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

/// The summary of `sql` from one cache shared by every connection of the process (bounded at
/// [`SummaryCache::DEFAULT_CAPACITY`] texts): the same statement prepared on a hundred
/// connections is tokenized once and its summary held once.
pub fn summarize_shared(sql: &str, dialect: SqlDialect) -> Arc<SqlSummary> {
    static SHARED: OnceLock<Mutex<SummaryCache>> = OnceLock::new();
    SHARED
        .get_or_init(|| Mutex::new(SummaryCache::default()))
        .lock()
        // A panic elsewhere while holding the lock leaves a usable cache: entries are
        // inserted whole.
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert(sql, dialect)
}
