# shellcheck shell=bash
# Sourced by scripts/podman-images.sh, compose-up.sh and compose-smoke.sh: the podman settings this machine kind
# needs (../shared/design/real-servers.md), as configuration files rather than flags, so that every podman
# command, podman-compose's included, gets them. After sourcing, plain `podman` uses:
#   - its own image store under $ATLAS_PODMAN_DIR (default /tmp/atlas-podman), apart from the host's;
#   - runc (crun 1.8 refuses this host's hybrid cgroups), cgroupfs and file events (no systemd);
#   - ulimits within root's own limits (podman asks for more, and root here cannot raise them);
#   - its own network configuration and temporary folders (events, locks), so compose's networks and state do
#     not meet other users' podman (`podman system reset` with these settings touches this store only).
# Usage: source scripts/podman-env.sh
ATLAS_PODMAN_DIR="${ATLAS_PODMAN_DIR:-/tmp/atlas-podman}"
mkdir -p "$ATLAS_PODMAN_DIR"
cat >"$ATLAS_PODMAN_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$ATLAS_PODMAN_DIR/tmp"
[network]
network_config_dir = "$ATLAS_PODMAN_DIR/networks"
CONF
cat >"$ATLAS_PODMAN_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$ATLAS_PODMAN_DIR/graph"
runroot = "$ATLAS_PODMAN_DIR/run"
CONF
export ATLAS_PODMAN_DIR
export CONTAINERS_CONF="$ATLAS_PODMAN_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$ATLAS_PODMAN_DIR/storage.conf"
