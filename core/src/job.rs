//! A job: its format, its view, its size and tiles, its iteration limit; and how it travels.
//!
//! On the wire a job is postcard of its fields in order (the kernel since version 4, whether
//! it asks for smooth fractions and its samples last, since version 5), with the view's
//! numbers as their
//! format says: a narrow format's as four `i64` varints (the bytes of wire version 2), a wide
//! one's as four runs of `4n` little-endian bytes, `n` the format's limbs. The format comes
//! first, so a reader knows the width before it reads a number, and a forged message cannot
//! make it read more than the widest format's.
use core::fmt;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::JobError;
use crate::format::Format;
use crate::grid::{Grid, Rect};
use crate::limits::{MAX_SAMPLES, MAX_WIDE_LIMBS};
use crate::view::{NarrowView, View};
use crate::wide::Fixed;

/// A job's identity, chosen by whoever generates it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct JobId(pub u64);

/// How a job's pixels are computed: the rules their counts follow.
///
/// Variant order is wire order: append, never reorder. A change to a kernel's rules is a new
/// variant, so that a job names the rules of its counts, and a new variant comes with a new
/// wire version, so that a worker that does not know it refuses its requests as another
/// version (within a version, a kernel it does not know is a malformed message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kernel {
    /// Direct iteration in the job's format ([`crate::escape`]).
    #[default]
    Direct,
    /// Perturbation against a reference orbit, version 1 ([`crate::Reference`]; the rules
    /// are in `perturbation.rs`).
    PerturbationV1,
    /// Version 1 skipping iterations by bilinear approximation: a BLA table built in
    /// integers from the reference orbit (`bla.rs`).
    PerturbationV2,
}

impl Kernel {
    /// Every kernel, by name, as [`fmt::Display`] writes it.
    pub const ALL: [Kernel; 3] = [
        Kernel::Direct,
        Kernel::PerturbationV1,
        Kernel::PerturbationV2,
    ];

