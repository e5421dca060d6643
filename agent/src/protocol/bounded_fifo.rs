//! The queue of operations waiting for their answers, shared by the request/response
//! protocols that match answers strictly in order (MySQL, Redis).

use std::collections::VecDeque;

#[derive(Debug)]
pub struct BoundedFifo<T> {
    entries: VecDeque<T>,
    max: usize,
}

impl<T> BoundedFifo<T> {
    pub fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            // At least one, or no operation could ever wait for its answer.
            max: max.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an operation; when the queue is full the oldest leaves and is returned (the
    /// caller ends it as `Desync`), so a stream that never answers cannot grow the queue.
    pub fn push(&mut self, item: T) -> Option<T> {
        let dropped = if self.entries.len() >= self.max {
            self.entries.pop_front()
        } else {
            None
        };
        self.entries.push_back(item);
        dropped
    }

    pub fn front(&self) -> Option<&T> {
        self.entries.front()
    }

    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.entries.front_mut()
    }

    pub fn pop_front(&mut self) -> Option<T> {
        self.entries.pop_front()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries.iter_mut()
    }

    /// Every entry, oldest first, leaving none.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.entries.drain(..)
    }

    /// Slots allocated (for memory accounting).
    pub fn slots(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_leaves_when_full() {
        let mut q = BoundedFifo::new(2);
        assert_eq!(q.push(1), None);
        assert_eq!(q.push(2), None);
        assert_eq!(q.push(3), Some(1));
        assert_eq!(q.drain().collect::<Vec<_>>(), vec![2, 3]);
        assert!(BoundedFifo::<u8>::new(0).push(1).is_none());
    }
}
