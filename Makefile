# nomnom — common tasks. `make run` starts the platform on local defaults;
# `make test` runs every test (what CI runs).

GO        ?= go
BIN       ?= bin
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/nomnom?sslmode=disable
NATS_URL  ?= nats://127.0.0.1:4222
PORT      ?= 8080

# Only `run` passes these on: the tests must never pick them up.
RUN_ENV = DATABASE_URL='$(DATABASE_URL)' NATS_URL='$(NATS_URL)' PORT='$(PORT)'

.PHONY: build build-platform run test test-short fuzz openapi-lint generate check-generated e2e compose-e2e e2e-compose images bench helm-test clean

SHELL := bash
.SHELLFLAGS := -o pipefail -ec

build: build-platform $(BIN)/nats-server

# build-platform: the two binaries `make run` needs (the Go build cache makes
# an unchanged rebuild take a second).
build-platform:
	@echo "build: $(BIN)/nomnom and $(BIN)/tpch-worker"
	$(GO) build -o $(BIN)/nomnom ./cmd/nomnom
	$(GO) build -o $(BIN)/tpch-worker ./examples/tpch/cmd/tpch-worker

# nats-server is built only when a target needs one that is not running
# (bench, or `make run` on a machine without NATS): it takes minutes.
$(BIN)/nats-server:
	@echo "build: $(BIN)/nats-server from the module in go.mod (takes a few minutes the first time)"
	$(GO) build -o $(BIN)/nats-server github.com/nats-io/nats-server/v2

## run: NATS (the machine's, or an embedded one when none answers), migrations,
## the gateway on :$(PORT) and the example worker, until Ctrl-C.
run: build-platform
	$(RUN_ENV) BIN=$(BIN) GO=$(GO) scripts/run-local.sh

## test: every test of the module, the end-to-end suite and the Helm chart checks.
test:
	@echo "test: go vet"
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m -json ./... | $(GO) run ./internal/testprogress
	cd deploy/helm && $(GO) test -count=1 ./...
	$(MAKE) fuzz
	$(MAKE) openapi-lint

## openapi-lint: the gateway's OpenAPI document through pinned Redocly
## (recommended) and Spectral (spectral:oas); needs node and the npm registry
## the first time, a cache dir (NOMNOM_LINT_CACHE) afterwards.
openapi-lint:
	scripts/openapi-lint.sh

# fuzz: each fuzz target for a short fixed time (the parsers of what clients
# and the stream send: body scanner, NDJSON splitter, envelope decoder).
FUZZTIME ?= 8s
FUZZ_TARGETS = gateway:FuzzScanJSON gateway:FuzzSplitNDJSON gateway:FuzzEnvelopeOfAcceptedBody wire:FuzzDecodeEnvelope codegen:FuzzValidateGenerate
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $${t#*:} ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*} || exit 1; \
	done

test-short:
	$(GO) test -count=1 -short ./...

## generate: regenerate the example worker from its entity definitions.
generate:
	$(GO) generate ./examples/tpch/...

## e2e: the end-to-end suite against processes it starts itself.
e2e:
	$(GO) test -count=1 -v -timeout 30m ./e2e/...

## images: the nomnom image and, where Docker Hub cannot be reached, local
## stand-ins for PostgreSQL, NATS and the Go build image (deploy/images).
images:
	deploy/images/build.sh .nomnom/images.env

## compose-e2e: build the images, start docker-compose.yml, wait for health,
## run the compose end-to-end tests, remove the stack and its volumes.
compose-e2e:
	scripts/compose-e2e.sh

## e2e-compose: the compose tests against a stack already up on the
## compose file's default ports (`docker compose up -d --wait`).
e2e-compose:
	NOMNOM_E2E_GATEWAY_URL=http://127.0.0.1:$${GATEWAY_PORT:-18080} \
	NOMNOM_E2E_DATABASE_URL="postgres://nomnom:nomnom@127.0.0.1:$${POSTGRES_PORT:-15432}/nomnom?sslmode=disable" \
	NOMNOM_E2E_COMPOSE="docker compose" \
	$(GO) test -count=1 -v -timeout 30m -run Compose ./e2e/...

## bench: baselines and nomnom side by side, printed as ratios.
bench: build
	BIN=$(BIN) scripts/bench.sh

helm-test:
	cd deploy/helm && $(GO) test -count=1 ./...

clean:
	rm -rf $(BIN) .nomnom
