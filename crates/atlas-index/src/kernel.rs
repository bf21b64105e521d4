//! Dot products over stored rows.
//!
//! Measured with `dot_kernels_speed` below (384-wide rows, 20,000 rows, this project's 2-core Zen 4 VM):
//!
//! | kernel | ns per row, 30 MB of rows | ns per row, 64 rows in cache |
//! |---|---|---|
//! | NumKong f32 (accumulates in f64) | 80.6 | 46.3 |
//! | plain loop, 16 accumulators, baseline SSE2 | 53.3 | 28.6 |
//! | the same loop compiled for AVX2 + FMA | 53.2 | 25.1 |
//! | NumKong f16 (half the bytes to read) | 32.3 | – |
//!
//! So f32 rows use the plain loop (compiled once more with AVX2+FMA and picked at run time when the CPU has
//! them), and f16 rows use NumKong — the SIMD kernel library usearch is built on, so no extra dependency.

use numkong::Dot;

/// An element type the exact scan can store.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    /// Dot product of two equally long rows.
    fn dot(a: &[Self], b: &[Self]) -> f32;
}

impl Element for f32 {
    #[inline]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx2_fma() {
                // SAFETY: the CPU has AVX2 and FMA (checked at run time just above).
                return unsafe { dot_avx2(a, b) };
            }
        }
        dot_plain(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// [`dot_plain`] compiled for AVX2 + FMA: the same 16 accumulators become two 8-wide registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

impl Element for numkong::f16 {
    #[inline]
    fn dot(a: &[Self], b: &[Self]) -> f32 {
        <numkong::f16 as Dot>::dot(a, b).unwrap_or(0.0)
    }
}

/// Scales `v` to unit length in place (a zero vector stays zero: it matches nothing).
pub(crate) fn normalize(v: &mut [f32]) {
    let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        for x in v {
            *x /= n;
        }
    }
}

/// Portable dot product: 16 independent accumulators, so LLVM vectorises without having to reassociate one
/// running sum (which it may not do for floats).
pub(crate) fn dot_plain(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..16 {
            acc[j] += x[j] * y[j];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_with_a_reference_sum() {
        let a: Vec<f32> = (0..389).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..389).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let reference: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((<f32 as Element>::dot(&a, &b) as f64 - reference).abs() < 1e-4);
        assert!((dot_plain(&a, &b) as f64 - reference).abs() < 1e-3);
        let ah: Vec<numkong::f16> = a.iter().map(|&x| numkong::f16::from_f32(x)).collect();
        let bh: Vec<numkong::f16> = b.iter().map(|&x| numkong::f16::from_f32(x)).collect();
        assert!((<numkong::f16 as Element>::dot(&ah, &bh) as f64 - reference).abs() < 0.1);
    }

    /// `cargo test --release -p atlas-index dot_kernels_speed -- --ignored --nocapture`
    #[test]
    #[ignore = "measurement, prints timings"]
    fn dot_kernels_speed() {
        let (n, dim) = (20_000usize, 384usize);
        let data: Vec<f32> =
            (0..n * dim).map(|i| ((i * 2_654_435_761usize) % 1000) as f32 / 1000.0).collect();
        let half: Vec<numkong::f16> = data.iter().map(|&x| numkong::f16::from_f32(x)).collect();
        let q: Vec<f32> = data[..dim].to_vec();
        let qh: Vec<numkong::f16> = half[..dim].to_vec();
        let time = |name: &str, f: &dyn Fn() -> f32| {
            let _ = f();
            let t = std::time::Instant::now();
            let mut s = 0.0;
            for _ in 0..20 {
                s += f();
            }
            let per = t.elapsed().as_secs_f64() / 20.0;
            println!(
                "{name:>14}: {:.3} ms per {n}-row scan ({:.1} ns/row) [{s}]",
                per * 1e3,
                per * 1e9 / n as f64
            );
        };
        time("numkong f32", &|| {
            data.chunks_exact(dim).map(|r| <f32 as Dot>::dot(r, &q).unwrap() as f32).sum()
        });
        time("chosen f32", &|| data.chunks_exact(dim).map(|r| <f32 as Element>::dot(r, &q)).sum());
        time("plain f32", &|| data.chunks_exact(dim).map(|r| dot_plain(r, &q)).sum());
        time("numkong f16", &|| half.chunks_exact(dim).map(|r| <numkong::f16 as Element>::dot(r, &qh)).sum());
        // Cache-resident: the same 64 rows again and again (what the blocked batch scan sees).
        let hot = &data[..64 * dim];
        time("numkong hot", &|| {
            (0..n / 64)
                .map(|_| hot.chunks_exact(dim).map(|r| <f32 as Dot>::dot(r, &q).unwrap() as f32).sum::<f32>())
                .sum()
        });
        time("chosen hot", &|| {
            (0..n / 64)
                .map(|_| hot.chunks_exact(dim).map(|r| <f32 as Element>::dot(r, &q)).sum::<f32>())
                .sum()
        });
        time("plain hot", &|| {
            (0..n / 64).map(|_| hot.chunks_exact(dim).map(|r| dot_plain(r, &q)).sum::<f32>()).sum()
        });
        println!(
            "numkong capabilities {:#x}, dynamic dispatch {}",
            numkong::available(),
            numkong::uses_dynamic_dispatch()
        );
    }
}
