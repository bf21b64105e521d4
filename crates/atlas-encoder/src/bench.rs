//! Throughput and latency measurement with the peer baseline's protocol, plus a roofline-style peak estimate.
//!
//! Protocol (as `shared/bench/peer_embed.py`): warm up on the first 256 texts, embed all texts `repeats`
//! times at a fixed batch size and take the median wall time; then embed the first `latency_texts` texts one
//! at a time and report the 50th and 95th percentile (linear interpolation, as `numpy.percentile`). Token
//! counts are real tokens after truncation, `[CLS]`/`[SEP]` included, no padding.

use std::time::Instant;

use serde::Serialize;

use crate::backend::DeviceSpec;
use crate::batch::BatchLimits;
use crate::encoder::Encoder;
use crate::error::EncoderError;

/// Theoretical fp32 peak of the CPU cores a benchmark uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuPeak {
    /// Cores counted.
    pub cores: usize,
    /// Clock in MHz ("cpu MHz" of /proc/cpuinfo: the current, not the turbo, clock).
    pub mhz: f64,
    /// fp32 FLOPs per cycle and core: 64 with AVX-512 (2 FMA units × 16 lanes × 2), 32 with AVX2+FMA,
    /// 16 with AVX, 8 otherwise.
    pub flops_per_cycle: u32,
    /// The widest vector extension found.
    pub isa: &'static str,
}

impl CpuPeak {
    /// Reads /proc/cpuinfo; `threads` = 0 counts every logical CPU. `None` off Linux or if unreadable.
    pub fn detect(threads: usize) -> Option<Self> {
        let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        Self::from_cpuinfo(&text, threads)
    }

    /// Parses the text of /proc/cpuinfo.
    pub fn from_cpuinfo(text: &str, threads: usize) -> Option<Self> {
        let field = |name: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == name).then(|| v.trim().to_owned())
            })
        };
        let mhz: f64 = field("cpu MHz")?.parse().ok()?;
        let flags = field("flags").unwrap_or_default();
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        let (flops_per_cycle, isa) = if has("avx512f") {
            (64, "avx512")
        } else if has("avx2") && has("fma") {
            (32, "avx2+fma")
        } else if has("avx") {
            (16, "avx")
        } else {
            (8, "sse")
        };
        let logical = text.lines().filter(|l| l.starts_with("processor")).count().max(1);
        let cores = if threads == 0 { logical } else { threads.min(logical) };
        Some(Self { cores, mhz, flops_per_cycle, isa })
    }

    /// Peak GFLOP/s.
    pub fn gflops(&self) -> f64 {
        self.cores as f64 * self.mhz / 1000.0 * f64::from(self.flops_per_cycle)
    }
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Texts per batch for the throughput runs.
    pub batch_size: usize,
    /// Timed passes over all texts (the median is reported).
    pub repeats: usize,
    /// Texts embedded one by one for latency (the first ones of the input).
    pub latency_texts: usize,
    /// Texts embedded once before timing, to fault in weights and warm caches and allocators.
    pub warmup_texts: usize,
    /// Threads the engine was given (for the peak estimate; 0 = all cores).
    pub threads: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self { batch_size: 32, repeats: 3, latency_texts: 200, warmup_texts: 256, threads: 0 }
    }
}

/// Results of [`bench()`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// [`Encoder::backend_name`].
    pub backend: String,
    /// Texts per pass.
    pub texts: usize,
    /// Real tokens per pass.
    pub tokens: usize,
    /// Batch size of the throughput runs.
    pub batch_size: usize,
    /// Wall time of each throughput pass, seconds.
    pub pass_seconds: Vec<f64>,
    /// Texts per second (median pass).
    pub texts_per_s: f64,
    /// Real tokens per second (median pass).
    pub tokens_per_s: f64,
    /// Single-text calls timed.
    pub latency_n: usize,
    /// Median single-text latency, ms (tokenization included).
    pub latency_p50_ms: f64,
    /// 95th percentile single-text latency, ms.
    pub latency_p95_ms: f64,
    /// Useful matmul GFLOP/s of the median pass (real tokens only; padding is overhead, not work). For an int8
    /// graph these are int8 multiply-adds counted like fp32 ones, so the fraction of the fp32 peak is only a
    /// rough comparison there.
    pub gflops: f64,
    /// The CPU peak the fraction refers to, if known.
    pub peak: Option<CpuPeak>,
    /// `gflops` / peak.
    pub peak_fraction: Option<f64>,
}

