//! The book of a consumer's offsets: which are safe to commit. A message's offset is committed
//! only once everything it caused is delivered and nothing holds it, and never past a message
//! still pending in the same partition.
use std::collections::{BTreeMap, HashMap};

use crate::handler::HoldKey;

/// Pending messages per partition, holds, and the next offset after the last one seen.
#[derive(Debug)]
pub(crate) struct Offsets<K> {
    /// Per partition: offset -> deliveries it still waits for.
    pending: HashMap<i32, BTreeMap<i64, u32>>,
    /// Offsets a handler holds, by its key: the first offset held on each partition (the
    /// assembler: a job's first message on every partition its tiles came on, until the job
    /// is written; a job's tiles share a partition unless partitions were added mid-job or
    /// a copy was forged on another).
    held: HashMap<K, BTreeMap<i32, i64>>,
    next: HashMap<i32, i64>,
    committed: HashMap<i32, i64>,
    /// A delivery failed for good: nothing at or after it may be committed.
    failed: Option<(i32, i64)>,
}

impl<K> Default for Offsets<K> {
    fn default() -> Self {
        Offsets {
            pending: HashMap::new(),
            held: HashMap::new(),
            next: HashMap::new(),
            committed: HashMap::new(),
            failed: None,
        }
    }
}

impl<K: HoldKey> Offsets<K> {
    /// A message was taken; `deliveries` things it caused are still to be delivered.
    pub(crate) fn begin(&mut self, partition: i32, offset: i64, deliveries: u32) {
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

    /// The first delivery that failed for good, if one did.
    pub(crate) fn failed(&self) -> Option<(i32, i64)> {
        self.failed
    }

    /// One thing a message caused was delivered, or failed for good: then the message stays
    /// pending for ever, so no commit of its partition passes it.
    pub(crate) fn delivered(&mut self, partition: i32, offset: i64, ok: bool) {
        if !ok {
            self.failed.get_or_insert((partition, offset));
            return;
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

    /// Holds a message's offset under `key` until [`Offsets::release`]; a key already held
    /// on that partition keeps its first offset there.
    pub(crate) fn hold(&mut self, key: K, partition: i32, offset: i64) {
        self.held
            .entry(key)
            .or_default()
            .entry(partition)
            .or_insert(offset);
    }

    /// Ends a hold, on every partition.
    pub(crate) fn release(&mut self, key: K) {
        self.held.remove(&key);
    }

    /// Where a hold is: its first offset on each partition.
    pub(crate) fn held(&self, key: K) -> Vec<(i32, i64)> {
        self.held
            .get(&key)
            .map(|at| at.iter().map(|(&p, &o)| (p, o)).collect())
            .unwrap_or_default()
    }

    /// The offset after the last message taken from `partition`, if one was.
    pub(crate) fn next(&self, partition: i32) -> Option<i64> {
        self.next.get(&partition).copied()
    }

    /// Whether a message was taken before: it comes again after a rewind.
    pub(crate) fn seen(&self, partition: i32, offset: i64) -> bool {
        self.next.get(&partition).is_some_and(|&next| offset < next)
    }

    /// Offsets to commit now (the next offset to read, per partition) that differ from what
    /// was committed last; marks them committed.
    pub(crate) fn take_commits(&mut self) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        let mut held: HashMap<i32, i64> = HashMap::new();
        for (&partition, &offset) in self.held.values().flatten() {
            let oldest = held.entry(partition).or_insert(offset);
            *oldest = (*oldest).min(offset);
        }
        for (&partition, &next) in &self.next {
            let pending = self
                .pending
                .get(&partition)
                .and_then(|p| p.keys().next().copied());
            let held = held.get(&partition).copied();
            let safe = [pending, held].into_iter().flatten().fold(next, i64::min);
            if self.committed.get(&partition) != Some(&safe) {
                self.committed.insert(partition, safe);
                out.push((partition, safe));
            }
        }
        out
    }

    /// Forgets partitions this consumer no longer owns, and the holds on them; returns the
    /// keys now held nowhere, whose holders must forget them too. A key still held on a
    /// partition kept stays: its job, spread over partitions (added mid-job, or a copy sent
    /// elsewhere), keeps what it has, and completes if the partitions it lost come back.
    pub(crate) fn forget(&mut self, partitions: &[i32]) -> Vec<K> {
        for partition in partitions {
            self.pending.remove(partition);
            self.next.remove(partition);
            self.committed.remove(partition);
        }
        let mut lost = Vec::new();
        self.held.retain(|&key, at| {
            at.retain(|partition, _| !partitions.contains(partition));
            if at.is_empty() {
                lost.push(key);
            }
            !at.is_empty()
        });
        lost.sort();
        lost
    }

    /// A commit of these partitions failed: they are committed again at the next chance.
    pub(crate) fn commit_failed(&mut self, partitions: &[i32]) {
        for partition in partitions {
            self.committed.remove(partition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Offsets;
    use crate::handler::HoldKey;

    impl HoldKey for u64 {}

    #[test]
    fn commits_stop_below_the_oldest_undelivered_message() {
        let mut offsets = Offsets::<u64>::default();
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
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 1, 1);
        offsets.begin(0, 2, 1);
        offsets.delivered(0, 1, false);
        offsets.delivered(0, 2, true);
        assert_eq!(offsets.take_commits(), vec![(0, 1)]);
        assert_eq!(offsets.failed(), Some((0, 1)));
    }

    #[test]
    fn messages_that_caused_nothing_are_committed_at_once() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(3, 7, 0);
        assert_eq!(offsets.take_commits(), vec![(3, 8)]);
    }

    /// The assembler's rule: commit below the oldest unfinished job.
    #[test]
    fn commits_stop_below_the_oldest_hold_until_it_is_released() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 4, 0);
        offsets.hold(7, 0, 4);
        offsets.begin(0, 5, 0);
        offsets.hold(8, 0, 5);
        offsets.begin(0, 6, 0);
        offsets.hold(7, 0, 6); // the same job again: its first offset stays
        assert_eq!(offsets.take_commits(), vec![(0, 4)]);
        offsets.release(7);
        assert_eq!(offsets.take_commits(), vec![(0, 5)]);
        offsets.release(8);
        assert_eq!(offsets.take_commits(), vec![(0, 7)]);
    }

    #[test]
    fn a_message_before_the_furthest_read_is_seen_until_its_partition_is_forgotten() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 9, 0);
        offsets.hold(1, 0, 4);
        assert!(offsets.seen(0, 4) && offsets.seen(0, 9));
        assert!(!offsets.seen(0, 10) && !offsets.seen(1, 0));
        assert_eq!(offsets.held(1), vec![(0, 4)]);
        offsets.forget(&[0]);
        assert!(!offsets.seen(0, 4));
        assert_eq!(offsets.held(1), vec![]);
    }

    #[test]
    fn forgetting_a_partition_gives_back_its_holds() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 1, 0);
        offsets.hold(1, 0, 1);
        offsets.begin(1, 1, 0);
        offsets.hold(2, 1, 1);
        assert_eq!(offsets.forget(&[0]), vec![1]);
        assert_eq!(offsets.take_commits(), vec![(1, 1)]);
    }

    /// A job whose tiles came on two partitions (partitions added mid-job, or a forged copy
    /// on another) is held on both: before, the hold sat on the first partition it was seen
    /// on, and commits on the other passed its tiles, lost to a crash.
    #[test]
    fn a_key_seen_on_two_partitions_holds_each_at_its_first_offset() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 10, 0);
        offsets.hold(7, 0, 10);
        offsets.begin(1, 3, 0);
        offsets.hold(7, 1, 3);
        offsets.begin(1, 4, 0);
        offsets.hold(7, 1, 4);
        let mut commits = offsets.take_commits();
        commits.sort();
        assert_eq!(commits, vec![(0, 10), (1, 3)]);
        assert_eq!(offsets.held(7), vec![(0, 10), (1, 3)]);
        offsets.release(7);
        commits = offsets.take_commits();
        commits.sort();
        assert_eq!(commits, vec![(0, 11), (1, 5)]);
    }

    /// Before, a job that lost one of its partitions was given up on all of them: its
    /// tiles on the partition kept were committed past, and when the other partition came
    /// back (a second assembler joined, then left) the job could never complete.
    #[test]
    fn a_key_that_loses_one_of_its_partitions_stays_held_on_the_others() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 1, 0);
        offsets.hold(7, 0, 1);
        offsets.begin(1, 1, 0);
        offsets.hold(7, 1, 1);
        offsets.hold(8, 1, 1);
        assert_eq!(
            offsets.forget(&[0]),
            Vec::<u64>::new(),
            "both still held on partition 1"
        );
        assert_eq!(offsets.held(7), vec![(1, 1)]);
        assert_eq!(offsets.forget(&[1]), vec![7, 8]);
    }

    /// Before, only the first failure was kept: every other failed message was committed
    /// past, and its request never answered.
    #[test]
    fn no_failed_delivery_on_any_partition_is_committed_past() {
        let mut offsets = Offsets::<u64>::default();
        for partition in [0, 1] {
            for offset in [5, 6] {
                offsets.begin(partition, offset, 1);
            }
        }
        offsets.delivered(0, 5, false);
        offsets.delivered(1, 5, true);
        offsets.delivered(1, 6, false);
        offsets.delivered(0, 6, true);
        let mut commits = offsets.take_commits();
        commits.sort();
        assert_eq!(commits, vec![(0, 5), (1, 6)]);
        assert_eq!(offsets.failed(), Some((0, 5)));
    }

    #[test]
    fn a_failed_commit_is_made_again() {
        let mut offsets = Offsets::<u64>::default();
        offsets.begin(0, 3, 0);
        assert_eq!(offsets.take_commits(), vec![(0, 4)]);
        assert_eq!(offsets.take_commits(), vec![]);
        offsets.commit_failed(&[0]);
        assert_eq!(offsets.take_commits(), vec![(0, 4)]);
    }
}
