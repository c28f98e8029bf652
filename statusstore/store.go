package statusstore

import (
	"context"
	"errors"
)

// Errors every store returns, for callers to branch on with errors.Is.
var (
	// ErrNotFound: no record for that message_id.
	ErrNotFound = errors.New("status record not found")
	// ErrExists: Create found a record already there; it was left unchanged.
	ErrExists = errors.New("status record already exists")
)

// Store is what both stores provide; one conformance suite checks them.
type Store interface {
	// Create writes the first record of a message and returns ErrExists,
	// writing nothing, when the message already has one. The gateway's
	// accepted record is written this way, so it can never overwrite a
	// worker's later status.
	Create(ctx context.Context, r Record) error
	// Get returns the record of a message, or ErrNotFound.
	Get(ctx context.Context, messageID string) (Record, error)
	// Update applies fn to the current record with compare-and-swap, calling
	// it again when another writer got there first. found is false when the
	// message has no record yet (fn may then create one). When fn returns an
	// error, nothing is written and Update returns that error; a refused
	// transition wraps ErrTransition.
	Update(ctx context.Context, messageID string, fn func(cur Record, found bool) (Record, error)) (Record, error)
}
