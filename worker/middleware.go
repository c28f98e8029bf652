package worker

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/wire"
)

// Middleware wraps a Handler with behaviour of its own (logging, tracing,
// a timeout) and returns the wrapped Handler. It runs inside the batch's
// transaction, around every call of the handler, including the calls on
// the halves of a batch being split; it must return the handler's results
// and error as its contract says (see Handler), or a batch-level error of
// its own.
type Middleware func(next Handler) Handler

// Chain wraps h in mws, the first outermost: Chain(h, a, b) calls a, which
// calls b, which calls h.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Recoverer turns a panic of the handler (or of a middleware inside it)
// into a permanent batch-level error naming the panic value, and logs the
// panic with its stack on log. The runtime then splits the batch until the
// message that panics is alone, fails it and dead-letters it with that
// reason, and writes the others; the worker keeps running. Every worker
// runs its handler inside a Recoverer, outermost.
func Recoverer(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) (results []Result, err error) {
			defer func() {
				if p := recover(); p != nil {
					log.Error("handler panicked", "panic", fmt.Sprint(p), "batch_size", len(batch), "stack", string(debug.Stack()))
					results, err = nil, Permanent(fmt.Errorf("handler panicked: %v", p))
				}
			}()
			return next.Handle(ctx, tx, batch)
		})
	}
}
