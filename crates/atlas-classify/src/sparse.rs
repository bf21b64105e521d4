//! Compressed sparse row (CSR) matrices of `f32` features.

/// A sparse matrix in CSR layout: row `i` holds the column indices `indices[indptr[i]..indptr[i + 1]]`
/// (strictly increasing) and the matching `values`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CsrMatrix {
    /// Number of columns (features).
    pub n_cols: usize,
    /// Row offsets into `indices`/`values`; `n_rows() + 1` entries starting with 0.
    pub indptr: Vec<usize>,
    /// Column index of every stored value.
    pub indices: Vec<u32>,
    /// The stored values.
    pub values: Vec<f32>,
}

impl CsrMatrix {
    /// An empty matrix (no rows) with `n_cols` columns.
    pub fn empty(n_cols: usize) -> Self {
        CsrMatrix { n_cols, indptr: vec![0], indices: Vec::new(), values: Vec::new() }
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Number of stored values.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.values[a..b])
    }

    /// Appends one row (indices must be increasing and below `n_cols`).
    pub fn push_row(&mut self, indices: &[u32], values: &[f32]) {
        debug_assert_eq!(indices.len(), values.len());
        debug_assert!(indices.windows(2).all(|w| w[0] < w[1]));
        self.indices.extend_from_slice(indices);
        self.values.extend_from_slice(values);
        self.indptr.push(self.indices.len());
    }

    /// Appends all rows of `other` (same number of columns) below the rows of `self`.
    pub fn append(&mut self, other: &CsrMatrix) {
        debug_assert_eq!(self.n_cols, other.n_cols);
        let base = self.indices.len();
        self.indices.extend_from_slice(&other.indices);
        self.values.extend_from_slice(&other.values);
        self.indptr.extend(other.indptr.iter().skip(1).map(|&p| p + base));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_append_and_rows() {
        let mut a = CsrMatrix::empty(5);
        a.push_row(&[0, 3], &[1.0, 2.0]);
        a.push_row(&[], &[]);
        let mut b = CsrMatrix::empty(5);
        b.push_row(&[4], &[3.0]);
        a.append(&b);
        assert_eq!(a.n_rows(), 3);
        assert_eq!(a.nnz(), 3);
        assert_eq!(a.row(0), (&[0u32, 3][..], &[1.0f32, 2.0][..]));
        assert_eq!(a.row(1).0.len(), 0);
        assert_eq!(a.row(2), (&[4u32][..], &[3.0f32][..]));
    }
}
