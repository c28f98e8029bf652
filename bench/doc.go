// Package bench is nomnom's load generator, in the spirit of `nats bench`:
// it drives a running gateway over HTTP only (single messages, NDJSON batches,
// or end to end by following each message's status to a terminal state) and
// reports throughput and latency percentiles that can be set beside the
// baselines of the same machine.
//
// It never imports the gateway or the workers: what it measures is what a
// client sees, and it can point at any deployment. It must never be used
// against an address that is not the operator's own.
package bench
