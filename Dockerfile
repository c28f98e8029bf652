# syntax=docker/dockerfile:1
#
# One image for every nomnom process: the platform binary (nomnom: gateway,
# migrate, dlq) and the example worker generated from examples/tpch
# (tpch-worker: run, migrate, dlq). docker-compose.yml picks the command.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t nomnom .

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    set -eu; \
    ldflags="-s -w -X github.com/nomnom-io/nomnom/cli.Version=${VERSION} -X github.com/nomnom-io/nomnom/workercmd.Version=${VERSION}"; \
    go build -trimpath -ldflags "$ldflags" -o /out/nomnom ./cmd/nomnom; \
    go build -trimpath -ldflags "$ldflags" -o /out/tpch-worker ./examples/tpch/cmd/tpch-worker

# Alpine rather than distroless: its busybox wget is what the compose
# healthchecks call, and the binaries are static either way.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 nomnom \
 && adduser -S -D -H -u 10001 -G nomnom nomnom
COPY --from=build /out/nomnom /out/tpch-worker /usr/local/bin/
USER 10001:10001
EXPOSE 8080 9090
CMD ["nomnom", "gateway"]
