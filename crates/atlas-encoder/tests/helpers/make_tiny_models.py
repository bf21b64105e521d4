"""Builds randomly initialised MPNet and DistilBERT sentence-transformers folders offline, and PyTorch's
embeddings of a mixed-length batch for the parity test (tests/architectures.rs).

No weights are downloaded: each model is built by `transformers` from a config with a fixed seed, saved with
`save_pretrained` (model.safetensors, config.json), and wrapped in the sentence-transformers layout
(modules.json, mean pooling, Normalize, sentence_bert_config.json) with the tokenizer files of the folder given
by --tokenizer (all-MiniLM-L6-v2's uncased WordPiece: MPNet's real tokenizer differs, but what is tested is the
transformer, and both sides read the same tokenizer).

    python make_tiny_models.py --out DIR --tokenizer ../shared/models/all-MiniLM-L6-v2 [--size tiny|base]

writes DIR/<name>/ for each model and, for --size tiny, DIR/reference.json:
  {"texts": [...], "embeddings": {"<name>": [[f64, ...], ...]}}
with sentence-transformers' embeddings of all texts encoded as ONE padded batch. --size base writes 768-wide,
12-layer models (transformers' default initialisation) for `bench embed`, and no reference.
"""

import argparse
import json
import shutil
from pathlib import Path

import torch
from transformers import DistilBertConfig, DistilBertModel, MPNetConfig, MPNetModel

SEED = 20
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]

# Mixed lengths: one token-short text, sentences, and a long abstract (> 128 tokens apart, so MPNet's
# logarithmic relative-position buckets and the upper clamp are exercised).
TEXTS = [
    "Transformer",
    "Dark matter halos [SEP] We simulate the growth of dark matter halos in a cold universe.",
    "Attention is all you need",
    "Graph neural networks for molecules [SEP] "
    + " ".join(
        "We propose a message passing scheme on molecular graphs that respects permutation symmetry, "
        "and we evaluate it on quantum chemistry benchmarks where it improves on previous work."
        for _ in range(4)
    ),
    "Quantum error correction with surface codes [SEP] Thresholds near one percent are reported.",
]


def models(size):
    """(name, model) pairs, each built from a config with a fixed seed."""
    tiny = size == "tiny"
    common = dict(vocab_size=30522)
    if tiny:
        mp = MPNetConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                         max_position_embeddings=514, **common)
        db = dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=512, **common)
    else:
        mp = MPNetConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                         max_position_embeddings=514, **common)
        db = dict(dim=768, n_layers=12, n_heads=12, hidden_dim=3072, max_position_embeddings=512, **common)
    out = []
    torch.manual_seed(SEED)
    out.append(("mpnet", MPNetModel(mp, add_pooling_layer=False)))
    torch.manual_seed(SEED + 1)
    out.append(("distilbert", DistilBertModel(DistilBertConfig(**db))))
    if tiny:
        torch.manual_seed(SEED + 2)
        out.append(("distilbert-sinusoidal",
                    DistilBertModel(DistilBertConfig(sinusoidal_pos_embds=True, activation="relu", **db))))
    return out


def perturb(model, seed):
    """Replaces transformers' initialisation (std 0.02, LayerNorm 1/0) by larger random values, so that every part
    of the network, the relative-position bias in particular, changes the output measurably: a parity test on
    near-zero weights would pass a wrong implementation."""
    g = torch.Generator().manual_seed(seed)
    sinusoidal = getattr(model.config, "sinusoidal_pos_embds", False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "position_embeddings" in name and sinusoidal:
                continue
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_(1.0 + 0.2 * noise if name.endswith("weight") else 0.2 * noise)
            elif "relative_attention_bias" in name:
                p.copy_(2.0 * noise)
            else:
                p.copy_(0.2 * noise)


def write_folder(dst, model, tokenizer_dir):
    dst.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dst)
    for f in TOKENIZER_FILES:
        if (tokenizer_dir / f).is_file():
            shutil.copy(tokenizer_dir / f, dst / f)
    hidden = model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.dim
    (dst / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (dst / "1_Pooling").mkdir(exist_ok=True)
    (dst / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False,
    }))
    (dst / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 256, "do_lower_case": False}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tokenizer", required=True, type=Path, help="folder with tokenizer.json (all-MiniLM-L6-v2)")
    ap.add_argument("--size", choices=["tiny", "base"], default="tiny")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from sentence_transformers import SentenceTransformer

    reference = {"texts": TEXTS, "embeddings": {}}
    for i, (name, model) in enumerate(models(args.size)):
        if args.size == "tiny":
            perturb(model, SEED + 100 + i)
        dst = args.out / name
        write_folder(dst, model.eval(), args.tokenizer)
        if args.size == "tiny":
            st = SentenceTransformer(str(dst), device="cpu")
            # One call with batch_size = all texts: a single right-padded batch of mixed lengths.
            emb = st.encode(TEXTS, batch_size=len(TEXTS), convert_to_numpy=True)
            reference["embeddings"][name] = emb.astype("float64").tolist()
    if args.size == "tiny":
        (args.out / "reference.json").write_text(json.dumps(reference))


if __name__ == "__main__":
    main()