/// Measures `encoder` on `texts`; see the module documentation for the protocol.
pub fn bench(encoder: &Encoder, texts: &[&str], opts: &BenchOptions) -> Result<BenchReport, EncoderError> {
    if texts.is_empty() || opts.repeats == 0 {
        return Err(EncoderError::InvalidOption("bench needs texts and at least one repeat".into()));
    }
    let limits = BatchLimits::new(opts.batch_size, usize::MAX);
    limits.validate()?;
    let lengths: Vec<usize> = encoder.tokenize(texts)?.iter().map(Vec::len).collect();
    let tokens: usize = lengths.iter().sum();
    let flops: f64 = lengths.iter().map(|&n| encoder.folder().config().forward_flops(n)).sum();

    encoder.embed_with(&texts[..opts.warmup_texts.min(texts.len())], limits)?;
    let mut pass_seconds = Vec::with_capacity(opts.repeats);
    for _ in 0..opts.repeats {
        let t0 = Instant::now();
        let e = encoder.embed_with(texts, limits)?;
        pass_seconds.push(t0.elapsed().as_secs_f64());
        debug_assert_eq!(e.len(), texts.len());
    }
    let median_s = percentile(&pass_seconds, 50.0);

    let mut latencies = Vec::with_capacity(opts.latency_texts);
    for t in texts.iter().take(opts.latency_texts) {
        let t0 = Instant::now();
        encoder.embed(&[t])?;
        latencies.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let gflops = flops / median_s / 1e9;
    // The peak is the CPU's: a GPU run reports GFLOP/s without a fraction.
    let peak = if encoder.device() == DeviceSpec::Cpu { CpuPeak::detect(opts.threads) } else { None };
    Ok(BenchReport {
        backend: encoder.backend_name().to_owned(),
        texts: texts.len(),
        tokens,
        batch_size: opts.batch_size,
        texts_per_s: texts.len() as f64 / median_s,
        tokens_per_s: tokens as f64 / median_s,
        pass_seconds,
        latency_n: latencies.len(),
        latency_p50_ms: if latencies.is_empty() { f64::NAN } else { percentile(&latencies, 50.0) },
        latency_p95_ms: if latencies.is_empty() { f64::NAN } else { percentile(&latencies, 95.0) },
        gflops,
        peak_fraction: peak.map(|p| gflops / p.gflops()),
        peak,
    })
}

/// `p`-th percentile with linear interpolation between closest ranks (numpy's default). `xs` must not be
/// empty.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], 50) == 2.5; (.., 95) == 3.85
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 50.0), 2.5);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 95.0) - 3.85).abs() < 1e-12);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
    }

    #[test]
    fn peak_from_cpuinfo() {
        let info = "processor\t: 0\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu sse avx avx2 fma avx512f\n\n\
                    processor\t: 1\ncpu MHz\t\t: 2600.000\nflags\t\t: fpu sse avx avx2 fma avx512f\n";
        let p = CpuPeak::from_cpuinfo(info, 0).unwrap();
        assert_eq!((p.cores, p.flops_per_cycle, p.isa), (2, 64, "avx512"));
        assert!((p.gflops() - 332.8).abs() < 1e-9);
        let avx2 = info.replace(" avx512f", "");
        let p = CpuPeak::from_cpuinfo(&avx2, 1).unwrap();
        assert_eq!((p.cores, p.flops_per_cycle), (1, 32));
        assert!(CpuPeak::from_cpuinfo("processor: 0\n", 0).is_none());
    }
}
