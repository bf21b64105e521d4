//! Evaluates a synthetic but realistically shaped classifier (10k papers, 172 arXiv categories, confusions
//! mostly within an archive) and writes every report file, timing each step.
//!
//! ```text
//! cargo run --release -p atlas-eval --example synthetic_report -- /tmp/atlas-eval-demo [K] [N]
//! ```
//!
//! `K` (default 172) is the number of classes, `N` (default 10000) the number of papers. With the
//! environment variable `ATLAS_EVAL_DUMP=1` the inputs are also written to the output folder
//! (`probs.f32` little-endian row-major, `y_true.i32` with -1 for unknown, `true_sets.json`,
//! `report.json`) for cross-checking against scikit-learn.
//!
//! Category codes come from `../shared/data/taxonomy.tsv` when it exists (synthetic codes otherwise).

use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_eval::{evaluate, EvalInput, EvalOptions};

/// splitmix64: a tiny deterministic generator, enough for test data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize % n
    }
}

fn load_codes(k: usize) -> (Vec<String>, Vec<String>) {
    let tsv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/taxonomy.tsv");
    let mut rows: Vec<(String, String)> = std::fs::read_to_string(&tsv)
        .map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| {
                    let mut f = l.split('\t');
                    Some((f.next()?.to_string(), f.next()?.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    if rows.len() < k {
        eprintln!("{} not found or too short: using synthetic codes", tsv.display());
        rows = (0..k).map(|c| (format!("arch{}.C{c}", c / 12), format!("Class {c}"))).collect();
    }
    rows.sort();
    rows.truncate(k);
    rows.into_iter().unzip()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "/tmp/atlas-eval-demo".into()));
    let arg =
        |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (k, n) = (arg(2, 172).max(1), arg(3, 10_000).max(1));
    let (codes, names) = load_codes(k);
    let archive: Vec<&str> = codes.iter().map(|c| c.split('.').next().unwrap_or(c)).collect();
    let mut rng = Rng(20250101);
    // Zipf-like class sizes, as in arXiv.
    let weights: Vec<f64> = (0..k).map(|r| 1.0 / (r as f64 + 5.0)).collect();
    let total: f64 = weights.iter().sum();
    let mut order: Vec<usize> = (0..k).collect();
    for i in (1..k).rev() {
        order.swap(i, rng.below(i + 1));
    }

    let (mut probs, mut y_true, mut true_sets) = (Vec::with_capacity(n * k), Vec::new(), Vec::new());
    let mut logits = vec![0.0f64; k];
    for _ in 0..n {
        let mut u = rng.uniform() * total;
        let mut t = order[k - 1];
        for (r, w) in weights.iter().enumerate() {
            if u < *w {
                t = order[r];
                break;
            }
            u -= w;
        }
        let siblings: Vec<usize> = (0..k).filter(|&c| c != t && archive[c] == archive[t]).collect();
        let mut set = vec![t as u32];
        if rng.uniform() < 0.5 {
            let x = if !siblings.is_empty() && rng.uniform() < 0.8 {
                siblings[rng.below(siblings.len())]
            } else {
                rng.below(k)
            };
            if x != t {
                set.push(x as u32);
            }
        }
        for (c, l) in logits.iter_mut().enumerate() {
            *l = 1.2 * rng.normal() + if archive[c] == archive[t] { 1.5 } else { 0.0 };
        }
        logits[t] += 4.0;
        for &x in &set[1..] {
            logits[x as usize] += 3.0;
        }
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        probs.extend(logits.iter().map(|l| ((l - max).exp() / z) as f32));
        // One paper in 200 has a primary category the model does not know.
        y_true.push(if rng.uniform() < 0.005 { None } else { Some(t as u32) });
        true_sets.push(set);
    }

    let input = EvalInput {
        probs: &probs,
        n_classes: k,
        y_true: &y_true,
        true_sets: &true_sets,
        codes: &codes,
        names: &names,
    };
    let t0 = Instant::now();
    let report = evaluate(&input, &EvalOptions::default())?;
    let t_eval = t0.elapsed();
    std::fs::create_dir_all(&out)?;
    let t0 = Instant::now();
    report.write_per_class_csv(&out.join("per_class.csv"))?;
    let t_pc = t0.elapsed();
    let t0 = Instant::now();
    report.write_confusion_csv(&out.join("confusion.csv"))?;
    let t_cc = t0.elapsed();
    let t0 = Instant::now();
    report.write_confusion_png(&out.join("confusion.png"))?;
    let t_png = t0.elapsed();
    if std::env::var_os("ATLAS_EVAL_DUMP").is_some() {
        let bytes: Vec<u8> = probs.iter().flat_map(|p| p.to_le_bytes()).collect();
        std::fs::write(out.join("probs.f32"), bytes)?;
        let y: Vec<u8> = y_true.iter().flat_map(|y| y.map_or(-1, |t| t as i32).to_le_bytes()).collect();
        std::fs::write(out.join("y_true.i32"), y)?;
        std::fs::write(out.join("true_sets.json"), serde_json::to_vec(&true_sets)?)?;
        std::fs::write(out.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    }
    println!("{}", serde_json::to_string_pretty(&report.summary())?);
    println!(
        "n={n} K={k}: evaluate {:.1} ms, per_class.csv {:.1} ms, confusion.csv {:.1} ms, confusion.png {:.1} ms",
        t_eval.as_secs_f64() * 1e3,
        t_pc.as_secs_f64() * 1e3,
        t_cc.as_secs_f64() * 1e3,
        t_png.as_secs_f64() * 1e3
    );
    println!("wrote {}", out.display());
    Ok(())
}
