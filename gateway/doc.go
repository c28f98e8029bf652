// Package gateway is nomnom's HTTP front door: it turns a client's JSON into
// an envelope that is durable in JetStream before it answers 202, records the
// message's "accepted" status, and serves status reads, health and metrics,
// and the operations API: search, message detail, live events (one shared
// watcher of the status bucket feeds them and every ?wait=), and redrive.
//
// The gateway owns the HTTP contract (README, "HTTP API"; openapi.json) and
// nothing behind it: it never decodes a message for an entity, and never
// moves a status past "accepted". It creates the accepted record with a KV
// create, so a worker that got there first always wins. The one write it
// makes beyond that is an operator's redrive, through package dlq, which
// moves a failed record back to accepted in KV and message_status alike.
//
// Clients of the seed and of the origin project work unchanged: JSON is read
// under every content type they send it with (text/plain, NDJSON types,
// curl's default form type, none), a batch may be a JSON array, the body's
// own entity_type routes it when no header or parameter does, and /health,
// /ready, /readyz and /livez answer their probes. CORS is off unless origins
// are configured.
//
// The web console (package gateway/console) is mounted at /ui/ with the same
// keys and tenants. With a TracerProvider, an ingest request is traced and
// its publish carries the trace to the worker in a traceparent header;
// without one nothing is traced and the hot path is unchanged.
//
// Never 202 for a message JetStream did not acknowledge: every accepted
// message has a PubAck, and a failed publish answers 503 with Retry-After so
// the client retries.
//
// The hot path pays one round trip per request, not per write: the
// envelopes and the accepted records (statusstore's CreateMany) are
// published asynchronously on one connection and their acknowledgements
// awaited together, with no goroutine per message. Bodies are validated in
// one pass and embedded into envelopes that are appended, not marshalled.
// Publishes in flight are bounded (Config.MaxInFlightPublishes, 429 beyond
// it), so memory stays flat when JetStream is slower than the clients.
//
// Nothing a client sends sizes the gateway's memory or reaches NATS
// unchecked: bodies are buffered as they arrive under a read timeout and a
// gateway-wide budget (Config.MaxBodyBytesInFlight, 503 beyond it); the
// body limit never exceeds what the server's max_payload leaves beside the
// envelope and its dead-letter copy (413 beyond it); names that reach
// subjects, headers and records are length- and character-bounded (400).
package gateway
