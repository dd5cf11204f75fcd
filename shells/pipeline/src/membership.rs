//! A consumer-group member's state across rebalances, without a consumer: the partitions it
//! owns and how often each was taken from it, its offset book (what may be committed), the
//! holds its handler asked for, and the holds a rebalance took. The shell's loop feeds it what
//! happened and does what it says; every rebalance, rewind and hold case is a unit test here.
use std::collections::{BTreeMap, BTreeSet};

use crate::handler::{Answer, HoldKey, Holds};
use crate::offsets::Offsets;

/// A member's partitions, epochs, book and holds.
#[derive(Debug)]
pub struct Membership<K> {
    book: Offsets<K>,
    owned: BTreeSet<i32>,
    /// How often each partition was revoked: an answer to a message taken before its
    /// partition was revoked is not this member's to commit, even if it has it back.
    epochs: BTreeMap<i32, u64>,
    /// Holds lost to rebalances, for the handler when it is home.
    lost: Vec<K>,
    /// Partitions were assigned since the handler was told.
    assigned: bool,
}

/// A message as the member took it: a second reading or not, and in which epoch of its
/// partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Its partition and offset.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// It was taken before: it comes again after a rewind.
    pub again: bool,
    epoch: u64,
}

impl<K> Default for Membership<K> {
    fn default() -> Self {
        Membership {
            book: Offsets::default(),
            owned: BTreeSet::new(),
            epochs: BTreeMap::new(),
            lost: Vec::new(),
            assigned: false,
        }
    }
}

impl<K: HoldKey> Membership<K> {
    /// Partitions were assigned to the member (cooperatively: added to what it has).
    pub fn assign(&mut self, partitions: &[i32]) {
        self.owned.extend(partitions);
        self.assigned = true;
    }

    /// Partitions were revoked: their next owner reads them from the last commit. Their
    /// epochs move on, so answers to messages taken before do not count, and the holds on
    /// them go to [`Membership::take_lost`].
    pub fn revoke(&mut self, partitions: &[i32]) {
        for partition in partitions {
            self.owned.remove(partition);
            *self.epochs.entry(*partition).or_default() += 1;
        }
        let lost = self.book.forget(partitions);
        self.lost.extend(lost);
    }

