#!/usr/bin/env bash
# Builds the reference server's container image offline, with no registry:
# a root filesystem holding only a static harness-serve, imported with
# `podman import` (or docker's), ENTRYPOINT harness-serve, CMD listening on
# 0.0.0.0:8080 (what scenarios/containers.yaml runs).
# Usage: scripts/container-image.sh [ENGINE [IMAGE]]
#   ENGINE  podman or docker (default: podman when on PATH, else docker)
#   IMAGE   default localhost/flood-harness-serve:latest
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-$(command -v podman >/dev/null && echo podman || echo docker)}
image=${2:-localhost/flood-harness-serve:latest}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/fs/bin" "$root/fs/tmp"
CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -o "$root/fs/bin/" ./cmd/harness-serve
tar -C "$root/fs" -cf "$root/rootfs.tar" .
quiet=(); [ "$engine" = podman ] && quiet=(--quiet)
"$engine" import "${quiet[@]}" \
	--change 'ENTRYPOINT ["/bin/harness-serve"]' \
	--change 'CMD ["--addr", "0.0.0.0", "--port", "8080"]' \
	"$root/rootfs.tar" "$image" >/dev/null
echo "container-image: $image ($engine)"
