//! Prepared statements of one connection: the id the server gave each (in COM_STMT_PREPARE_OK)
//! and the summary of its text, so that each COM_STMT_EXECUTE names its statement without
//! summarising the text again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::sql_text::Summary;

/// Statements kept per connection; the oldest goes first (counted). Clients that never close
/// their statements must not grow this without bound.
pub(super) const MAX_STATEMENTS: usize = 1024;
/// MariaDB: an execute may name "the statement prepared last" with this id, when the
/// client sends the prepare and the execute together.
const LAST_PREPARED: u32 = u32::MAX;

#[derive(Debug, Default)]
pub(super) struct Statements {
    by_id: HashMap<u32, (u64, Arc<Summary>)>,
    /// Ids in the order they were prepared, with the generation of that preparation; entries
    /// of closed or re-prepared statements are stale and skipped.
    order: VecDeque<(u32, u64)>,
    next_generation: u64,
    last_prepared: Option<u32>,
    /// Statements dropped because the connection held `MAX_STATEMENTS`.
    pub evicted: u64,
}

impl Statements {
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn insert(&mut self, id: u32, summary: Arc<Summary>) {
        let generation = self.next_generation;
        self.next_generation += 1;
        self.by_id.insert(id, (generation, summary));
        self.order.push_back((id, generation));
        self.last_prepared = Some(id);
        while self.by_id.len() > MAX_STATEMENTS {
            let Some((old, old_generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .by_id
                .get(&old)
                .is_some_and(|(g, _)| *g == old_generation)
            {
                self.by_id.remove(&old);
                self.evicted += 1;
            }
        }
        if self.order.len() > 2 * MAX_STATEMENTS {
            let by_id = &self.by_id;
            self.order
                .retain(|(id, g)| by_id.get(id).is_some_and(|(live, _)| live == g));
        }
    }

    pub(super) fn get(&self, id: u32) -> Option<Arc<Summary>> {
        let id = if id == LAST_PREPARED {
            self.last_prepared?
        } else {
            id
        };
        self.by_id.get(&id).map(|(_, s)| Arc::clone(s))
    }

    pub(super) fn remove(&mut self, id: u32) {
        self.by_id.remove(&id);
    }

    /// COM_RESET_CONNECTION and COM_CHANGE_USER drop every statement.
    pub(super) fn clear(&mut self) {
        self.by_id = HashMap::new();
        self.order = VecDeque::new();
        self.last_prepared = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(text: &str) -> Arc<Summary> {
        Arc::new(Summary {
            operation: None,
            collection: None,
            text: text.to_owned(),
        })
    }

    #[test]
    fn oldest_goes_first_past_the_bound() {
        let mut s = Statements::default();
        for id in 0..(MAX_STATEMENTS as u32 + 10) {
            s.insert(id, summary("x"));
        }
        assert_eq!(s.len(), MAX_STATEMENTS);
        assert_eq!(s.evicted, 10);
        assert!(s.get(9).is_none());
        assert!(s.get(10).is_some());
        assert!(s.order.len() <= 2 * MAX_STATEMENTS + 1);
    }

    #[test]
    fn closed_and_reprepared_ids() {
        let mut s = Statements::default();
        s.insert(1, summary("a"));
        s.insert(2, summary("b"));
        s.remove(1);
        assert!(s.get(1).is_none());
        assert_eq!(s.get(u32::MAX).map(|x| x.text.clone()), Some("b".into()));
        // Prepare/close cycles keep the order list bounded.
        for _ in 0..10 * MAX_STATEMENTS {
            s.insert(7, summary("c"));
            s.remove(7);
        }
        assert!(s.order.len() <= 2 * MAX_STATEMENTS + 1);
        assert_eq!(s.evicted, 0);
        s.clear();
        assert_eq!(s.len(), 0);
    }
}
