//! The tiles of one job received so far, and the image they make once all are here.
use std::collections::BTreeMap;

use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::{Grid, TileIndex};

/// What a tile kept on its own costs besides its counts: its place in the map.
pub(crate) const TILE_OVERHEAD: u64 = 64;

/// A job's tiles: their counts, and their smooth fractions if the job asks for them, each
/// kept as a [`Store`] of its own.
pub(crate) struct Received {
    counts: Store<u32>,
    smooth: Option<Store<Smooth>>,
}

impl Received {
    /// Nothing yet, each tile to be kept on its own.
    pub(crate) fn sparse(smooth: bool) -> Received {
        Received {
            counts: Store::sparse(),
            smooth: smooth.then(Store::sparse),
        }
    }

    /// Nothing yet, the whole image allocated.
    pub(crate) fn dense(grid: Grid, smooth: bool) -> Received {
        Received {
            counts: Store::dense(grid),
            smooth: smooth.then(|| Store::dense(grid)),
        }
    }

    /// What the whole image of `grid` takes: the most a job's tiles take.
    pub(crate) fn dense_bytes(grid: Grid, smooth: bool) -> u64 {
        let fractions = if smooth {
            Store::<Smooth>::dense_bytes(grid)
        } else {
            0
        };
        Store::<u32>::dense_bytes(grid) + fractions
    }

    /// What the tiles take.
    pub(crate) fn bytes(&self, grid: Grid) -> u64 {
        let fractions = self.smooth.as_ref().map_or(0, |store| store.bytes(grid));
        self.counts.bytes(grid) + fractions
    }

    /// What the tiles take once one more of `pixels` is here.
    pub(crate) fn bytes_with(&self, grid: Grid, pixels: usize) -> u64 {
        let fractions = self
            .smooth
            .as_ref()
            .map_or(0, |store| store.bytes_with(grid, pixels));
        self.counts.bytes_with(grid, pixels) + fractions
    }

    /// How many tiles are here.
    pub(crate) fn len(&self) -> u32 {
        self.counts.len()
    }

    pub(crate) fn contains(&self, tile: u32) -> bool {
        self.counts.contains(tile)
    }

    /// Keeps a tile of `grid`: its counts, and its fractions if the job asks for them (else
    /// none). `false`, with nothing kept, if they do not fill its rectangle.
    pub(crate) fn insert(
        &mut self,
        grid: Grid,
        tile: u32,
        counts: &[u32],
        smooth: &[Smooth],
    ) -> bool {
        if !self.fits(grid, tile, counts, smooth) {
            return false;
        }
        if let Some(store) = &mut self.smooth {
            store.insert(grid, tile, smooth);
        }
        self.counts.insert(grid, tile, counts)
    }

    /// Whether `counts` and `smooth` fill tile `tile` as the job asks.
    fn fits(&self, grid: Grid, tile: u32, counts: &[u32], smooth: &[Smooth]) -> bool {
        let fractions = if self.smooth.is_some() {
            counts.len()
        } else {
            0
        };
        grid.rect(TileIndex(tile))
            .is_some_and(|rect| rect.pixels() == counts.len() && smooth.len() == fractions)
    }

    /// The counts and fractions (none if the job asks for none) of a tile that is here.
    pub(crate) fn tile(&self, grid: Grid, tile: u32) -> Option<(Vec<u32>, Vec<Smooth>)> {
        let smooth = match &self.smooth {
            Some(store) => store.tile(grid, tile)?,
            None => Vec::new(),
        };
        Some((self.counts.tile(grid, tile)?, smooth))
    }

    /// Puts other counts and fractions in place of a tile that is here; `false`, with
    /// nothing changed, if it is not here or they do not fill its rectangle.
    pub(crate) fn replace(
        &mut self,
        grid: Grid,
        tile: u32,
        counts: &[u32],
        smooth: &[Smooth],
    ) -> bool {
        if !self.fits(grid, tile, counts, smooth) || !self.contains(tile) {
            return false;
        }
        if let Some(store) = &mut self.smooth {
            store.replace(grid, tile, smooth);
        }
        self.counts.replace(grid, tile, counts)
    }

    /// The image's counts and fractions (none if the job asks for none), row-major; `None`
    /// if a tile does not fit `grid`.
    pub(crate) fn into_image(self, grid: Grid) -> Option<(Vec<u32>, Vec<Smooth>)> {
        let smooth = match self.smooth {
            Some(store) => store.into_image(grid)?,
            None => Vec::new(),
        };
        Some((self.counts.into_image(grid)?, smooth))
    }
}