    /// Its name: `direct` or `perturbation-v1`.
    pub const fn name(self) -> &'static str {
        match self {
            Kernel::Direct => "direct",
            Kernel::PerturbationV1 => "perturbation-v1",
            Kernel::PerturbationV2 => "perturbation-v2",
        }
    }

    /// Whether it computes against a reference orbit ([`crate::Reference`]).
    pub const fn is_perturbation(self) -> bool {
        !matches!(self, Kernel::Direct)
    }

    /// Whether it skips iterations by a BLA table, which its reference must carry.
    pub const fn skips(self) -> bool {
        matches!(self, Kernel::PerturbationV2)
    }

    /// The faster kernel for `format`, as measured (BENCHMARKS.md): perturbation in every
    /// wide format, whose direct steps cost 30 or more narrow ones, and direct iteration in
    /// I4F28 and I4F60, whose steps are cheaper than a perturbed one.
    pub const fn auto(format: Format) -> Kernel {
        match format {
            Format::Wide(_) => Kernel::PerturbationV2,
            Format::I4F28 | Format::I4F60 => Kernel::Direct,
        }
    }

    /// The kernel its name names; `perturbation` names the latest version.
    pub fn from_name(name: &str) -> Option<Kernel> {
        match name {
            "perturbation" => Some(Kernel::PerturbationV2),
            _ => Kernel::ALL.into_iter().find(|kernel| kernel.name() == name),
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a worker needs to compute any tile of a job.
///
/// `L` is the room of its view's numbers in limbs ([`Fixed`]): the widest format's by
/// default, less on a board that computes narrower formats only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Job<const L: usize = MAX_WIDE_LIMBS> {
    /// The fixed-point format of the view and of the arithmetic.
    pub format: Format,
    /// The view, in numbers of `format`.
    pub view: View<L>,
    /// Image and tile sizes.
    pub grid: Grid,
    /// Iteration limit N: a count of N means inside the set.
    pub iterations: u32,
    /// How its pixels are computed.
    pub kernel: Kernel,
    /// Whether its results carry each pixel's smooth fraction beside its count
    /// ([`crate::smooth`]; wire version 5). A job that asks for counts only keeps its
    /// results, and a board's work, as lean as before.
    pub smooth: bool,
    /// Points computed in each pixel along each side, for antialiasing (wire version 5): the
    /// grid and view are of the points, each pixel an `samples × samples` block of them, and
    /// the image averages their colours. 1 is one point a pixel. Workers compute the grid as
    /// any other, so a job of samples spreads over them like any other.
    pub samples: u8,
}

impl<const L: usize> Job<L> {
    /// Checks every part of a job; the kernel and the wire accept only jobs that pass.
    pub fn check(&self) -> Result<(), JobError> {
        self.grid.check()?;
        if self.iterations == 0 {
            return Err(JobError::NoIterations);
        }
        let samples = u32::from(self.samples);
        let whole = |side: u32| side.is_multiple_of(samples);
        if !(1..=MAX_SAMPLES).contains(&self.samples)
            || !whole(self.grid.width)
            || !whole(self.grid.height)
        {
            return Err(JobError::BadSamples);
        }
        self.view
            .check(self.format, self.grid.width, self.grid.height)
    }

    /// How many smooth fractions a tile of `pixels` pixels carries: one a pixel if the job
    /// asks for them, else none. The one rule a result's check, a worker's buffers and an
    /// assembler's store follow.
    pub fn fractions(&self, pixels: usize) -> usize {
        if self.smooth {
            pixels
        } else {
            0
        }
    }

    /// What computing `tile` costs at most, in kernel steps of a narrow format: its pixels
    /// times the iteration limit times the cost of a step of its kernel, direct in its format
    /// ([`Format::step_cost`]) or perturbed ([`PERTURBED_STEP_COST`]), and for perturbation
    /// the reference orbit, which the tile's worker may have to compute. What `--max-work`
    /// bounds.
    pub fn work(&self, tile: Rect) -> u64 {
        let steps = (tile.pixels() as u64).saturating_mul(u64::from(self.iterations));
        let direct = self.format.step_cost();
        match self.kernel {
            Kernel::Direct => steps.saturating_mul(direct),
            Kernel::PerturbationV1 | Kernel::PerturbationV2 => steps
                .saturating_mul(PERTURBED_STEP_COST)
                .saturating_add(u64::from(self.iterations).saturating_mul(direct)),
        }
    }
}

/// What a perturbed step costs in narrow steps, whatever the format: on x86-64 one takes 28
/// to 58 ns where an I4F60 step takes about 7 (BENCHMARKS.md, `just bench-perturbation`),
/// and twice that bounds the slow ones near escape and rebasing.
pub const PERTURBED_STEP_COST: u64 = 16;

impl<const L: usize> Serialize for Job<L> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_tuple(7)?;
        fields.serialize_element(&self.format)?;
        fields.serialize_element(&ViewBits(&self.view))?;
        fields.serialize_element(&self.grid)?;
        fields.serialize_element(&self.iterations)?;
        fields.serialize_element(&self.kernel)?;
        fields.serialize_element(&self.smooth)?;
        fields.serialize_element(&self.samples)?;
        fields.end()
    }
}

impl<'de, const L: usize> Deserialize<'de> for Job<L> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Job<L>, D::Error> {
        deserializer.deserialize_tuple(7, JobVisitor::<L>)
    }
}

/// A view's numbers on the wire: four `i64` if they have one or two limbs, else four runs of
/// little-endian bytes.
struct ViewBits<'a, const L: usize>(&'a View<L>);

impl<const L: usize> Serialize for ViewBits<'_, L> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let view = self.0;
        let numbers = [view.origin_re, view.origin_im, view.step_x, view.step_y];
        let mut fields = serializer.serialize_tuple(4)?;
        match view.narrow() {
            Some(narrow) if view.origin_re.width().limbs() <= 2 => {
                for raw in [
                    narrow.origin_re,
                    narrow.origin_im,
                    narrow.step_x,
                    narrow.step_y,
                ] {
                    fields.serialize_element(&raw)?;
                }
            }
            _ => {
                for number in &numbers {
                    fields.serialize_element(&LimbBytes(number))?;
                }
            }
        }
        fields.end()
    }
}

