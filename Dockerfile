# One image for every nomnom process: the platform binary (nomnom: gateway,
# migrate, dlq, healthcheck) and the example worker generated from
# examples/tpch (tpch-worker: run, migrate, dlq, healthcheck).
# docker-compose.yml picks the command.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t nomnom .
#   docker buildx build --platform linux/amd64,linux/arm64 -t registry/nomnom:1.0 --push .
#
# The runtime image is scratch with static binaries, CA certificates and a
# non-root user: no shell, no package manager. Healthchecks run the binary
# itself (`nomnom healthcheck`, `tpch-worker healthcheck`).
#
# The build stage runs on the builder's own platform and cross-compiles for
# the target one, so a multi-platform build needs no emulation. GO_IMAGE
# names the Go image (a private registry's copy, say) when the official one
# cannot be pulled.

ARG GO_IMAGE=golang:1.26

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    ldflags="-s -w -X github.com/nomnom-io/nomnom/cli.Version=${VERSION} -X github.com/nomnom-io/nomnom/workercmd.Version=${VERSION}"; \
    export GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-$(go env GOARCH)}"; \
    go build -trimpath -ldflags "$ldflags" -o /out/nomnom ./cmd/nomnom; \
    go build -trimpath -ldflags "$ldflags" -o /out/tpch-worker ./examples/tpch/cmd/tpch-worker
# The runtime root: CA certificates for TLS to NATS and PostgreSQL, and the
# non-root user's passwd entry.
RUN set -eu; \
    mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp; \
    chmod 1777 /rootfs/tmp; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/; \
    echo 'nomnom:x:10001:10001:nomnom:/nonexistent:/sbin/nologin' > /rootfs/etc/passwd; \
    echo 'nomnom:x:10001:' > /rootfs/etc/group

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="nomnom" \
      org.opencontainers.image.description="nomnom ingest platform: gateway, migrations, dead-letter tools and the example worker" \
      org.opencontainers.image.source="https://github.com/nomnom-io/nomnom" \
      org.opencontainers.image.url="https://github.com/nomnom-io/nomnom" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /rootfs/ /
COPY --from=build /out/nomnom /out/tpch-worker /usr/local/bin/
ENV PATH=/usr/local/bin
USER 10001:10001
EXPOSE 8080 9090
CMD ["nomnom", "gateway"]
