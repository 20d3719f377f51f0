//! The event queue: events ordered by time, and events at the same time in the order they were
//! scheduled, so that a run is a function of its seed alone.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Simulated time, in microseconds since the start of the run.
pub type Micros = u64;

/// Microseconds in a millisecond.
pub const MS: Micros = 1_000;
/// Microseconds in a second.
pub const SECOND: Micros = 1_000_000;

struct Scheduled<E> {
    at: Micros,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    /// Reversed: `BinaryHeap` is a max-heap, and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events waiting for their time.
pub struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `at`.
    pub fn push(&mut self, at: Micros, event: E) {
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
        self.seq += 1;
    }

    /// The earliest event and its time; of events at the same time, the first scheduled.
    pub fn pop(&mut self) -> Option<(Micros, E)> {
        self.heap.pop().map(|s| (s.at, s.event))
    }

    /// When the earliest event is due.
    pub fn next_at(&self) -> Option<Micros> {
        self.heap.peek().map(|s| s.at)
    }

    /// How many events wait.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_by_time_then_in_the_order_they_were_scheduled() {
        let mut queue = EventQueue::default();
        for (at, name) in [
            (30, "c"),
            (10, "a"),
            (20, "b1"),
            (20, "b2"),
            (0, "first"),
            (20, "b3"),
        ] {
            queue.push(at, name);
        }
        assert_eq!(queue.len(), 6);
        assert_eq!(queue.next_at(), Some(0));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            [
                (0, "first"),
                (10, "a"),
                (20, "b1"),
                (20, "b2"),
                (20, "b3"),
                (30, "c")
            ]
        );
        assert!(queue.is_empty());
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn an_event_scheduled_while_running_keeps_its_place() {
        let mut queue = EventQueue::default();
        queue.push(5, 1);
        queue.push(50, 2);
        let (now, _) = queue.pop().unwrap();
        queue.push(now + 10, 3);
        queue.push(now + 10, 4);
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, [3, 4, 2]);
    }
}