/// A wide number's limbs as `4n` bytes, little-endian.
struct LimbBytes<'a, const L: usize>(&'a Fixed<L>);

impl<const L: usize> Serialize for LimbBytes<'_, L> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let limbs = self.0.limbs();
        let mut bytes = serializer.serialize_tuple(4 * limbs.len())?;
        for byte in limbs.iter().flat_map(|limb| limb.to_le_bytes()) {
            bytes.serialize_element(&byte)?;
        }
        bytes.end()
    }
}

struct JobVisitor<const L: usize>;

impl<'de, const L: usize> Visitor<'de> for JobVisitor<L> {
    type Value = Job<L>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a job")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Job<L>, A::Error> {
        let missing = || de::Error::custom("a job ends early");
        let format: Format = seq.next_element()?.ok_or_else(missing)?;
        if format.width().limbs() > L {
            return Err(de::Error::custom("a format wider than this worker holds"));
        }
        let view = seq
            .next_element_seed(ViewSeed::<L>(format))?
            .ok_or_else(missing)?;
        let grid = seq.next_element()?.ok_or_else(missing)?;
        let iterations = seq.next_element()?.ok_or_else(missing)?;
        let kernel = seq.next_element()?.ok_or_else(missing)?;
        let smooth = seq.next_element()?.ok_or_else(missing)?;
        let samples = seq.next_element()?.ok_or_else(missing)?;
        Ok(Job {
            format,
            view,
            grid,
            iterations,
            kernel,
            smooth,
            samples,
        })
    }
}

/// Reads a view's four numbers as its format says they are written.
struct ViewSeed<const L: usize>(Format);

impl<'de, const L: usize> DeserializeSeed<'de> for ViewSeed<L> {
    type Value = View<L>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<View<L>, D::Error> {
        deserializer.deserialize_tuple(4, self)
    }
}

impl<'de, const L: usize> Visitor<'de> for ViewSeed<L> {
    type Value = View<L>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a view")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<View<L>, A::Error> {
        let missing = || de::Error::custom("a view ends early");
        let Format::Wide(width) = self.0 else {
            let mut raw = [0i64; 4];
            for part in &mut raw {
                *part = seq.next_element()?.ok_or_else(missing)?;
            }
            let [origin_re, origin_im, step_x, step_y] = raw;
            let narrow = NarrowView {
                origin_re,
                origin_im,
                step_x,
                step_y,
            };
            // An I4F28 number that does not fit an i32 would wrap into one that does: refuse
            // it here, where its bits are still whole.
            let fits = |raw: i64| self.0 != Format::I4F28 || i32::try_from(raw).is_ok();
            if !raw.into_iter().all(fits) {
                return Err(de::Error::custom("an I4F28 number beyond 32 bits"));
            }
            return Ok(narrow.in_format(self.0));
        };
        // Read in place: a view of the widest format is 2 KiB, and a board's stack is small.
        let mut view = View {
            origin_re: Fixed::zero_in(width),
            origin_im: Fixed::zero_in(width),
            step_x: Fixed::zero_in(width),
            step_y: Fixed::zero_in(width),
        };
        for number in [
            &mut view.origin_re,
            &mut view.origin_im,
            &mut view.step_x,
            &mut view.step_y,
        ] {
            seq.next_element_seed(NumberSeed(number))?
                .ok_or_else(missing)?;
        }
        Ok(view)
    }
}

/// Reads one number of a wide format into the zero of its width: exactly its `4n` bytes,
/// never more.
struct NumberSeed<'a, const L: usize>(&'a mut Fixed<L>);

impl<'de, const L: usize> DeserializeSeed<'de> for NumberSeed<'_, L> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let len = 4 * self.0.limbs().len();
        deserializer.deserialize_tuple(len, self)
    }
}

impl<'de, const L: usize> Visitor<'de> for NumberSeed<'_, L> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", 4 * self.0.limbs().len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for limb in self.0.limbs_mut() {
            let mut bytes = [0u8; 4];
            for byte in &mut bytes {
                *byte = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("a number ends early"))?;
            }
            *limb = u32::from_le_bytes(bytes);
        }
        Ok(())
    }
}
