package rt

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Table is an entity table as the generated code describes it.
type Table struct {
	Name string
	// SQL is the upsert: one text[] parameter per column, in column order,
	// unnested into rows (INSERT … SELECT … FROM unnest(…) ON CONFLICT …).
	SQL string
	// Columns names the columns, in the order of the rows' texts.
	Columns []string
	// Unicity names the columns of the unicity key.
	Unicity []string
}

// unicity is the position of each unicity column in the rows.
func (t *Table) unicity() []int {
	idx := make([]int, len(t.Unicity))
	for i, u := range t.Unicity {
		idx[i] = slices.Index(t.Columns, u)
		if idx[i] < 0 {
			panic("rt: table " + t.Name + " has no unicity column " + u)
		}
	}
	return idx
}

// Batch gathers the rows of a batch of messages per table, keeping the last
// row of each unicity key: ON CONFLICT DO UPDATE refuses to touch one row
// twice in one statement, and the last message is the newest word.
type Batch struct {
	tables  []*Table
	unicity [][]int
	rows    [][][]*string
	index   []map[string]int
}

// NewBatch returns an empty batch for tables, listed parents first.
func NewBatch(tables []*Table) *Batch {
	b := &Batch{tables: tables, unicity: make([][]int, len(tables)), rows: make([][][]*string, len(tables)), index: make([]map[string]int, len(tables))}
	for i, t := range tables {
		b.unicity[i] = t.unicity()
		b.index[i] = map[string]int{}
	}
	return b
}

// Add adds a row (one text per column, nil for NULL) to table t.
func (b *Batch) Add(t int, row []*string) {
	key := b.key(t, row)
	if i, ok := b.index[t][key]; ok {
		b.rows[t][i] = row
		return
	}
	b.index[t][key] = len(b.rows[t])
	b.rows[t] = append(b.rows[t], row)
}

func (b *Batch) key(t int, row []*string) string {
	var k strings.Builder
	for _, c := range b.unicity[t] {
		if row[c] != nil {
			k.WriteString(*row[c])
		}
		k.WriteByte(0)
	}
	return k.String()
}

// Len is the number of distinct rows of table t.
func (b *Batch) Len(t int) int { return len(b.rows[t]) }

// Write sends one statement per table that has rows, parents first, in a
// single round trip. An error leaves tx unusable.
func (b *Batch) Write(ctx context.Context, tx pgx.Tx) error {
	var pb pgx.Batch
	var names []string
	for t, rows := range b.rows {
		if len(rows) == 0 {
			continue
		}
		tab := b.tables[t]
		cols := make([]any, len(tab.Columns))
		for c := range cols {
			col := make([]*string, len(rows))
			for r, row := range rows {
				col[r] = row[c]
			}
			cols[c] = col
		}
		pb.Queue(tab.SQL, cols...)
		names = append(names, tab.Name)
	}
	if len(names) == 0 {
		return nil
	}
	res := tx.SendBatch(ctx, &pb)
	for _, name := range names {
		if _, err := res.Exec(); err != nil {
			res.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return res.Close()
}
