// Package gateway is nomnom's HTTP front door: it turns a client's JSON into
// an envelope that is durable in JetStream before it answers 202, records the
// message's "accepted" status, and serves status reads, health and metrics.
//
// The gateway owns the HTTP contract of DESIGN.md and nothing behind it: it
// never decodes a message for an entity, never writes PostgreSQL, and never
// moves a status past "accepted". It creates the accepted record with a KV
// create, so a worker that got there first always wins.
//
// Never 202 for a message JetStream did not acknowledge: every accepted
// message has a PubAck, and a failed publish answers 503 with Retry-After so
// the client retries.
package gateway
