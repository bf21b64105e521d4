//! Dense `f32` matrix products, on `matrixmultiply::sgemm`.
//!
//! `matrixmultiply` was chosen by measurement on the development machine (one core, AVX-512): 120–150
//! GFLOP/s on the shapes of this crate (e.g. `1024×384 · 384×172`) against 70–105 GFLOP/s for the `gemm`
//! crate. Every `sgemm` call is single-threaded; parallelism comes from [`par_gemm_rows`], which splits
//! the output into one block of rows per thread.
//!
//! That split does not change any result. `sgemm` computes every element of `C` as the same chain of
//! fused multiply-adds over `k` (in blocks of `k` that depend on `k` alone), whichever rows share its
//! block; rows at the edge of a block go through a masked path that stores `α·AB` and then adds `β·C`,
//! which rounds exactly like the full-tile path (`fma(α, AB, β·C)`) when `α = 1` and `β ∈ {0, 1}`, the
//! only values [`par_gemm_rows`] accepts. Training is therefore bit-for-bit identical on any number of
//! threads (tested in `dense::head`).

use rayon::prelude::*;

/// A read-only matrix view over a slice with arbitrary row and column strides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix stored contiguously at the start of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than `rows * cols`.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "{} values for a {rows}×{cols} matrix", data.len());
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose (a view; nothing is copied).
    pub(crate) fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Rows `start..start + len` of this view.
    ///
    /// # Panics
    /// If the range runs past the last row.
    pub(crate) fn row_range(self, start: usize, len: usize) -> Self {
        assert!(start + len <= self.rows, "rows {start}..{} of {}", start + len, self.rows);
        let offset = if len == 0 { 0 } else { start * self.row_stride };
        MatRef { data: &self.data[offset..], rows: len, ..self }
    }

    /// `true` when every element the view addresses lies inside its slice.
    fn in_bounds(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// `c ← alpha · a · b + beta · c`, where `c` is a contiguous row-major `a.rows × b.cols` matrix. With
/// `beta == 0` the old content of `c` is ignored (it may even hold NaN).
///
/// # Panics
/// If the shapes disagree.
pub(crate) fn gemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32]) {
    assert_eq!(a.cols, b.rows, "inner dimensions differ: {}×{} · {}×{}", a.rows, a.cols, b.rows, b.cols);
    assert_eq!(c.len(), a.rows * b.cols, "output of {} values for a {}×{} product", c.len(), a.rows, b.cols);
    assert!(a.in_bounds() && b.in_bounds(), "matrix view out of bounds");
    if c.is_empty() {
        return;
    }
    // SAFETY: the assertions above guarantee that every element sgemm reads from `a` and `b` lies inside
    // their slices, and that `c` holds exactly `a.rows × b.cols` elements, written with row stride
    // `b.cols` and column stride 1 (no two elements alias). The strides fit in `isize` because they are
    // bounded by slice lengths.
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            alpha,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.as_mut_ptr(),
            b.cols as isize,
            1,
        );
    }
}

/// Fewest output rows per parallel task of [`par_gemm_rows`]: below this, handing work to another thread
/// costs more than it saves.
const MIN_BLOCK_ROWS: usize = 32;

/// `c ← a · b`, or `c ← c + a · b` with `accumulate`, split into one block of output rows per thread of
/// the current rayon pool. Each block repacks `b`, so fewer, larger blocks are cheaper; the result does
/// not depend on the split (see the module documentation).
pub(crate) fn par_gemm_rows(a: MatRef<'_>, b: MatRef<'_>, accumulate: bool, c: &mut [f32]) {
    let beta = if accumulate { 1.0 } else { 0.0 };
    let n = b.cols;
    let blocks = rayon::current_num_threads().min(a.rows / MIN_BLOCK_ROWS).max(1);
    if blocks == 1 || n == 0 {
        return gemm(1.0, a, b, beta, c);
    }
    assert_eq!(c.len(), a.rows * n, "output of {} values for a {}×{n} product", c.len(), a.rows);
    let rows_per_block = a.rows.div_ceil(blocks);
    c.par_chunks_mut(rows_per_block * n).enumerate().for_each(|(i, block)| {
        let rows = block.len() / n;
        gemm(1.0, a.row_range(i * rows_per_block, rows), b, beta, block);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn products_match_the_definition() {
        let (m, k, n) = (150, 37, 11);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![f32::NAN; m * n];
        gemm(1.0, MatRef::new(&a, m, k), MatRef::new(&b, k, n), 0.0, &mut c);
        assert_eq!(c, want, "integer-valued products are exact");
        // beta = 1 accumulates; alpha scales.
        gemm(2.0, MatRef::new(&a, m, k), MatRef::new(&b, k, n), 1.0, &mut c);
        assert_eq!(c, want.iter().map(|v| 3.0 * v).collect::<Vec<_>>());
        par_gemm_rows(MatRef::new(&a, m, k), MatRef::new(&b, k, n), true, &mut c);
        assert_eq!(c, want.iter().map(|v| 4.0 * v).collect::<Vec<_>>());
        // Transposed views: (Aᵀ)ᵀ = A, and Aᵀ·C through a strided view.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect(); // k × m, row-major
        let mut c2 = vec![0.0f32; m * n];
        par_gemm_rows(MatRef::new(&at, k, m).t(), MatRef::new(&b, k, n), false, &mut c2);
        assert_eq!(c2, want);
        // A sub-range of rows.
        let mut c3 = vec![0.0f32; 5 * n];
        gemm(1.0, MatRef::new(&a, m, k).row_range(70, 5), MatRef::new(&b, k, n), 0.0, &mut c3);
        assert_eq!(c3, want[70 * n..75 * n]);
    }

    #[test]
    fn a_row_does_not_depend_on_the_block_it_is_computed_in() {
        // The property behind deterministic training on any number of threads, and behind one row's
        // prediction equalling its row in a batch: checked with values whose products round.
        let (m, k, n) = (203, 384, 172);
        let a: Vec<f32> = (0..m * k).map(|i| ((i as f32) * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i as f32) * 0.11).cos()).collect();
        let init: Vec<f32> = (0..m * n).map(|i| ((i as f32) * 0.05).sin()).collect();
        let (a, b) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n));
        for accumulate in [false, true] {
            let beta = if accumulate { 1.0 } else { 0.0 };
            let mut whole = init.clone();
            gemm(1.0, a, b, beta, &mut whole);
            for r in [0, 13, 202] {
                let mut one = init[r * n..(r + 1) * n].to_vec();
                gemm(1.0, a.row_range(r, 1), b, beta, &mut one);
                assert_eq!(one, whole[r * n..(r + 1) * n], "row {r}");
            }
            for threads in [2, 3, 5] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut split = init.clone();
                pool.install(|| par_gemm_rows(a, b, accumulate, &mut split));
                assert_eq!(split, whole, "{threads} threads, accumulate {accumulate}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "inner dimensions differ")]
    fn mismatched_shapes_panic() {
        let a = [0.0f32; 6];
        let mut c = [0.0f32; 4];
        gemm(1.0, MatRef::new(&a, 2, 3), MatRef::new(&a, 2, 3), 0.0, &mut c);
    }
}
