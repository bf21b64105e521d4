#!/usr/bin/env bash
# Builds the images with podman where no image registry is reachable, following
# ../shared/design/real-servers.md: a Debian 12 base made from Debian's mirror with mmdebstrap and imported,
# then the Dockerfiles of docker/ FROM it:
#   - always: docker/api.Dockerfile and docker/train.Dockerfile, from a context of scripts/image-context.sh;
#   - with --stack: the other services of compose.yaml, whose public images cannot be pulled here —
#     docker/postgres.Dockerfile (pgvector from ../shared/vendor, staged in a context outside the repository),
#     docker/mlflow.Dockerfile (MLflow from PyPI) and docker/prometheus.Dockerfile (Debian's package).
# Prints the image sizes. Needs root, podman, runc and mmdebstrap (apt-get install -y podman runc mmdebstrap).
# The podman settings (store under $ATLAS_PODMAN_DIR, default /tmp/atlas-podman) are those of scripts/podman-env.sh.
#
# Usage: bash scripts/podman-images.sh [--stack] [MODEL_DIR [INDEX_DIR]]   (baked into the API image when given)
set -euo pipefail
cd "$(dirname "$0")/.."
stack=0
if [ "${1:-}" = --stack ]; then
  stack=1
  shift
fi
# shellcheck source=scripts/podman-env.sh
source scripts/podman-env.sh
work="$ATLAS_PODMAN_DIR"
base=localhost/atlas-base:bookworm
# --pull=never: the base is local, and podman would otherwise try https://localhost/v2/ first (~6 s each).
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
build=(podman build --isolation chroot --pull=never --format docker)
from_base=(--build-arg BASE_IMAGE="$base")

if ! podman image exists "$base"; then
  tar="$work/base-bookworm.tar"
  if [ ! -s "$tar" ]; then
    # shellcheck disable=SC2016 # $(REPO_URI) is apt's own template syntax, not the shell's.
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" {print $1; exit}')
    mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$tar.partial" "$mirror"
    mv "$tar.partial" "$tar"
  fi
  podman import -q --change 'CMD ["/bin/bash"]' "$tar" "$base" >/dev/null
fi

ctx="$(bash scripts/image-context.sh "$work/context" "${1:-}" "${2:-}")"
model_arg=none index_arg=none
[ -n "${1:-}" ] && model_arg=context
[ -n "${2:-}" ] && index_arg=context
"${build[@]}" "${from_base[@]}" -f docker/api.Dockerfile --build-arg BINARY=context --build-arg ORT=context \
  --build-arg MODEL="$model_arg" --build-arg INDEX="$index_arg" -t localhost/arxiv-atlas-api:dev "$ctx"
"${build[@]}" -f docker/train.Dockerfile \
  --build-arg API_IMAGE=localhost/arxiv-atlas-api:dev -t localhost/arxiv-atlas-train:dev "$ctx"

if [ "$stack" = 1 ]; then
  # pgvector's source is vendored in ../shared (no registry serves it); it is staged with the entry point in a
  # context outside the repository, never copied into it.
  pgctx="$work/postgres-context"
  rm -rf "$pgctx"
  mkdir -p "$pgctx"
  cp ../shared/vendor/pgvector-0.8.2.tar.gz docker/postgres-entrypoint.sh "$pgctx/"
  "${build[@]}" "${from_base[@]}" -f docker/postgres.Dockerfile --build-arg PGVECTOR_VERSION=0.8.2 \
    -t localhost/arxiv-atlas-postgres:dev "$pgctx"
  # pip inside the build trusts the host's CA bundle: HTTPS may pass a proxy whose CA only the host knows.
  "${build[@]}" "${from_base[@]}" -f docker/mlflow.Dockerfile -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
    --build-arg PIP_CERT=/run/host-ca.crt -t localhost/arxiv-atlas-mlflow:dev docker
  "${build[@]}" "${from_base[@]}" -f docker/prometheus.Dockerfile -t localhost/arxiv-atlas-prometheus:dev docker
fi
# The build stages' images (pgvector's compiler stage alone is 1.4 GB) go: disk is shared here, and a rebuild
# costs little (docs/deployment.md gives the times).
podman image prune -f >/dev/null
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'atlas-(base|api|train|postgres|mlflow|prometheus)'
