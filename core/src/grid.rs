//! The tile grid: how a job's pixels are cut into tiles, and tile index <-> pixel rectangle.
//!
//! Tiles are numbered row-major; tiles on the right and bottom edges are clipped to the image.
use crate::error::JobError;
use crate::limits::{MAX_SIDE, MAX_TILE_PIXELS};

/// The position of a tile in its job's row-major tile order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TileIndex(pub u32);

/// An image size and the tile size it is cut into, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Grid {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// Width of a full tile.
    pub tile_width: u32,
    /// Height of a full tile.
    pub tile_height: u32,
}

/// A rectangle of pixels within an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Rect {
    /// Number of pixels; at most [`MAX_TILE_PIXELS`] for a tile of a checked grid.
    pub const fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Copies `counts`, this rectangle's pixels row-major (counts, or their fractions), to
    /// where the rectangle lies in `image`, a row-major buffer `stride` pixels wide: the one
    /// way a tile (or a piece of one) joins a bigger picture. `None`, with nothing copied, if
    /// either does not fit.
    pub fn copy_into<T: Copy>(&self, counts: &[T], image: &mut [T], stride: u32) -> Option<()> {
        if counts.len() != self.pixels() || self.x as u64 + self.width as u64 > stride as u64 {
            return None;
        }
        if counts.is_empty() {
            return Some(());
        }
        let (width, stride) = (self.width as usize, stride as usize);
        let end = (self.y as usize)
            .checked_add(self.height as usize - 1)?
            .checked_mul(stride)?
            .checked_add(self.x as usize + width)?;
        if end > image.len() {
            return None;
        }
        for (row, line) in counts.chunks_exact(width).enumerate() {
            let start = (self.y as usize + row) * stride + self.x as usize;
            image[start..start + width].copy_from_slice(line);
        }
        Some(())
    }
}

impl Grid {
    /// Checks the sizes: image sides in `1..=MAX_SIDE`, tiles non-empty and at most
    /// [`MAX_TILE_PIXELS`]. Every other method assumes a grid that passed.
    pub const fn check(&self) -> Result<(), JobError> {
        if self.width == 0 || self.height == 0 {
            return Err(JobError::EmptyImage);
        }
        if self.width > MAX_SIDE || self.height > MAX_SIDE {
            return Err(JobError::ImageTooLarge);
        }
        if self.tile_width == 0 || self.tile_height == 0 {
            return Err(JobError::EmptyTile);
        }
        // u64: a hostile 2^32-1 square tile must not wrap into a small product.
        if self.tile_width as u64 * self.tile_height as u64 > MAX_TILE_PIXELS as u64 {
            return Err(JobError::TileTooLarge);
        }
        Ok(())
    }

    /// Tiles per row.
    pub const fn columns(&self) -> u32 {
        self.width.div_ceil(self.tile_width)
    }

    /// Rows of tiles.
    pub const fn rows(&self) -> u32 {
        self.height.div_ceil(self.tile_height)
    }

    /// Number of tiles. Fits a `u32`: a checked grid has at most 65,535² pixels.
    pub const fn tiles(&self) -> u32 {
        self.columns() * self.rows()
    }

    /// Number of pixels of the image.
    pub const fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }

    /// The pixels of a tile, clipped at the right and bottom edges; `None` past the last tile.
    pub const fn rect(&self, tile: TileIndex) -> Option<Rect> {
        if tile.0 >= self.tiles() {
            return None;
        }
        let x = tile.0 % self.columns() * self.tile_width;
        let y = tile.0 / self.columns() * self.tile_height;
        Some(Rect {
            x,
            y,
            width: min(self.tile_width, self.width - x),
            height: min(self.tile_height, self.height - y),
        })
    }

    /// The tile that holds pixel (x, y); `None` outside the image.
    pub const fn tile_at(&self, x: u32, y: u32) -> Option<TileIndex> {
        if x >= self.width || y >= self.height {
            return None;
        }
        Some(TileIndex(
            y / self.tile_height * self.columns() + x / self.tile_width,
        ))
    }
}

const fn min(a: u32, b: u32) -> u32 {
    if a < b {
        a
    } else {
        b
    }
}
