#!/usr/bin/env bash
# docker-build.sh ARGS…: `docker build ARGS…` with BuildKit (cache mounts,
# BUILDPLATFORM/TARGETARCH), whichever way this machine's Docker offers it:
# `docker buildx build --load` when the client has the buildx plugin, else a
# client with BuildKit built in (Docker 20.10 to 22, such as Debian
# bookworm's docker.io at /usr/bin/docker) with DOCKER_BUILDKIT=1.
set -euo pipefail
if docker buildx version >/dev/null 2>&1; then
  exec docker buildx build --load "$@"
fi
for client in docker /usr/bin/docker; do
  if DOCKER_BUILDKIT=1 "$client" build --help 2>/dev/null | grep -q -- '--secret'; then
    DOCKER_BUILDKIT=1 exec "$client" build "$@"
  fi
done
echo "docker-build: no Docker client here builds with BuildKit: install the buildx plugin (docker-buildx) or Debian's docker.io" >&2
exit 1
