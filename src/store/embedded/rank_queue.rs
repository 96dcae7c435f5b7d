//! One priority's queue of a connector in the embedded store. MTs given back (released) are
//! taken again before the rest of their priority, in the order they were given back, as the
//! Redis store does with its released streams.

use std::collections::VecDeque;

use crate::message::MessageId;

#[derive(Debug, Default)]
pub struct RankQueue {
    released: VecDeque<MessageId>,
    queued: VecDeque<MessageId>,
}

impl RankQueue {
    /// Queues a new MT behind the others.
    pub fn push(&mut self, id: MessageId) {
        self.queued.push_back(id);
    }

    /// Queues a released MT ahead of the new ones, behind those released before it.
    pub fn push_released(&mut self, id: MessageId) {
        self.released.push_back(id);
    }

    pub fn pop(&mut self) -> Option<MessageId> {
        self.released
            .pop_front()
            .or_else(|| self.queued.pop_front())
    }

    pub fn len(&self) -> usize {
        self.released.len() + self.queued.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_mts_come_first_in_the_order_released() {
        let id = |s: &str| MessageId(s.into());
        let mut queue = RankQueue::default();
        queue.push(id("new1"));
        queue.push_released(id("back1"));
        queue.push(id("new2"));
        queue.push_released(id("back2"));
        assert_eq!(queue.len(), 4);
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, [id("back1"), id("back2"), id("new1"), id("new2")]);
        assert!(queue.is_empty());
    }
}
