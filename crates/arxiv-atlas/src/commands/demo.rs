//! `demo`: train, embed and index a papers file, then serve it.

use anyhow::Result;
use atlas_encoder::{EncoderSpec, Precision};
use atlas_pipeline::{DemoOptions, DemoStep};
use atlas_serve::{LogTarget, ServeOptions, ServerConfig};

use crate::cli::DemoArgs;

pub fn demo(a: DemoArgs) -> Result<()> {
    let onnx = atlas_encoder::encoder::onnx_runtime_available();
    let precision = a.precision.unwrap_or(if onnx { Precision::Int8 } else { Precision::Fp32 });
    if !onnx {
        tracing::warn!(
            "ONNX Runtime is not installed: embedding runs on candle in fp32, several times slower \
             (bash scripts/setup-onnxruntime.sh installs it; arxiv-atlas doctor shows what this machine uses)"
        );
    }
    let opts = DemoOptions {
        input: a.input.clone(),
        dir: a.dir.clone(),
        taxonomy: None,
        encoder: EncoderSpec { model_dir: a.model_dir.clone(), precision, ..EncoderSpec::default() },
    };
    println!("== demo: {} → {}", a.input.display(), a.dir.display());
    let done = atlas_pipeline::prepare_demo(&opts, &mut |s: &DemoStep| {
        let how = if s.ran { format!("{:.1} s", s.seconds) } else { "reused".to_string() };
        println!("  {:<6} {}  ({how})", s.name, s.output.display());
    })?;
    let (run, index) = (done.run_dir.display(), done.index.display());
    if a.no_serve {
        println!("\nserve it:  arxiv-atlas serve --model {run} --index {index} --addr {}", a.addr);
        return Ok(());
    }
    println!("\nalso try:  arxiv-atlas search \"dark matter halos\" --index {index}");
    println!("           arxiv-atlas classify --model {run} --title \"...\" --abstract \"...\"");
    let state = atlas_serve::build_state(&ServeOptions {
        model: Some(done.run_dir.clone()),
        index: Some(atlas_index::IndexLocation::Folder(done.index.clone())),
        ef_search: None,
        model_dir: a.model_dir,
        taxonomy: None,
        request_log: Some(LogTarget::Sqlite(a.dir.join("request-log.sqlite"))),
        server: ServerConfig::default(),
        max_batch_tokens: None,
        drift: Some(atlas_serve::DriftOptions::default()),
        admin_token: None,
    })?;
    println!("the web page is at the address below (Ctrl-C stops the server)");
    super::serve::run(state, &a.addr)
}
