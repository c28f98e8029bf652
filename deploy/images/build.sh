#!/usr/bin/env bash
# Builds every image the compose stack runs, and writes the image names to
# use to the env file given as $1 (POSTGRES_IMAGE, NATS_IMAGE, GO_IMAGE,
# NOMNOM_IMAGE, NOMNOM_VERSION lines, read by `docker compose --env-file`).
#
# PostgreSQL, NATS and the Go build image are the official images named in
# docker-compose.yml and the Dockerfile when they are present or can be
# pulled; otherwise (no route to Docker Hub, an air-gapped machine) local
# stand-ins with the same roles are built from Debian's packages and the
# nats-server module of go.mod:
#   nomnom-standin/debian:bookworm   debootstrap --variant=minbase + this host's CA bundle
#   nomnom-standin/golang:<go>       that + this host's Go toolchain
#   nomnom-standin/postgres:15       that + Debian's postgresql-15, official entry point contract
#   nomnom-standin/nats:<version>    that + nats-server built from go.mod's version, wget
# Then the nomnom image (Dockerfile) is built with BuildKit.
#
# Environment: NOMNOM_IMAGE (repository, default nomnom), NOMNOM_VERSION
# (its tag and the binaries' version, default dev),
# POSTGRES_IMAGE, NATS_IMAGE, GO_IMAGE (use these images, no stand-in).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: deploy/images/build.sh ENV_FILE}
here=deploy/images
mkdir -p "$(dirname "$out")"

log() { echo "images: $*" >&2; }

# The defaults are read from the files that declare them, so that there is
# one place to change each.
compose_default() { sed -n "s/.*\${$1:-\([^}]*\)}.*/\1/p" docker-compose.yml | head -n1; }
nats_version=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
postgres_real=$(compose_default POSTGRES_IMAGE)
nats_real=$(compose_default NATS_IMAGE)
go_real=$(sed -n 's/^ARG GO_IMAGE=//p' Dockerfile)
[ -n "$postgres_real" ] && [ -n "$nats_real" ] && [ -n "$go_real" ] ||
  { log "could not read the default images from docker-compose.yml and Dockerfile"; exit 1; }

build() { "$here/docker-build.sh" "$@"; }

have() { docker image inspect "$1" >/dev/null 2>&1; }

# resolve NAME REAL STANDIN BUILDER: REAL when present or pullable, else
# STANDIN (built by BUILDER unless present); the name is stored in $NAME.
resolve() {
  local var=$1 real=$2 standin=$3 builder=$4
  if [ -n "${!var:-}" ]; then
    have "${!var}" || docker pull "${!var}" >&2 || { log "$var=${!var}: not present and cannot be pulled"; exit 1; }
    log "$var=${!var} (given)"
  elif have "$real"; then
    printf -v "$var" %s "$real"; log "$var=$real (present)"
  elif timeout 60 docker pull -q "$real" >/dev/null 2>&1; then
    printf -v "$var" %s "$real"; log "$var=$real (pulled)"
  elif have "$standin"; then
    printf -v "$var" %s "$standin"; log "$var=$standin (stand-in, present; $real cannot be pulled)"
  else
    log "$real cannot be pulled: building the stand-in $standin"
    "$builder" "$standin"
    printf -v "$var" %s "$standin"; log "$var=$standin (stand-in, built)"
  fi
}

debian_base=nomnom-standin/debian:bookworm
debian() {
  have "$debian_base" && return
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    apt-get install -y -q debootstrap >&2
  }
  local dir
  dir=$(mktemp -d /var/tmp/nomnom-debian.XXXXXX)
  log "debootstrap --variant=minbase bookworm (about a minute)"
  debootstrap --variant=minbase bookworm "$dir" http://deb.debian.org/debian >/dev/null
  # This host's CA bundle, so that TLS from the images works where a
  # proxy's certificate authority is in it.
  mkdir -p "$dir/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$debian_base" >/dev/null
  rm -rf "$dir"
}

golang() {
  debian
  local goroot
  goroot=$(go env GOROOT)
  build -q -t "$1" -f - "$goroot" >/dev/null <<EOF
FROM $debian_base
COPY . /usr/local/go
ENV GOROOT=/usr/local/go GOPATH=/go GOTOOLCHAIN=local \
    PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
EOF
}

postgres() {
  debian
  build -q -t "$1" --build-arg BASE_IMAGE="$debian_base" "$here/postgres" >/dev/null
}

nats() {
  debian
  local dir
  dir=$(mktemp -d)
  cp "$here/nats/Dockerfile" "$dir/"
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$dir/nats-server" github.com/nats-io/nats-server/v2
  build -q -t "$1" --build-arg BASE_IMAGE="$debian_base" "$dir" >/dev/null
  rm -rf "$dir"
}

resolve POSTGRES_IMAGE "$postgres_real" nomnom-standin/postgres:15 postgres
resolve NATS_IMAGE "$nats_real" "nomnom-standin/nats:${nats_version#v}" nats
goversion=$(go env GOVERSION)
resolve GO_IMAGE "$go_real" "nomnom-standin/golang:${goversion#go}" golang

NOMNOM_VERSION=${NOMNOM_VERSION:-dev}
NOMNOM_IMAGE=${NOMNOM_IMAGE:-nomnom}
log "building $NOMNOM_IMAGE:$NOMNOM_VERSION with $GO_IMAGE"
build -t "$NOMNOM_IMAGE:$NOMNOM_VERSION" \
  --build-arg GO_IMAGE="$GO_IMAGE" \
  --build-arg VERSION="$NOMNOM_VERSION" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  . >&2

{
  echo "POSTGRES_IMAGE=$POSTGRES_IMAGE"
  echo "NATS_IMAGE=$NATS_IMAGE"
  echo "GO_IMAGE=$GO_IMAGE"
  echo "NOMNOM_IMAGE=$NOMNOM_IMAGE"
  echo "NOMNOM_VERSION=$NOMNOM_VERSION"
} > "$out"
