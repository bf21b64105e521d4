"""Evidently's verdicts and wall times on the reference/current pairs that `export_windows` wrote.

Evidently is run as its users run it: a `Report` of the `DataDriftPreset` with its default tests over the
columns the arxiv-atlas drift tests compare (the text, its length and out-of-vocabulary share, the model's
predicted category and confidence, the papers' category), every method and threshold left at its default
(K-S / chi-square p < 0.05 below 1,000 rows, Wasserstein / Jensen-Shannon 0.1 above, a TF-IDF domain
classifier on the text column). Pairs of an embedding model carry the vectors the arxiv-atlas embedding tests
see; they become an embedding column and `EmbeddingsDrift` (its default: a domain classifier, drift at ROC
AUC > 0.55) runs too.

    python bench/evidently_drift.py PAIRS_DIR [--cases a,b,...] [--json OUT]
"""

import argparse
import json
import os
import time

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import EmbeddingsDrift
from evidently.presets import DataDriftPreset

NUMERIC = ["text_words", "oov_share", "confidence"]
CATEGORICAL = ["predicted_category", "category"]


def frame(path):
    """A pair's rows; an `embedding` list column (embedding models) becomes columns e0, e1, ..."""
    df = pd.read_json(path, lines=True, dtype={"id": str, "category": str, "predicted_category": str})
    df = df.drop(columns=[c for c in NUMERIC if c in df and df[c].isna().all()])
    if "embedding" not in df:
        return df, False
    x = np.array(df.pop("embedding").tolist(), dtype=np.float32)
    cols = pd.DataFrame(x, columns=[f"e{j}" for j in range(x.shape[1])], index=df.index)
    return pd.concat([df, cols], axis=1), True


def run(reference, current, with_embeddings):
    numeric = [c for c in NUMERIC if c in reference and c in current]
    metrics = [DataDriftPreset()]
    definition = dict(numerical_columns=numeric, categorical_columns=CATEGORICAL, text_columns=["text"])
    if with_embeddings:
        definition["embeddings"] = {"minilm": [c for c in reference.columns if c.startswith("e") and c[1:].isdigit()]}
        metrics.append(EmbeddingsDrift(embeddings_name="minilm"))
    definition = DataDefinition(**definition)
    t = time.perf_counter()
    snapshot = Report(metrics, include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - t
    drifted, share_failed = [], False
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type", "").endswith("ValueDrift") and test["status"] == "FAIL":
            drifted.append(params["column"])
        if params.get("type", "").endswith("DriftedColumnsCount") and test["status"] == "FAIL":
            share_failed = True
    scores = {}
    for m in result["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            scores[cfg["column"]] = {"method": cfg["method"], "threshold": cfg["threshold"], "score": m["value"]}
        if cfg["type"].endswith("EmbeddingsDrift"):
            # The default method (a domain classifier) reports its ROC AUC; drift above 0.55.
            scores["embeddings"] = {"method": "model (ROC AUC)", "threshold": 0.55, "score": m["value"]}
            if m["value"] > 0.55:
                drifted.append("embeddings")
    return {"seconds": seconds, "drifted": drifted, "dataset_drift": share_failed, "scores": scores}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("--cases", default="")
    ap.add_argument("--json")
    a = ap.parse_args()
    reference, ref_emb = frame(os.path.join(a.pairs, "reference.jsonl"))
    cases = [c for c in a.cases.split(",") if c] or sorted(
        f[:-6] for f in os.listdir(a.pairs) if f.endswith(".jsonl") and f != "reference.jsonl"
    )
    out = []
    print("| case | papers | Evidently: dataset drift (≥ 50 % of columns) | columns that drift | text score | embedding AUC | seconds |")
    print("|---|---:|---|---|---:|---:|---:|")
    for case in cases:
        current, cur_emb = frame(os.path.join(a.pairs, f"{case}.jsonl"))
        r = run(reference, current, ref_emb and cur_emb)
        r.update(case=case, papers=len(current), reference=len(reference))
        out.append(r)
        text = r["scores"].get("text", {}).get("score")
        emb = r["scores"].get("embeddings", {}).get("score")
        fmt = lambda v: "–" if v is None else f"{v:.3f}"
        print(
            f"| {case} | {len(current)} | {'**drift**' if r['dataset_drift'] else 'no drift'} | "
            f"{', '.join(r['drifted']) or '–'} | {fmt(text)} | {fmt(emb)} | {r['seconds']:.2f} |",
            flush=True,
        )
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
