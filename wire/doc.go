// Package wire owns what the gateway and the workers must agree on byte for
// byte: the envelope that travels in every stream message, the NATS headers
// beside it (encoded and decoded here, the encoding appended by hand for the
// gateway's hot path), the subject names, and the one configuration of each stream,
// bucket and consumer. Both sides import it, so they can never disagree. It
// also holds the catalog of entity tables a worker publishes for the console,
// and the carrier of the W3C traceparent in NATS headers.
//
// It must never hold behaviour of either side: no HTTP, no SQL, no status
// rules (those live in statusstore).
package wire
