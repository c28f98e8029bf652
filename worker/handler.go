package worker

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/wire"
)

// Handler writes the entity rows of a batch of messages. Generated code
// implements it; it is small enough to write by hand.
//
// Handle is called inside the batch's PostgreSQL transaction, which the
// runtime owns: the handler must not commit or roll it back. It returns one
// Result per message, in order. A message whose body is invalid gets a
// Result with a permanent error (see Permanent) and must not be written;
// the others are written through tx.
//
// A non-nil error means the write of the batch failed as a whole (the
// transaction is then unusable). The runtime rolls back and, when the error
// is not transient, splits the batch to find the message that causes it, so
// one poisonous message never fails the others.
type Handler interface {
	Handle(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error)
}

// Result is the outcome of one message of a batch.
type Result struct {
	// Entities is the rows written per table.
	Entities map[string]int
	// Err is nil when the message was written.
	Err error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
	return f(ctx, tx, batch)
}

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the message fails at once and goes to
// the dead-letter stream. Errors not marked are classified by the runtime
// (see IsTransient).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
