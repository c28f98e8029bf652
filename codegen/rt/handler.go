package rt

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

// Rows are the entities decoded from one message, as a generated package
// holds them.
type Rows interface {
	// Add queues the rows in b and counts them per table.
	Add(b *Batch) map[string]int
}

// Decoder reads a message body into its rows; entityType names the root
// entity or is empty. Generated packages provide it.
type Decoder func(entityType string, body []byte) (Rows, error)

// NewHandler returns the worker.Handler of a generated package: each valid
// message's rows go to PostgreSQL in one round trip per batch, an invalid
// message fails permanently with every invalid value named.
func NewHandler(tables []*Table, decode Decoder) worker.Handler {
	return &handler{tables: tables, decode: decode}
}

type handler struct {
	tables []*Table
	decode Decoder
}

// Handle implements worker.Handler.
func (h *handler) Handle(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]worker.Result, error) {
	b := NewBatch(h.tables)
	results := make([]worker.Result, len(batch))
	for i, env := range batch {
		rows, err := h.decode(env.EntityTypeOrEmpty(), env.Body)
		if err != nil {
			results[i].Err = worker.Permanent(err)
			continue
		}
		results[i].Entities = rows.Add(b)
	}
	if err := b.Write(ctx, tx); err != nil {
		return nil, err
	}
	return results, nil
}
