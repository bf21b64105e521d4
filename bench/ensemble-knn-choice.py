"""How the ensemble's kNN settings (conf/experiment/ensemble.yaml, `knn:`) were chosen: on validation only.

For each (k, weight temperature, smoothing) of a grid, the kNN part's probabilities of the validation papers
(neighbours: the training papers, as the served part has), temperature-scaled on the temperature half, are
stacked with the TF-IDF and MLP parts' calibrated probabilities by log-linear pooling; the pooling weights
are fitted on one random half of the temperature half and the log loss is measured on the other, and back
(2-fold cross-validation). The test split is never read. See docs/benchmarks.md ("How the kNN part and its
settings were chosen").

Inputs: a dataset folder (train/validation parquet), the fp32 MiniLM embeddings of all its papers
(`arxiv-atlas embed`), and the two parts' calibrated probabilities of the validation split, written by
  arxiv-atlas classify --model RUN/artifacts/model/parts/tfidf --input DATA/validation.parquet -k 1000 --out tfidf.jsonl
  (the same for parts/embedding), from a run trained with `experiment=ensemble experiment.ensemble.knn=false`.

  ~/.cache/peers/bin/python bench/ensemble-knn-choice.py DATA EMBEDDINGS tfidf.jsonl embedding.jsonl
"""

import json
import sys

import numpy as np
import pyarrow.parquet as pq
from safetensors.numpy import load_file
from scipy.optimize import minimize

MASK = (1 << 64) - 1


def temperature_half(paper_id):
    """True for the temperature half (atlas_calibrate::calibration_half: FNV-1a, then splitmix64's finaliser)."""
    h = 0xCBF29CE484222325
    for b in paper_id.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    h ^= h >> 31
    return h & 1 == 0


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def nll(p, y):
    return -np.log(np.maximum(p[np.arange(len(y)), y], 1e-300)).mean()


def pool(logps, w):
    return softmax(sum(wi * lp for wi, lp in zip(w, logps)))


def main(data, embeddings, tfidf_file, emb_file):
    x = list(load_file(f"{embeddings}/embeddings.safetensors").values())[0]
    row = {pid: i for i, pid in enumerate(open(f"{embeddings}/ids.txt").read().split())}
    split = {s: pq.read_table(f"{data}/{s}.parquet", columns=["id", "primary"]).to_pydict() for s in ["train", "validation"]}
    labels = sorted(set(split["train"]["primary"]))
    index = {c: i for i, c in enumerate(labels)}
    ytr = np.array([index[c] for c in split["train"]["primary"]])
    xtr = x[[row[i] for i in split["train"]["id"]]]
    ids = split["validation"]["id"]
    yv = np.array([index.get(c, -1) for c in split["validation"]["primary"]])
    xv = x[[row[i] for i in ids]]
    half = np.array([temperature_half(i) for i in ids]) & (yv >= 0)

    def part(path):
        p = np.zeros((len(ids), len(labels)))
        pos = {pid: i for i, pid in enumerate(ids)}
        for line in open(path):
            r = json.loads(line)
            for c in r["probabilities"]:
                p[pos[r["id"]], index[c["category"]]] = c["probability"]
        return np.log(np.maximum(p, 1e-38))

    fixed = [part(tfidf_file), part(emb_file)]
    kmax = 200
    sims = np.empty((len(ids), kmax), np.float32)
    nbr = np.empty((len(ids), kmax), np.int64)
    for a in range(0, len(ids), 1000):
        s = xv[a : a + 1000] @ xtr.T
        top = np.argpartition(-s, kmax, axis=1)[:, :kmax]
        st = np.take_along_axis(s, top, 1)
        order = np.argsort(-st, 1)
        sims[a : a + 1000] = np.take_along_axis(st, order, 1)
        nbr[a : a + 1000] = np.take_along_axis(top, order, 1)
    prior = np.bincount(ytr, minlength=len(labels)) / len(ytr)
    t_rows = np.where(half)[0]
    fold = np.random.RandomState(0).rand(len(t_rows)) < 0.5
    folds = [(t_rows[fold], t_rows[~fold]), (t_rows[~fold], t_rows[fold])]
    for k in [50, 100, 200]:
        for tau in [0.02, 0.025, 0.03, 0.05, 0.07]:
            for smoothing in [0.1, 0.3, 1.0]:
                w = np.exp((sims[:, :k] - sims[:, :1]) / tau)
                p = np.zeros((len(ids), len(labels)))
                np.add.at(p, (np.repeat(np.arange(len(ids)), k), ytr[nbr[:, :k]].ravel()), w.ravel())
                p += smoothing * prior * w.sum(1, keepdims=True) / k
                lp = np.log(p / p.sum(1, keepdims=True))
                t = minimize(lambda t: nll(softmax(lp[half] / t[0]), yv[half]), [1.0], bounds=[(0.05, 20)]).x[0]
                logps = fixed + [np.log(softmax(lp / t))]
                losses = []
                for fit, ev in folds:
                    wts = minimize(
                        lambda w: nll(pool([l[fit] for l in logps], w), yv[fit]),
                        np.ones(3) / 3,
                        bounds=[(0, None)] * 3,
                    ).x
                    losses.append(nll(pool([l[ev] for l in logps], wts), yv[ev]))
                print(f"k {k} weight_temperature {tau} smoothing {smoothing}: cv log loss {np.mean(losses):.4f}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
