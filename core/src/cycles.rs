//! Periodicity detection, the one exact early exit every kernel shares: the narrow ones,
//! in lanes or point by point, and the wide one.

/// Steps between two periodicity checks of one point: comparing every step would cost a
/// compare per step. With 8, the check costs a Cortex-M3 under 2 instructions a step
/// (BENCHMARKS.md, `just kernel-loops`). z is saved and compared only every so many steps, so
/// a cycle of period p shows once a window spans a multiple of both p and this interval.
pub(crate) const CHECK_EVERY: u32 = 8;

/// Periodicity detection: an exact test that a point never escapes.
///
/// A step is a function of z and c alone, and no step can overflow (`limits.rs`). The kernel
/// checks for escape before every step. So if z, after some steps, equals exactly a z it had
/// before, the orbit from there repeats forever through values that have all passed the escape
/// check: the point never escapes, and the plain loop would return the limit, whatever the
/// limit. The comparison is of raw integers, with no tolerance, so detection cannot change a
/// count; the float renderers' "close enough" tests cannot say that.
///
/// z is saved every so often and compared with every few steps ([`CHECK_EVERY`], and
/// `kernel.rs`'s `LANE_CHECK_EVERY` for lanes). A saved z is kept for at least [`FIRST_SAVE`] steps and for an
/// eighth of the steps taken so far, so short cycles are found soon after the orbit settles
/// and every cycle is found eventually (Brent's idea of growing windows, with a floor).
#[derive(Clone, Copy)]
pub(crate) struct Cycles {
    next_save: u32,
}

/// The shortest time a saved z is kept. A cycle whose period divides a window's length is found
/// within that window of the orbit settling into it (periods 1, 2, 4, 8, 16 and 32 with a
/// window of 32 and compares every 4 or 8 steps); others wait for the windows to grow.
const FIRST_SAVE: u32 = 32;

impl Cycles {
    pub(crate) fn new() -> Cycles {
        Cycles {
            next_save: FIRST_SAVE,
        }
    }

    /// Whether z after `steps` steps is worth comparing with the saved z: not before the
    /// first save, while the saved z is still the first, 0, to which an orbit hardly returns
    /// (comparing with it would be sound, only wasted). Most points of a view escape before
    /// that, and at low limits the compares cost more than they find.
    #[inline(always)]
    pub(crate) fn compare_now(&self, steps: u32) -> bool {
        steps > FIRST_SAVE
    }

    /// The step from which [`Cycles::save_now`] saves next.
    #[inline(always)]
    pub(crate) fn next_save(&self) -> u32 {
        self.next_save
    }

    /// Whether to save the z reached after `steps` steps.
    #[inline(always)]
    pub(crate) fn save_now(&mut self, steps: u32) -> bool {
        if steps < self.next_save {
            return false;
        }
        self.next_save = steps.saturating_add(FIRST_SAVE.max(steps / 8));
        true
    }
}
