#!/usr/bin/env bash
# Builds the API and batch images with podman where no image registry is reachable, following
# ../shared/design/real-servers.md: a Debian 12 base made from Debian's mirror with mmdebstrap and imported,
# then docker/api.Dockerfile and docker/train.Dockerfile FROM it, from a context of scripts/image-context.sh.
# Prints the image sizes. Needs root, podman, runc and mmdebstrap (apt-get install -y podman runc mmdebstrap).
#
# Usage: bash scripts/podman-images.sh [MODEL_DIR [INDEX_DIR]]   (baked into the API image when given)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${ATLAS_PODMAN_DIR:-/tmp/atlas-podman}"
P=(podman --root "$work/graph" --runroot "$work/run" --storage-driver overlay
  --runtime runc --cgroup-manager cgroupfs --events-backend file)
base=localhost/atlas-base:bookworm

if ! "${P[@]}" image exists "$base"; then
  tar="$work/base-bookworm.tar"
  mkdir -p "$work"
  if [ ! -s "$tar" ]; then
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" {print $1; exit}')
    mmdebstrap --quiet --mode=root --variant=minbase --format=tar \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$tar.partial" "$mirror"
    mv "$tar.partial" "$tar"
  fi
  "${P[@]}" import -q --change 'CMD ["/bin/bash"]' "$tar" "$base" >/dev/null
fi

ctx="$(bash scripts/image-context.sh "$work/context" "${1:-}" "${2:-}")"
model_arg=none index_arg=none
[ -n "${1:-}" ] && model_arg=context
[ -n "${2:-}" ] && index_arg=context
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
"${P[@]}" build --isolation chroot --pull=never --format docker -f docker/api.Dockerfile \
  --build-arg BASE_IMAGE="$base" --build-arg BINARY=context --build-arg ORT=context \
  --build-arg MODEL="$model_arg" --build-arg INDEX="$index_arg" -t localhost/arxiv-atlas-api:dev "$ctx"
"${P[@]}" build --isolation chroot --pull=never --format docker -f docker/train.Dockerfile \
  --build-arg API_IMAGE=localhost/arxiv-atlas-api:dev -t localhost/arxiv-atlas-train:dev "$ctx"
"${P[@]}" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'atlas-(base|api|train)'
