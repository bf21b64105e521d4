#!/usr/bin/env bash
# Drift verdicts and wall times of arxiv-atlas beside Evidently 0.7, on the same reference/current pairs
# (docs/monitoring.md): the validation split of arxiv-100k as reference; the test split (~10,000 vs ~10,000,
# the timing pair), 20 random 1,000-paper test windows, recent-2025 in full and one 1,000-paper window, one
# archive (math), abstracts cut to 20 words. The pairs are written once by the `export_windows` example with
# the per-text features the arxiv-atlas tests see (text, length, OOV share, predicted category, confidence,
# category); Evidently judges those columns with its DataDriftPreset defaults. arxiv-atlas runs the `measure`
# example on the same windows (same seeds) in the same session.
#
#   bash bench/drift-vs-evidently.sh RUN DATASET [OUT_DIR]
#
# RUN: a run trained on DATASET (an ingested arxiv-100k) whose model folder holds a drift profile: TF-IDF, or an
# embedding model, whose pairs also carry the vectors its embedding tests see (Evidently then adds its
# EmbeddingsDrift on them). SKIP_RECENT_ALL=1 leaves out the 30,000 recent-2025 papers (an embedding model embeds
# every new text: ~1 min per 1,000 on 2 CPU cores).
# EVIDENTLY_PY: a Python with evidently 0.7.x (made here on first use, in ~/.cache/arxiv-atlas/evidently-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: drift-vs-evidently.sh RUN DATASET [OUT_DIR]}
DATA=${2:?usage: drift-vs-evidently.sh RUN DATASET [OUT_DIR]}
OUT=${3:-target/bench-drift}
RECENT=${RECENT:-../shared/data/recent-2025.jsonl.gz}
VENV=${VENV:-$HOME/.cache/arxiv-atlas/evidently-venv}
EVIDENTLY_PY=${EVIDENTLY_PY:-$VENV/bin/python}
if [ ! -x "$EVIDENTLY_PY" ]; then
  python3 -m venv "$VENV"
  # pandas 3 removed a function evidently 0.7 imports.
  "$VENV/bin/pip" install -q 'evidently>=0.7,<0.8' 'pandas>=2.2,<3' pyarrow
fi
mkdir -p "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; $(date -u +%FT%TZ);" \
  "load $(cut -d' ' -f1-3 /proc/loadavg); evidently $("$EVIDENTLY_PY" -c 'import evidently; print(evidently.__version__)')"
[ -f "$OUT/pairs/reference.jsonl" ] ||
  cargo run --release -q -p atlas-monitor --example export_windows -- "$RUN" "$DATA" "$RECENT" "$OUT/pairs"
echo "== arxiv-atlas (in process, model loaded once; seconds per report predicting every text, and with the predictions given as a request log gives them)"
cargo run --release -q -p atlas-monitor --example measure -- "$RUN" "$DATA" "$RECENT" 20 | tee "$OUT/atlas.md"
echo "== Evidently (seconds per Report.run, features given)"
"$EVIDENTLY_PY" bench/evidently_drift.py "$OUT/pairs" --json "$OUT/evidently.json" | tee "$OUT/evidently.md"
