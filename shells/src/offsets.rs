//! Which offsets are safe to commit: a message's offset is committed only once everything it
//! caused is delivered, and never past a message still in flight in the same partition.
use std::collections::{BTreeMap, HashMap};

/// In-flight messages per partition, and the next offset after the last one seen.
#[derive(Debug, Default)]
pub struct Offsets {
    pending: HashMap<i32, BTreeMap<i64, u32>>,
    next: HashMap<i32, i64>,
    committed: HashMap<i32, i64>,
    /// A delivery failed for good: nothing at or after it may be committed.
    pub failed: Option<(i32, i64)>,
}

impl Offsets {
    /// A message was taken; `deliveries` things it caused are still to be delivered.
    pub fn begin(&mut self, partition: i32, offset: i64, deliveries: u32) {
        if deliveries > 0 {
            *self
                .pending
                .entry(partition)
                .or_default()
                .entry(offset)
                .or_default() += deliveries;
        }
        let next = self.next.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// One thing a message caused was delivered (or failed for good).
    pub fn delivered(&mut self, partition: i32, offset: i64, ok: bool) {
        if !ok && self.failed.is_none() {
            self.failed = Some((partition, offset));
        }
        let Some(pending) = self.pending.get_mut(&partition) else {
            return;
        };
        if let Some(count) = pending.get_mut(&offset) {
            *count -= 1;
            if *count == 0 {
                pending.remove(&offset);
            }
        }
    }

    /// Offsets to commit now (the next offset to read, per partition) that differ from what
    /// was committed last; marks them committed.
    pub fn take_commits(&mut self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (&partition, &next) in &self.next {
            let safe = self
                .pending
                .get(&partition)
                .and_then(|p| p.keys().next().copied())
                .unwrap_or(next);
            let safe = match self.failed {
                Some((p, o)) if p == partition => safe.min(o),
                _ => safe,
            };
            if self.committed.get(&partition) != Some(&safe) {
                self.committed.insert(partition, safe);
                out.push((partition, safe));
            }
        }
        out
    }

    /// Forgets partitions this consumer no longer owns.
    pub fn forget(&mut self, partition: i32) {
        self.pending.remove(&partition);
        self.next.remove(&partition);
        self.committed.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::Offsets;

    #[test]
    fn commits_stop_below_the_oldest_undelivered_message() {
        let mut offsets = Offsets::default();
        offsets.begin(0, 10, 1);
        offsets.begin(0, 11, 1);
        offsets.begin(1, 5, 1);
        offsets.delivered(0, 11, true);
        let mut commits = offsets.take_commits();
        commits.sort();
        assert_eq!(commits, vec![(0, 10), (1, 5)]);
        offsets.delivered(0, 10, true);
        assert_eq!(offsets.take_commits(), vec![(0, 12)]);
        assert_eq!(offsets.take_commits(), vec![], "nothing new");
    }

    #[test]
    fn a_failed_delivery_is_never_committed_past() {
        let mut offsets = Offsets::default();
        offsets.begin(0, 1, 1);
        offsets.begin(0, 2, 1);
        offsets.delivered(0, 1, false);
        offsets.delivered(0, 2, true);
        assert_eq!(offsets.take_commits(), vec![(0, 1)]);
        assert_eq!(offsets.failed, Some((0, 1)));
    }

    #[test]
    fn messages_that_caused_nothing_are_committed_at_once() {
        let mut offsets = Offsets::default();
        offsets.begin(3, 7, 0);
        assert_eq!(offsets.take_commits(), vec![(3, 8)]);
    }
}
