//! The jobs set aside to make room: a small record each, indexed so that every question the
//! assembler asks of them (the least of them, the idle ones, the wanted ones) costs the
//! answer's size, not the number of records: a flood of forged jobs makes many.
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::JobKey;

/// Fewest tiles first, then the longest idle: who is set aside, or forgotten, first.
pub(super) type Rank = (u32, Instant);

/// What a job set aside keeps: what it had, and when it last got a tile.
#[derive(Debug, Clone, Copy)]
pub(super) struct Record {
    /// Tiles it had when set aside: its progress until they are back.
    pub(super) standing: u32,
    pub(super) last_seen: Instant,
    /// It got a new tile since it was set aside: it is read again once there is room.
    pub(super) wanted: bool,
}

impl Record {
    pub(super) fn rank(&self) -> Rank {
        (self.standing, self.last_seen)
    }
}

/// The records, and their indexes by rank, by idle time and of the wanted ones.
#[derive(Default)]
pub(super) struct Aside {
    records: HashMap<JobKey, Record>,
    by_rank: BTreeSet<(Rank, JobKey)>,
    by_time: BTreeSet<(Instant, JobKey)>,
    wanted: BTreeSet<(Rank, JobKey)>,
}

impl Aside {
    pub(super) fn get(&self, key: &JobKey) -> Option<&Record> {
        self.records.get(key)
    }

    pub(super) fn insert(&mut self, key: JobKey, record: Record) {
        self.remove(&key);
        self.index(key, &record);
        self.records.insert(key, record);
    }

    pub(super) fn remove(&mut self, key: &JobKey) -> Option<Record> {
        let record = self.records.remove(key)?;
        self.by_rank.remove(&(record.rank(), *key));
        self.by_time.remove(&(record.last_seen, *key));
        self.wanted.remove(&(record.rank(), *key));
        Some(record)
    }

    /// A job set aside got a tile at `now`: it is wanted back.
    pub(super) fn touch(&mut self, key: &JobKey, now: Instant) {
        if let Some(mut record) = self.remove(key) {
            record.last_seen = record.last_seen.max(now);
            record.wanted = true;
            self.insert(*key, record);
        }
    }

    /// The records, least first: fewest tiles, then idle longest.
    pub(super) fn least(&self) -> impl Iterator<Item = (Rank, JobKey)> + '_ {
        self.by_rank.iter().copied()
    }

    /// The wanted records, most progress first.
    pub(super) fn wanted(&self) -> Vec<(Rank, JobKey)> {
        self.wanted.iter().rev().copied().collect()
    }

    /// The records that last got a tile before `time`.
    pub(super) fn seen_before(&self, time: Instant) -> Vec<JobKey> {
        self.by_time
            .iter()
            .take_while(|(seen, _)| *seen < time)
            .map(|&(_, key)| key)
            .collect()
    }

    fn index(&mut self, key: JobKey, record: &Record) {
        self.by_rank.insert((record.rank(), key));
        self.by_time.insert((record.last_seen, key));
        if record.wanted {
            self.wanted.insert((record.rank(), key));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixedbrot_core::JobId;
    use fixedbrot_tests::cases::default_job;
    use std::time::Duration;

    fn key(id: u64) -> JobKey {
        JobKey::new(JobId(id), &default_job(fixedbrot_core::Format::I4F28, 64))
    }

    #[test]
    fn the_indexes_follow_every_change() {
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        let mut aside = Aside::default();
        for (id, standing, seen) in [(1, 3, 5), (2, 1, 9), (3, 1, 2)] {
            let record = Record {
                standing,
                last_seen: at(seen),
                wanted: false,
            };
            aside.insert(key(id), record);
        }
        let least: Vec<u64> = aside.least().map(|(_, k)| k.id.0).collect();
        assert_eq!(least, vec![3, 2, 1], "fewest tiles, then idle longest");
        assert_eq!(aside.seen_before(at(6)), vec![key(3), key(1)]);
        aside.touch(&key(3), at(20));
        assert_eq!(aside.wanted(), vec![((1, at(20)), key(3))]);
        assert_eq!(aside.seen_before(at(6)), vec![key(1)]);
        let least: Vec<u64> = aside.least().map(|(_, k)| k.id.0).collect();
        assert_eq!(least, vec![2, 3, 1]);
        aside.remove(&key(3));
        assert!(aside.wanted().is_empty());
        assert_eq!(aside.records.len(), 2);
    }
}
