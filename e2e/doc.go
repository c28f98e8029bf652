// Package e2e is nomnom's end-to-end suite. It builds the real binaries
// (nomnom, the example tpch-worker and nats-server), runs them as processes
// against a nats-server process and PostgreSQL, and drives them over HTTP
// only, exactly as a client with curl would; it then checks PostgreSQL for
// every row. Scenarios break things on purpose (SIGKILLed workers, stopped
// PostgreSQL and NATS, a gateway stopped mid-load) and count what was sent,
// completed, written, duplicated and lost.
//
// The TestCompose… tests run the same checks against a running
// `docker compose up` stack when NOMNOM_E2E_GATEWAY_URL is set (see
// `make e2e-compose`); TestDockerComposeFile checks docker-compose.yml against
// the flags and environment the binaries read. `go test -short` skips the
// suite. The package has no non-test code and must never be imported.
package e2e
