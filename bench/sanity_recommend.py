"""arxiv-sanity-lite's recommendation method, as the peer of `arxiv-atlas recommend` (bench/recommend-vs-sanity.sh).

arxiv-sanity-lite (github.com/karpathy/arxiv-sanity-lite) ranks papers for a tag by fitting, per tag, a
scikit-learn LinearSVC on TF-IDF features of every paper (the tag's papers are the positives, every other paper
a negative) and sorting the papers by the decision function. Settings are its own: `compute.py`'s
TfidfVectorizer (uni+bigrams, sublinear tf, english stop words, min_df 5, max_df 0.1, 20,000 features) over
title, abstract and authors, and `serve.py`'s LinearSVC(class_weight="balanced", C=0.01, tol=1e-6,
max_iter=10000).

Input (written by the Rust side, examples/recommend_bench.rs): papers.jsonl (id, text, category, candidate) and
lists.json (ids per list). Output: JSON with P@10 (a hit = a candidate recommendation whose primary category is
the list's; list papers are never counted) and the seconds per list.
"""
import json
import sys
import time

import numpy as np
from sklearn import svm
from sklearn.feature_extraction.text import TfidfVectorizer

K = 10


def main(out_dir):
    papers = [json.loads(line) for line in open(f"{out_dir}/papers.jsonl", encoding="utf-8")]
    lists = json.load(open(f"{out_dir}/lists.json", encoding="utf-8"))
    row = {p["id"]: i for i, p in enumerate(papers)}
    candidate = np.array([p["candidate"] for p in papers])
    category = np.array([p["category"] for p in papers])
    t = time.time()
    v = TfidfVectorizer(input="content", encoding="utf-8", decode_error="replace", strip_accents="unicode",
                        lowercase=True, analyzer="word", stop_words="english",
                        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b", ngram_range=(1, 2),
                        max_features=20000, norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True,
                        max_df=0.1, min_df=5)
    x = v.fit_transform([p["text"] for p in papers]).astype(np.float32)
    fit_s = time.time() - t
    precisions, seconds = [], []
    for ids in lists:
        t = time.time()
        rows = [row[i] for i in ids]
        y = np.zeros(len(papers), dtype=np.float32)
        y[rows] = 1
        clf = svm.LinearSVC(class_weight="balanced", verbose=False, max_iter=10000, tol=1e-6, C=0.01)
        clf.fit(x, y)
        s = clf.decision_function(x)
        s[~candidate] = -np.inf  # only held-out papers are recommended (the list's papers are not candidates)
        top = np.argsort(-s)[:K]
        seconds.append(time.time() - t)
        cat = category[rows[0]]
        precisions.append(float(np.mean(category[top] == cat)))
    out = {"p_at_10": float(np.mean(precisions)), "lists": len(lists), "papers": len(papers),
           "tfidf_features": int(x.shape[1]), "tfidf_fit_s": fit_s,
           "mean_s_per_list": float(np.mean(seconds)), "p50_s_per_list": float(np.median(seconds))}
    json.dump(out, open(f"{out_dir}/sanity.json", "w"), indent=1)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
