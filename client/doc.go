// Package client is the Go client of a nomnom gateway's HTTP API.
//
// It sends messages (Send) and NDJSON batches (SendBatch), reads status
// records (Status), waits for a message to finish (Wait), lists records
// page by page (Messages) and moves failed or finished messages back to
// work (Redrive, Replay). Answers of 429 and 503 are retried after the
// gateway's Retry-After, with the same Idempotency-Key, so a retried Send
// is accepted once. Every other failure is an *Error whose Is matches the
// package's sentinel errors (ErrRateLimited, ErrTooLarge, ErrNotFound, …).
//
// The package depends on the standard library only, so a user's module
// can import it without the gateway's dependencies.
package client
