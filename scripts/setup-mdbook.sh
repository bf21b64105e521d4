#!/usr/bin/env bash
# Installs mdBook (pinned, from crates.io) for the docs site and prints the path of its binary. Idempotent: a
# second run only prints the path. Built from source with `cargo install` because crates.io is the one place
# every machine of this project (and CI) can reach; the default `serve`/`watch` features are left out, which
# halves the build (about 3 minutes on 2 cores, once; the binary is cached outside the clone).
#
# Usage: bash scripts/setup-mdbook.sh                 # prints e.g. /root/.cache/arxiv-atlas/tools/bin/mdbook
#        "$(bash scripts/setup-mdbook.sh)" build docs  # the site into docs/book/
set -euo pipefail

MDBOOK_VERSION="0.5.4"
ROOT="${ARXIV_ATLAS_TOOLS:-$HOME/.cache/arxiv-atlas/tools}"
MDBOOK="$ROOT/bin/mdbook"

if [ -x "$MDBOOK" ] && [ "$("$MDBOOK" --version 2>/dev/null)" = "mdbook v$MDBOOK_VERSION" ]; then
  echo "$MDBOOK"
  exit 0
fi
# Its own target dir: the workspace's cache is keyed by our lockfile, mdBook's by its own.
CARGO_TARGET_DIR="$ROOT/target" cargo install --quiet --locked --no-default-features --features search \
  --version "$MDBOOK_VERSION" --root "$ROOT" mdbook >&2
rm -rf "$ROOT/target"
"$MDBOOK" --version >/dev/null
echo "$MDBOOK"
