//! The summary tables of `finetune`.

use comfy_table::{Cell, CellAlignment};

use super::{num, table};

/// The summary of `finetune`: epochs, then frozen vs adapter on the test protocol, then where things went.
pub fn print_finetune(r: &atlas_finetune::FinetuneResult) {
    if let Some(train) = &r.train {
        let mut t = table(&["epoch", "loss", "val P@1", "val MRR@10", "train s", "eval s"]);
        for e in &train.history {
            let mark = if e.epoch == train.best_epoch { " (kept)" } else { "" };
            t.add_row(vec![
                Cell::new(format!("{}{mark}", e.epoch)),
                e.loss.map_or_else(|| Cell::new("frozen"), num),
                num(e.val_p_at_1),
                num(e.val_mrr_at_10),
                Cell::new(format!("{:.1}", e.train_s)).set_alignment(CellAlignment::Right),
                Cell::new(format!("{:.1}", e.eval_s)).set_alignment(CellAlignment::Right),
            ]);
        }
        println!("{t}");
    }
    if let Some(layers) = &r.layers {
        let mut t = table(&["step", "mean loss since last", "val P@1", "val MRR@10"]);
        let mut last = 0usize;
        for e in &layers.evals {
            let window: Vec<f64> =
                layers.steps.iter().filter(|s| s.step > last && s.step <= e.step).map(|s| s.loss).collect();
            let loss = if window.is_empty() {
                Cell::new("frozen")
            } else {
                num(window.iter().sum::<f64>() / window.len() as f64)
            };
            t.add_row(vec![
                Cell::new(e.step).set_alignment(CellAlignment::Right),
                loss,
                num(e.p_at_1),
                num(e.mrr_at_10),
            ]);
            last = e.step;
        }
        println!("{t}");
        println!(
            "top {} layers trained from layer {}: {} steps ({} pairs an epoch), {:.1} s of training{}",
            r.train_layers,
            layers.from_layer,
            layers.steps.len(),
            layers.pairs_per_epoch,
            layers.train_s,
            if layers.resumed_from > 0 {
                format!(", resumed at step {}", layers.resumed_from)
            } else {
                String::new()
            }
        );
        if let Some((dir, built)) = &r.hidden_store {
            println!("hidden states: {} ({})", dir.display(), if *built { "computed now" } else { "reused" });
        }
    }
    let [train, val, test] = r.papers;
    println!(
        "test papers against train + validation ({test} queries, {} documents), exact search, hit = same \
         primary category; {train} train / {val} validation papers, {} categories",
        train + val,
        r.categories
    );
    let mut t = table(&["model", "P@1", "P@10", "MRR@10", "nDCG@10"]);
    let tuned = if r.train.is_some() { "adapter" } else { "fine-tuned" };
    for (name, m) in [("frozen", &r.frozen_test), (tuned, &r.tuned_test)] {
        t.add_row(vec![Cell::new(name), num(m.p_at_1), num(m.p_at_10), num(m.mrr_at_10), num(m.ndcg_at_10)]);
    }
    println!("{t}");
    println!("model:      {}  (use with --model-dir)", r.model_dir.display());
    println!("embeddings: {}  (every paper of the input set, fine-tuned model)", r.embeddings_dir.display());
    println!("run:        {}  ({:.1} s)", r.run_dir.display(), r.seconds);
}
