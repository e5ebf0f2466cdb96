//! Tile sizes and device memory of a search, chosen from a byte budget.
//!
//! A search holds on the device, at once:
//!
//! - the base rows: all of `X` (`n d` floats, *resident*) when it takes at most half the
//!   budget, else one base block of `B` rows uploaded per tile (*streaming*);
//! - one query block, `Q d` floats;
//! - the similarity tile `S`, `Q B` floats, at most [`MAX_TILE_ELEMS`];
//! - the selection state, `Q w` (similarity, id) pairs;
//! - with the screen, the re-scored similarities (`Q w` floats), the kept top `m` (`Q m`
//!   pairs) and one acceptance flag per row.
//!
//! `B` starts at `n` (every base row in one tile, the fewest passes) and is halved until a
//! query block of at least [`MIN_QUERY_ROWS`] rows fits, `Q` being the largest that fits (at
//! most [`MAX_QUERY_ROWS`]); when no `B` leaves that many, the pair with the fewest tiles is
//! taken. Larger `Q` means fewer, larger GEMMs and
//! more thread blocks per selection launch; larger `B` means fewer state round trips.

use super::GpuError;

/// The most elements of one similarity tile: cuBLAS takes `int` sizes, and the kernels'
/// offsets are 64-bit, so `i32::MAX` keeps every product dimension in range (8 GiB of f32).
pub(crate) const MAX_TILE_ELEMS: usize = i32::MAX as usize;

/// Query rows per block unless [`super::GpuSearchOptions::max_query_rows`] says otherwise.
pub(crate) const MAX_QUERY_ROWS: usize = 8192;

/// `B` is halved until a query block of this many rows fits (or fewer, when there are fewer
/// rows or the options cap them).
pub(crate) const MIN_QUERY_ROWS: usize = 256;

/// The tiling of one search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Query rows per block.
    pub q: usize,
    /// Base rows per tile.
    pub b: usize,
    /// Whether all of `X` stays on the device (else base blocks are uploaded per tile).
    pub resident: bool,
    /// Selection width: `m`, or the screen's candidates per row.
    pub w: usize,
    /// Device bytes of all buffers.
    pub bytes: u64,
}

/// The shape of a search, for [`plan`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Rows.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Neighbours kept per row.
    pub m: usize,
    /// Selection width (`m`, or the screen's candidates).
    pub w: usize,
    /// Whether the screen's extra buffers are needed.
    pub screen: bool,
}

impl Shape {
    /// Device bytes per query row of a block, besides its tile row.
    fn row_bytes(&self) -> u64 {
        let (d, w, m) = (self.d as u64, self.w as u64, self.m as u64);
        let screen = if self.screen { w * 4 + m * 8 + 4 } else { 0 };
        d * 4 + w * 8 + screen
    }

    /// Device bytes of a plan with `q` query rows and `b` base rows per tile.
    pub(crate) fn bytes(&self, q: usize, b: usize, resident: bool) -> u64 {
        let (n, d) = (self.n as u64, self.d as u64);
        let base = if resident { n * d * 4 } else { b as u64 * d * 4 };
        base + q as u64 * (b as u64 * 4 + self.row_bytes())
    }
}

/// Chooses the tiles of a search of `shape` within `budget` bytes; `max_q` and `max_b` cap the
/// query and base rows per tile (options, for tests and tuning).
///
/// # Errors
///
/// [`GpuError::BudgetTooSmall`] when not even one query row and one base row fit.
pub(crate) fn plan(shape: Shape, budget: u64, max_q: Option<usize>, max_b: Option<usize>) -> Result<Plan, GpuError> {
    let n = shape.n;
    let q_cap = n.min(max_q.unwrap_or(MAX_QUERY_ROWS)).max(1);
    let b_cap = n.min(max_b.unwrap_or(n)).max(1);
    let x_bytes = n as u64 * shape.d as u64 * 4;
    let resident = x_bytes <= budget / 2;
    let avail = budget - if resident { x_bytes } else { 0 };
    let q_min = q_cap.min(MIN_QUERY_ROWS);
    // The query rows that fit beside base tiles of `b` rows.
    let q_for = |b: usize| -> usize {
        let base_bytes = if resident { 0 } else { b as u64 * shape.d as u64 * 4 };
        if avail <= base_bytes {
            return 0;
        }
        let by_bytes = (avail - base_bytes) / (b as u64 * 4 + shape.row_bytes());
        (by_bytes.min(q_cap as u64) as usize).min(MAX_TILE_ELEMS / b)
    };
    // The widest tiles that leave a query block of `q_min` rows; failing that, the fewest
    // tiles (product + selection steps).
    let mut best: Option<(usize, usize)> = None;
    let mut b = b_cap;
    loop {
        let q = q_for(b);
        if q >= q_min {
            best = Some((q, b));
            break;
        }
        let tiles = |(q, b): (usize, usize)| n.div_ceil(q) * n.div_ceil(b);
        if q >= 1 && best.is_none_or(|old| tiles((q, b)) < tiles(old)) {
            best = Some((q, b));
        }
        if b == 1 {
            break;
        }
        b = (b / 2).max(1);
    }
    match best {
        Some((q, b)) => {
            let bytes = shape.bytes(q, b, resident);
            debug_assert!(bytes <= budget);
            Ok(Plan { q, b, resident, w: shape.w, bytes })
        }
        None => Err(GpuError::BudgetTooSmall { budget, need: shape.bytes(1, 1, false) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: usize, d: usize, m: usize) -> Shape {
        Shape { n, d, m, w: m, screen: false }
    }

    #[test]
    fn a_large_search_keeps_x_resident_with_whole_rows() {
        // 584K x 256 on an H200 (~140 GB free).
        let p = plan(shape(584_000, 256, 58), 139_000_000_000, None, None).unwrap();
        assert!(p.resident);
        assert_eq!(p.b, 584_000);
        assert_eq!(p.q, MAX_TILE_ELEMS / 584_000);
        assert!(p.bytes <= 139_000_000_000);
        // A million rows with the screen: still whole rows, about 2K query rows per tile.
        let s = Shape { n: 1 << 20, d: 256, m: 58, w: 116, screen: true };
        let p = plan(s, 139_000_000_000, None, None).unwrap();
        assert!(p.resident && p.b == 1 << 20 && p.q == 2047, "{p:?}");
    }

    #[test]
    fn small_data_gets_one_tile() {
        let p = plan(shape(3000, 64, 50), 10_000_000_000, None, None).unwrap();
        assert_eq!((p.q, p.b, p.resident), (3000, 3000, true));
    }

    #[test]
    fn a_small_budget_streams_and_fits() {
        let s = shape(3000, 64, 50);
        for budget in [1_500_000u64, 600_000, 100_000, 20_000, 4_000] {
            let p = plan(s, budget, None, None).unwrap();
            assert!(!p.resident, "{budget}: {p:?}");
            assert!(p.bytes <= budget, "{budget}: {p:?}");
            assert!(p.q >= 1 && p.b >= 1 && p.b < 3000, "{budget}: {p:?}");
        }
    }

    #[test]
    fn a_budget_too_small_for_one_row_is_an_error() {
        let s = shape(3000, 64, 50);
        let need = s.bytes(1, 1, false);
        assert!(matches!(plan(s, need - 1, None, None), Err(GpuError::BudgetTooSmall { .. })));
        assert!(plan(s, need, None, None).is_ok());
    }

    #[test]
    fn caps_limit_the_tiles() {
        let p = plan(shape(3000, 64, 50), 10_000_000_000, Some(7), Some(33)).unwrap();
        assert_eq!((p.q, p.b), (7, 33));
    }
}