    /// The partitions owned now.
    pub fn owned(&self) -> impl Iterator<Item = i32> + '_ {
        self.owned.iter().copied()
    }

    /// Holds lost to rebalances since the last call, for the handler.
    pub fn take_lost(&mut self) -> Vec<K> {
        std::mem::take(&mut self.lost)
    }

    /// Whether partitions were assigned since the last call (the handler is told, once).
    pub fn take_assigned(&mut self) -> bool {
        std::mem::take(&mut self.assigned)
    }

    /// Takes a message: whether this is a second reading, and its partition's epoch now.
    pub fn take(&self, partition: i32, offset: i64) -> Taken {
        Taken {
            partition,
            offset,
            again: self.book.seen(partition, offset),
            epoch: self.epoch(partition),
        }
    }

    /// Whether a message taken as `taken` is still this member's to commit: its partition is
    /// owned and was not revoked since (it may have come back, read again from its commit).
    pub fn owns(&self, taken: &Taken) -> bool {
        self.owned.contains(&taken.partition) && self.epoch(taken.partition) == taken.epoch
    }

    /// Books an answer that commits offsets itself (at least once): the message's offset
    /// waits for `deliveries` records and for its hold, if the answer holds it. `false` if
    /// the message is no longer this member's: nothing is booked.
    pub fn book(&mut self, taken: &Taken, deliveries: u32, answer: &Answer<K>) -> bool {
        if !self.owns(taken) {
            return false;
        }
        self.book.begin(taken.partition, taken.offset, deliveries);
        if let Some(key) = answer.hold {
            self.book.hold(key, taken.partition, taken.offset);
        }
        true
    }

    /// One record a message caused was delivered (or failed for good).
    pub fn delivered(&mut self, partition: i32, offset: i64, ok: bool) {
        self.book.delivered(partition, offset, ok);
    }

    /// The first delivery that failed for good, if one did: nothing at or after it is
    /// committed, and the member should end.
    pub fn failed(&self) -> Option<(i32, i64)> {
        self.book.failed()
    }

    /// Ends and rewinds holds; returns where to read again: the earliest held offset of
    /// each owned partition of the holds read again.
    pub fn apply(&mut self, holds: Holds<K>) -> BTreeMap<i32, i64> {
        for key in holds.release {
            self.book.release(key);
        }
        let held: Vec<(i32, i64)> = holds
            .read_again
            .into_iter()
            .flat_map(|key| self.book.held(key))
            .collect();
        self.rewinds(held)
    }

    /// Of partitions to read again from an offset, those owned, each from its earliest.
    pub fn rewinds(&self, at: impl IntoIterator<Item = (i32, i64)>) -> BTreeMap<i32, i64> {
        let mut from: BTreeMap<i32, i64> = BTreeMap::new();
        for (partition, offset) in at {
            if !self.owned.contains(&partition) {
                continue; // another member's now: it reads from the last commit anyway
            }
            let earliest = from.entry(partition).or_insert(offset);
            *earliest = (*earliest).min(offset);
        }
        from
    }

    /// The offset after the last message taken from `partition`, if one was.
    pub fn next(&self, partition: i32) -> Option<i64> {
        self.book.next(partition)
    }

    /// Offsets to commit now, per partition, that moved since the last call.
    pub fn commits(&mut self) -> Vec<(i32, i64)> {
        self.book.take_commits()
    }

    /// A commit of these partitions failed: they are committed again at the next chance.
    pub fn commit_failed(&mut self, partitions: &[i32]) {
        self.book.commit_failed(partitions);
    }

    fn epoch(&self, partition: i32) -> u64 {
        self.epochs.get(&partition).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::JobId;

    fn member(partitions: &[i32]) -> Membership<JobId> {
        let mut member = Membership::default();
        member.assign(partitions);
        assert!(member.take_assigned());
        member
    }

    fn holding(key: u64) -> Answer<JobId> {
        Answer {
            hold: Some(JobId(key)),
            ..Answer::default()
        }
    }

    fn sorted(mut commits: Vec<(i32, i64)>) -> Vec<(i32, i64)> {
        commits.sort();
        commits
    }

    #[test]
    fn an_answer_is_committed_once_its_records_are_delivered() {
        let mut member = member(&[0]);
        let taken = member.take(0, 5);
        assert!(member.book(&taken, 2, &Answer::default()));
        member.delivered(0, 5, true);
        assert_eq!(member.commits(), vec![(0, 5)]);
        member.delivered(0, 5, true);
        assert_eq!(member.commits(), vec![(0, 6)]);
    }

    #[test]
    fn a_delivery_that_fails_for_good_stops_commits_at_its_message() {
        let mut member = member(&[0]);
        for offset in [1, 2] {
            let taken = member.take(0, offset);
            member.book(&taken, 1, &Answer::default());
        }
        member.delivered(0, 2, true);
        member.delivered(0, 1, false);
        assert_eq!(member.failed(), Some((0, 1)));
        assert_eq!(member.commits(), vec![(0, 1)]);
    }

    /// A message taken before its partition was revoked, and answered after (long work), is
    /// not this member's to commit, even once the partition is back: its new epoch is read
    /// again from the last commit.
    #[test]
    fn an_answer_to_a_message_taken_before_a_revoke_is_not_booked() {
        let mut member = member(&[0, 1]);
        let before = member.take(0, 9);
        member.revoke(&[0]);
        assert!(!member.owns(&before));
        member.assign(&[0]);
        assert!(!member.owns(&before), "back, but in a new epoch");
        assert!(!member.book(&before, 1, &Answer::default()));
        assert_eq!(member.commits(), vec![], "nothing booked");
        let after = member.take(0, 9);
        assert!(member.owns(&after) && !after.again);
    }

    #[test]
    fn holds_on_a_revoked_partition_go_to_the_handler_once() {
        let mut member = member(&[0, 1]);
        let first = member.take(0, 3);
        member.book(&first, 0, &holding(7));
        let other = member.take(1, 4);
        member.book(&other, 0, &holding(8));
        member.revoke(&[0]);
        assert_eq!(member.take_lost(), vec![JobId(7)]);
        assert_eq!(member.take_lost(), vec![]);
        assert_eq!(member.commits(), vec![(1, 4)], "the other hold stands");
    }

    /// The assembler holds a job on every partition its tiles came on; losing one of them
    /// keeps the job, held on the others, and it completes if the lost one comes back.
    #[test]
    fn a_hold_on_two_partitions_is_lost_only_with_both() {
        let mut member = member(&[0, 1]);
        for (partition, offset) in [(0, 2), (1, 6)] {
            let taken = member.take(partition, offset);
            member.book(&taken, 0, &holding(7));
        }
        member.revoke(&[1]);
        assert_eq!(member.take_lost(), vec![]);
        assert_eq!(member.commits(), vec![(0, 2)]);
        member.revoke(&[0]);
        assert_eq!(member.take_lost(), vec![JobId(7)]);
    }

    #[test]
    fn a_job_read_again_rewinds_every_owned_partition_it_is_held_on_to_its_first_offset() {
        let mut member = member(&[0, 1, 2]);
        for (partition, offset) in [(0, 10), (0, 12), (1, 3), (2, 8)] {
            let taken = member.take(partition, offset);
            member.book(&taken, 0, &holding(if partition == 2 { 8 } else { 7 }));
        }
        let holds = Holds {
            release: vec![],
            read_again: vec![JobId(7)],
        };
        let rewinds = member.apply(holds);
        assert_eq!(rewinds, BTreeMap::from([(0, 10), (1, 3)]));
        // Read again, they are second readings up to where the partition was read.
        assert!(member.take(0, 10).again && member.take(0, 12).again);
        assert!(!member.take(0, 13).again);
    }

    #[test]
    fn rewinds_skip_partitions_another_member_owns_and_take_each_ones_earliest() {
        let member = member(&[0, 2]);
        let rewinds = member.rewinds([(0, 9), (1, 4), (0, 5), (2, 7)]);
        assert_eq!(rewinds, BTreeMap::from([(0, 5), (2, 7)]));
    }

    #[test]
    fn released_holds_let_commits_pass() {
        let mut member = member(&[0]);
        for offset in [4, 5, 6] {
            let taken = member.take(0, offset);
            member.book(&taken, 0, &holding(if offset == 5 { 8 } else { 7 }));
        }
        assert_eq!(member.commits(), vec![(0, 4)]);
        member.apply(Holds {
            release: vec![JobId(7)],
            read_again: vec![],
        });
        assert_eq!(member.commits(), vec![(0, 5)]);
        member.apply(Holds {
            release: vec![JobId(8)],
            read_again: vec![],
        });
        assert_eq!(sorted(member.commits()), vec![(0, 7)]);
    }

    #[test]
    fn an_assignment_is_told_to_the_handler_once() {
        let mut member: Membership<JobId> = Membership::default();
        assert!(!member.take_assigned());
        member.assign(&[3]);
        member.assign(&[4]);
        assert!(member.take_assigned());
        assert!(!member.take_assigned());
        assert_eq!(member.owned().collect::<Vec<_>>(), vec![3, 4]);
    }
}
