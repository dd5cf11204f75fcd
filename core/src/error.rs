//! Why a job, a view or a tile is refused.
use core::fmt;

/// Why a job, a view or a tile was refused. Each says what to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JobError {
    /// A corner's text is not `RE,IM` with two decimal numbers in (-8, 8).
    BadCorner,
    /// A centre's text is not `RE,IM` with two decimal numbers in (-8, 8).
    BadCentre,
    /// A zoom's text is not a positive number like `1E50` or `5.00E227`.
    BadZoom,
    /// Width or height is zero.
    EmptyImage,
    /// The view needs a format wider than the widest (4,096 bits).
    TooDeep,
    /// Width or height is above [`crate::limits::MAX_SIDE`].
    ImageTooLarge,
    /// Tile width or height is zero.
    EmptyTile,
    /// A tile has more than [`crate::limits::MAX_TILE_PIXELS`] pixels.
    TileTooLarge,
    /// The bottom-right corner is not right of the top-left one.
    NotLeftToRight,
    /// The bottom-right corner is not below the top-left one.
    NotTopToBottom,
    /// The step between columns rounds to zero in this format.
    UnresolvableX,
    /// The step between rows rounds to zero in this format.
    UnresolvableY,
    /// Some pixel's c lies outside the safe range [`crate::limits::SAFE_BOUND`].
    OutOfRange,
    /// The iteration limit is zero.
    NoIterations,
    /// The tile index is past the job's last tile.
    NoSuchTile,
    /// The output buffer is shorter than the tile.
    BufferTooSmall,
    /// The job's reference orbit does not fit the room given for it.
    OrbitTooLong,
    /// A reference orbit was asked of a job whose kernel is not perturbation.
    NotPerturbation,
    /// A perturbation job's tiles need its reference orbit ([`crate::render_tile_perturbed`]),
    /// and perturbation-v2's its BLA table too ([`crate::Reference::with_table`]).
    NeedsReference,
    /// The samples a side are not 1 to [`crate::limits::MAX_SAMPLES`], or do not divide the
    /// grid's sides ([`crate::Job::samples`]).
    BadSamples,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobError::BadCorner => {
                "a corner must be RE,IM with decimal numbers within -3..3, like -2.2,1.2"
            }
            JobError::BadCentre => {
                "a centre must be RE,IM with decimal numbers within -3..3 \
                 (at most 4100 digits each), like -0.75,0.1"
            }
            JobError::BadZoom => {
                "a zoom must be a positive number like 1E50 or 5.00E227 (the view is 4/zoom \
                 high), from 1E-1300 to below 1E1301, with at most 38 significant digits"
            }
            JobError::EmptyImage => "width and height must be at least 1",
            JobError::ImageTooLarge => "width and height must be at most 65535",
            JobError::EmptyTile => "tile width and height must be at least 1",
            JobError::TileTooLarge => "a tile must have at most 4096 pixels (e.g. 64x64)",
            JobError::NotLeftToRight => "bottom-right must be right of top-left",
            JobError::NotTopToBottom => "bottom-right must be below top-left",
            JobError::UnresolvableX => {
                "the step between columns rounds to zero in this format: \
                 use a wider format (--format auto picks one), a wider view or fewer columns"
            }
            JobError::UnresolvableY => {
                "the step between rows rounds to zero in this format: \
                 use a wider format (--format auto picks one), a taller view or fewer rows"
            }
            JobError::OutOfRange => "every pixel must lie within -3..3 on both axes",
            JobError::NoIterations => "the iteration limit must be at least 1",
            JobError::NoSuchTile => "the tile index is past the job's last tile",
            JobError::BufferTooSmall => "the output buffer is smaller than the tile",
            JobError::OrbitTooLong => {
                "the reference orbit does not fit in the memory allowed for it: \
                 lower the iteration limit, or allow more (--max-orbit-mib)"
            }
            JobError::NotPerturbation => "only a perturbation job has a reference orbit",
            JobError::NeedsReference => {
                "a perturbation job's tiles need its reference orbit (and for \
                 perturbation-v2, its BLA table)"
            }
            JobError::BadSamples => {
                "samples must be 1 to 8 a side, and the grid's sides (the image's times the \
                 samples, at most 65535) whole multiples of them"
            }
            JobError::TooDeep => {
                "the view is too deep for the widest format (4096 bits): zoom out, or use \
                 fewer pixels or iterations"
            }
        })
    }
}

impl core::error::Error for JobError {}