/// One value a pixel of a job's tiles. They are kept each on its own while they are few, so
/// memory grows with what arrives whatever the job claims; once that costs half the whole
/// image, the image is allocated and they move into it, so a job never takes more than twice
/// what its tiles would alone (and tiny tiles do not cost their overhead many times over). A
/// job this process made itself starts whole, so each tile is copied once.
pub(crate) enum Store<T> {
    Sparse {
        tiles: BTreeMap<u32, Box<[T]>>,
        bytes: u64,
    },
    Dense {
        counts: Vec<T>,
        have: Vec<bool>,
        tiles: u32,
    },
}

impl<T: Copy + Default> Store<T> {
    /// A pixel's bytes.
    const SIZE: u64 = size_of::<T>() as u64;

    /// Nothing yet, each tile to be kept on its own.
    pub(crate) fn sparse() -> Store<T> {
        Store::Sparse {
            tiles: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// Nothing yet, the whole image allocated.
    pub(crate) fn dense(grid: Grid) -> Store<T> {
        Store::Dense {
            counts: vec![T::default(); grid.pixels() as usize],
            have: vec![false; grid.tiles() as usize],
            tiles: 0,
        }
    }

    /// What the whole image of `grid` takes: the most a job's tiles take.
    pub(crate) fn dense_bytes(grid: Grid) -> u64 {
        grid.pixels() * Self::SIZE + u64::from(grid.tiles())
    }

    /// What the tiles take.
    pub(crate) fn bytes(&self, grid: Grid) -> u64 {
        match self {
            Store::Sparse { bytes, .. } => *bytes,
            Store::Dense { .. } => Self::dense_bytes(grid),
        }
    }

    /// What the tiles take once one more of `pixels` is here.
    pub(crate) fn bytes_with(&self, grid: Grid, pixels: usize) -> u64 {
        match self {
            Store::Sparse { bytes, .. } => {
                let sparse = bytes + pixels as u64 * Self::SIZE + TILE_OVERHEAD;
                if 2 * sparse >= Self::dense_bytes(grid) {
                    Self::dense_bytes(grid)
                } else {
                    sparse
                }
            }
            Store::Dense { .. } => Self::dense_bytes(grid),
        }
    }

    /// How many tiles are here.
    pub(crate) fn len(&self) -> u32 {
        match self {
            Store::Sparse { tiles, .. } => tiles.len() as u32,
            Store::Dense { tiles, .. } => *tiles,
        }
    }

    pub(crate) fn contains(&self, tile: u32) -> bool {
        match self {
            Store::Sparse { tiles, .. } => tiles.contains_key(&tile),
            Store::Dense { have, .. } => have.get(tile as usize).copied().unwrap_or(false),
        }
    }

    /// Keeps a tile of `grid`, moving all into the whole image when [`Store::bytes_with`]
    /// says so. `false`, with nothing kept, if its counts do not fill its rectangle.
    pub(crate) fn insert(&mut self, grid: Grid, tile: u32, counts: &[T]) -> bool {
        let fits = grid
            .rect(TileIndex(tile))
            .is_some_and(|rect| rect.pixels() == counts.len());
        if !fits {
            return false;
        }
        let stays_apart = self.bytes_with(grid, counts.len()) < Self::dense_bytes(grid);
        if let Store::Sparse { tiles, bytes } = self {
            if stays_apart {
                *bytes += counts.len() as u64 * Self::SIZE + TILE_OVERHEAD;
                tiles.insert(tile, Box::from(counts));
                return true;
            }
            let mut dense = Store::dense(grid);
            for (index, counts) in std::mem::take(tiles) {
                dense.insert(grid, index, &counts);
            }
            *self = dense;
        }
        let Store::Dense {
            counts: image,
            have,
            tiles,
        } = self
        else {
            return false;
        };
        let copied = grid
            .rect(TileIndex(tile))
            .and_then(|rect| rect.copy_into(counts, image, grid.width));
        if copied.is_some() && !have[tile as usize] {
            have[tile as usize] = true;
            *tiles += 1;
        }
        copied.is_some()
    }

    /// The values of a tile that is here, row-major.
    pub(crate) fn tile(&self, grid: Grid, tile: u32) -> Option<Vec<T>> {
        match self {
            Store::Sparse { tiles, .. } => tiles.get(&tile).map(|counts| counts.to_vec()),
            Store::Dense { counts, have, .. } => {
                if !have.get(tile as usize).copied().unwrap_or(false) {
                    return None;
                }
                let rect = grid.rect(TileIndex(tile))?;
                let (x, width) = (rect.x as usize, rect.width as usize);
                let rows = rect.y as usize..(rect.y + rect.height) as usize;
                let stride = grid.width as usize;
                Some(
                    rows.flat_map(|y| &counts[y * stride + x..y * stride + x + width])
                        .copied()
                        .collect(),
                )
            }
        }
    }

    /// Puts other counts in place of a tile that is here; `false`, with nothing changed, if
    /// it is not here or they do not fill its rectangle.
    pub(crate) fn replace(&mut self, grid: Grid, tile: u32, new: &[T]) -> bool {
        let Some(rect) = grid.rect(TileIndex(tile)) else {
            return false;
        };
        if rect.pixels() != new.len() || !self.contains(tile) {
            return false;
        }
        match self {
            Store::Sparse { tiles, .. } => {
                tiles.insert(tile, Box::from(new));
                true
            }
            Store::Dense { counts, .. } => rect.copy_into(new, counts, grid.width).is_some(),
        }
    }

    /// The image, row-major; `None` if a tile does not fit `grid`.
    pub(crate) fn into_image(self, grid: Grid) -> Option<Vec<T>> {
        match self {
            Store::Sparse { tiles, .. } => {
                let mut image = vec![T::default(); grid.pixels() as usize];
                for (index, counts) in tiles {
                    grid.rect(TileIndex(index))?
                        .copy_into(&counts, &mut image, grid.width)?;
                }
                Some(image)
            }
            Store::Dense { counts, .. } => Some(counts),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> Grid {
        Grid {
            width: 64,
            height: 64,
            tile_width: 8,
            tile_height: 8,
        }
    }

    /// Every count is its pixel's row-major index.
    fn counts(tile: u32) -> Vec<u32> {
        let rect = grid().rect(TileIndex(tile)).unwrap();
        (rect.y..rect.y + rect.height)
            .flat_map(|y| (rect.x..rect.x + rect.width).map(move |x| y * 64 + x))
            .collect()
    }

    #[test]
    fn tiles_are_kept_apart_until_they_cost_half_the_image_then_never_more_than_it() {
        let mut received = Store::<u32>::sparse();
        let whole = Store::<u32>::dense_bytes(grid());
        let mut moved_at = None;
        for tile in 0..64 {
            let expected = received.bytes_with(grid(), 64);
            assert!(received.insert(grid(), tile, &counts(tile)));
            assert_eq!(received.bytes(grid()), expected);
            assert!(received.bytes(grid()) <= whole);
            if moved_at.is_none() && matches!(received, Store::Dense { .. }) {
                moved_at = Some(tile + 1);
            }
        }
        let kept_apart = 64 * 4 + TILE_OVERHEAD;
        let moved_at = moved_at.unwrap() as u64;
        assert!(2 * moved_at * kept_apart >= whole && 2 * (moved_at - 1) * kept_apart < whole);
        assert_eq!(received.len(), 64);
        let image = received.into_image(grid()).unwrap();
        assert!(image.iter().enumerate().all(|(i, &c)| c == i as u32));
    }

    #[test]
    fn counts_that_do_not_fill_their_tile_are_not_kept() {
        for mut received in [Store::<u32>::sparse(), Store::<u32>::dense(grid())] {
            assert!(!received.insert(grid(), 0, &[1; 63]));
            assert!(!received.insert(grid(), 64, &[1; 64]), "past the last tile");
            assert_eq!(received.len(), 0);
        }
    }

    #[test]
    fn a_tile_here_reads_back_and_can_be_replaced_whole_or_not_at_all() {
        for mut received in [Store::<u32>::sparse(), Store::<u32>::dense(grid())] {
            for tile in [0, 9] {
                assert!(received.insert(grid(), tile, &counts(tile)));
            }
            assert_eq!(received.tile(grid(), 9), Some(counts(9)));
            assert_eq!(received.tile(grid(), 10), None);
            assert!(!received.replace(grid(), 10, &[7; 64]), "not here");
            assert!(!received.replace(grid(), 9, &[7; 63]), "does not fill it");
            assert!(received.replace(grid(), 9, &[7; 64]));
            assert_eq!(received.tile(grid(), 9), Some(vec![7; 64]));
            assert_eq!(received.tile(grid(), 0), Some(counts(0)));
            assert_eq!(received.len(), 2);
        }
    }

    #[test]
    fn fractions_are_kept_beside_counts_and_charged_two_bytes_a_pixel() {
        let mut received = Received::sparse(true);
        assert!(
            !received.insert(grid(), 0, &counts(0), &[]),
            "a smooth job's tile without its fractions"
        );
        let fractions: Vec<Smooth> = (0..64).collect();
        assert!(received.insert(grid(), 0, &counts(0), &fractions));
        assert_eq!(received.bytes(grid()), 64 * (4 + 2) + 2 * TILE_OVERHEAD);
        assert_eq!(received.tile(grid(), 0), Some((counts(0), fractions)));
        assert_eq!(Received::dense_bytes(grid(), true), 64 * 64 * 6 + 2 * 64);
        let mut counts_only = Received::sparse(false);
        assert!(
            !counts_only.insert(grid(), 0, &counts(0), &[1; 64]),
            "fractions unasked"
        );
    }
}
