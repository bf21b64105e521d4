"""Loads a model folder written by `arxiv-atlas finetune` with Python sentence-transformers and compares its
embeddings with an embedding set arxiv-atlas computed with the same folder (`arxiv-atlas embed --model-dir`).

    arxiv-atlas embed --input papers.jsonl --out /tmp/st/set --model-dir RUN/artifacts/model
    HF_HUB_OFFLINE=1 python bench/finetuned-in-sentence-transformers.py RUN/artifacts/model /tmp/st/set \
        papers.jsonl BASE_MODEL_DIR

Texts are rendered as arxiv-atlas's default template does: "{title} [SEP] {abstract}", whitespace collapsed.
Needs sentence-transformers (the peer venv of ../shared/bench/requirements.txt).
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer

model_dir, set_dir, papers_file, base_dir = sys.argv[1:5]
ids = open(f"{set_dir}/ids.txt").read().split()
vectors = next(iter(load_file(f"{set_dir}/embeddings.safetensors").values()))
papers = {}
for line in open(papers_file):
    p = json.loads(line)
    papers[p["id"]] = p


def norm(s):
    return " ".join(s.split())


texts = [norm(papers[i]["title"]) + " [SEP] " + norm(papers[i]["abstract"]) for i in ids]
tuned = SentenceTransformer(model_dir, device="cpu")
base = SentenceTransformer(base_dir, device="cpu")
t = tuned.encode(texts)
b = base.encode(texts)


def cos(a, c):
    return (a * c).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(c, axis=1)


print("modules:", [type(m).__name__ for m in tuned])
c = cos(t, vectors)
print(f"sentence-transformers vs arxiv-atlas: min cosine {c.min():.7f}, mean {c.mean():.7f} over {len(ids)} papers")
print(f"tuned vs base model (sentence-transformers): mean cosine {cos(t, b).mean():.5f}")
