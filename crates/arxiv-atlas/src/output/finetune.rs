//! The summary tables of `finetune`.

use comfy_table::{Cell, CellAlignment};

use super::{num, table};

/// The summary of `finetune`: epochs, then frozen vs adapter on the test protocol, then where things went.
pub fn print_finetune(r: &atlas_finetune::FinetuneResult) {
    let mut t = table(&["epoch", "loss", "val P@1", "val MRR@10", "train s", "eval s"]);
    for e in &r.train.history {
        let mark = if e.epoch == r.train.best_epoch { " (kept)" } else { "" };
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
    let [train, val, test] = r.papers;
    println!(
        "test papers against train + validation ({test} queries, {} documents), exact search, hit = same \
         primary category; {train} train / {val} validation papers, {} categories",
        train + val,
        r.categories
    );
    let mut t = table(&["model", "P@1", "P@10", "MRR@10", "nDCG@10"]);
    for (name, m) in [("frozen", &r.frozen_test), ("adapter", &r.adapter_test)] {
        t.add_row(vec![Cell::new(name), num(m.p_at_1), num(m.p_at_10), num(m.mrr_at_10), num(m.ndcg_at_10)]);
    }
    println!("{t}");
    println!("model:      {}  (use with --model-dir)", r.model_dir.display());
    println!("embeddings: {}  (the input set through the adapter)", r.embeddings_dir.display());
    println!("run:        {}  ({:.1} s)", r.run_dir.display(), r.seconds);
}
