//! The CPU's vector extensions and which kernels they give the encoder and the index.

use serde::{Deserialize, Serialize};

use crate::report::{Check, Status};

/// The vector extensions that decide which kernels run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuFeatures {
    /// `x86_64`, `aarch64`, …
    pub arch: String,
    /// The model name of `/proc/cpuinfo`, when readable.
    pub model: Option<String>,
    /// AVX2 (256-bit integer and float vectors).
    pub avx2: bool,
    /// Fused multiply-add.
    pub fma: bool,
    /// AVX-512 Foundation.
    pub avx512f: bool,
    /// AVX-512 byte and word instructions (the 8/16-bit integer forms int8 kernels use).
    pub avx512bw: bool,
    /// AVX-512 VNNI (`vpdpbusd`: u8×s8 dot products accumulated into i32 in one instruction).
    pub avx512vnni: bool,
    /// AVX-VNNI (the same instruction on 256-bit vectors, on CPUs without AVX-512).
    pub avxvnni: bool,
}

impl CpuFeatures {
    /// This CPU, as the running process sees it (OS support for the wider registers included).
    pub fn detect() -> Self {
        let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_owned())
            })
        });
        let mut cpu = Self { arch: std::env::consts::ARCH.to_owned(), model, ..Self::default() };
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            cpu.avx2 = std::arch::is_x86_feature_detected!("avx2");
            cpu.fma = std::arch::is_x86_feature_detected!("fma");
            cpu.avx512f = std::arch::is_x86_feature_detected!("avx512f");
            cpu.avx512bw = std::arch::is_x86_feature_detected!("avx512bw");
            cpu.avx512vnni = std::arch::is_x86_feature_detected!("avx512vnni");
            cpu.avxvnni = std::arch::is_x86_feature_detected!("avxvnni");
        }
        cpu
    }

    /// Whether either VNNI form is there.
    pub fn vnni(&self) -> bool {
        self.avx512vnni || self.avxvnni
    }

    fn x86(&self) -> bool {
        matches!(self.arch.as_str(), "x86_64" | "x86")
    }

    /// `has avx2, fma; lacks avx512f, …`.
    fn flags(&self) -> String {
        let all = [
            ("avx2", self.avx2),
            ("fma", self.fma),
            ("avx512f", self.avx512f),
            ("avx512bw", self.avx512bw),
            ("avx512vnni", self.avx512vnni),
            ("avxvnni", self.avxvnni),
        ];
        let pick =
            |want: bool| all.iter().filter(|(_, has)| *has == want).map(|(n, _)| *n).collect::<Vec<_>>();
        let (has, lacks) = (pick(true), pick(false));
        match (has.is_empty(), lacks.is_empty()) {
            (_, true) => format!("has {}", has.join(", ")),
            (true, false) => format!("none of {}", lacks.join(", ")),
            (false, false) => format!("has {}; lacks {}", has.join(", "), lacks.join(", ")),
        }
    }
}

/// The `cpu` check: which kernels the extensions enable, for int8 above all.
pub(crate) fn check(cpu: &CpuFeatures) -> Check {
    let name = cpu.model.clone().unwrap_or_else(|| "CPU".to_owned());
    if !cpu.x86() {
        return Check::new(
            "cpu",
            Status::Info,
            format!("{name} ({})", cpu.arch),
            "the int8 graph arxiv-atlas runs (onnx/model_qint8_avx2.onnx) is quantized for x86 kernels, and \
             every measurement in docs/benchmarks.md is from x86 CPUs; fp32 is the tested path here",
        );
    }
    let found = format!("{name} ({}): {}", cpu.arch, cpu.flags());
    if !(cpu.avx2 && cpu.fma) {
        return Check::new(
            "cpu",
            Status::Warning,
            found,
            "without AVX2 + FMA, ONNX Runtime and candle fall back to older SSE/AVX kernels and the exact index \
             to scalar code, so embedding and exact search are slower than anything docs/benchmarks.md reports \
             (every figure there is from AVX2 or AVX-512 CPUs; this case is not measured)",
        );
    }
    let int8 = if cpu.vnni() {
        let which = if cpu.avx512vnni { "AVX-512 VNNI" } else { "AVX-VNNI" };
        format!(
            "int8 (--precision int8): ONNX Runtime's int8 matrix products use {which} (vpdpbusd: one instruction \
             per 4 u8×s8 products); on an AVX-512 VNNI Xeon the int8 graph ran 50.5 texts/s against 42.0 for \
             fp32 (docs/benchmarks.md), and usearch's i8 index kernel uses VNNI too."
        )
    } else {
        "int8 (--precision int8): no VNNI, so ONNX Runtime's int8 matrix products run on AVX2 u8×s8 kernels \
         (vpmaddubsw, which can saturate: model_qint8_avx2.onnx is quantized per channel with reduced range for \
         them, keeping cosine to fp32 at 0.99); docs/benchmarks.md's int8 figures are from a VNNI CPU, so expect \
         less int8 gain here."
            .to_owned()
    };
    let fp32 = if cpu.avx512f {
        "fp32: ONNX Runtime's matrix products use AVX-512; the exact index uses its AVX2 + FMA kernel."
    } else {
        "fp32: ONNX Runtime's matrix products and the exact index use AVX2 + FMA kernels (no AVX-512)."
    };
    Check::new("cpu", Status::Ok, found, format!("{int8} {fp32}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x86(avx2: bool, avx512: bool, vnni: bool) -> CpuFeatures {
        CpuFeatures {
            arch: "x86_64".into(),
            model: Some("Test CPU".into()),
            avx2,
            fma: avx2,
            avx512f: avx512,
            avx512bw: avx512,
            avx512vnni: avx512 && vnni,
            avxvnni: !avx512 && vnni,
        }
    }

    #[test]
    fn the_kernels_follow_the_extensions() {
        let vnni = check(&x86(true, true, true));
        assert_eq!(vnni.status, Status::Ok);
        assert!(
            vnni.found.contains("has avx2, fma, avx512f, avx512bw, avx512vnni; lacks avxvnni"),
            "{}",
            vnni.found
        );
        assert!(vnni.why.contains("AVX-512 VNNI") && vnni.why.contains("50.5"), "{}", vnni.why);

        let avx_vnni = check(&x86(true, false, true));
        assert!(
            avx_vnni.why.contains("use AVX-VNNI") && avx_vnni.why.contains("no AVX-512"),
            "{}",
            avx_vnni.why
        );

        let avx2 = check(&x86(true, false, false));
        assert_eq!(avx2.status, Status::Ok);
        assert!(avx2.why.contains("no VNNI") && avx2.why.contains("model_qint8_avx2.onnx"), "{}", avx2.why);

        let old = check(&x86(false, false, false));
        assert_eq!(old.status, Status::Warning);
        assert!(old.found.contains("none of avx2"), "{}", old.found);

        let arm = check(&CpuFeatures { arch: "aarch64".into(), ..CpuFeatures::default() });
        assert_eq!(arm.status, Status::Info);
    }
}
