//! Dot products over stored rows.
//!
//! The release build targets baseline x86-64 (SSE2), so a plain Rust loop only gets 4-wide vectors; NumKong
//! (the SIMD kernel library usearch itself is built on, so no extra dependency) picks AVX2/AVX-512 kernels at
//! run time. `dot_kernels_speed` below measures both; see `ExactIndex` docs for the numbers.

use numkong::Dot;

/// An element type the exact scan can store.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    /// Dot product of two equally long rows.
    fn dot(a: &[Self], b: &[Self]) -> f32;
}

impl Element for f32 {
    #[inline]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // NumKong accumulates f32 products in f64; the result is only narrowed at the end.
        <f32 as Dot>::dot(a, b).unwrap_or(0.0) as f32
    }
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

/// The plain-loop alternative the measurement compares against: 16 independent accumulators so LLVM
/// vectorises without reassociating a single sum.
#[cfg(test)]
pub(crate) fn dot_plain(a: &[f32], b: &[f32]) -> f32 {
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
        time("numkong f32", &|| data.chunks_exact(dim).map(|r| <f32 as Element>::dot(r, &q)).sum());
        time("plain f32", &|| data.chunks_exact(dim).map(|r| dot_plain(r, &q)).sum());
        time("numkong f16", &|| half.chunks_exact(dim).map(|r| <numkong::f16 as Element>::dot(r, &qh)).sum());
        // Cache-resident: the same 64 rows again and again (what the blocked batch scan sees).
        let hot = &data[..64 * dim];
        time("numkong hot", &|| {
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
