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
	// Delete, when set, makes the rows of this table follow their owner,
	// the table at index Owner: when a message writes an owner row, the
	// rows of this table under it (Scope names its columns holding the
	// owner's OwnerKey columns) become the set the message carries. Delete
	// removes the others: one text[] per Scope column (the owners
	// written), then one per Unicity column (the rows kept).
	Delete   string
	Owner    int
	Scope    []string
	OwnerKey []string
}

// positions is the position of each of names in the table's columns.
func (t *Table) positions(names []string) []int {
	idx := make([]int, len(names))
	for i, u := range names {
		idx[i] = slices.Index(t.Columns, u)
		if idx[i] < 0 {
			panic("rt: table " + t.Name + " has no column " + u)
		}
	}
	return idx
}

// Batch gathers the rows of a batch of messages per table, keeping the last
// row of each unicity key: ON CONFLICT DO UPDATE refuses to touch one row
// twice in one statement, and the last message is the newest word. Rows
// that follow an owner (Table.Delete) are replaced as a set: a later
// message writing the same owner drops the rows an earlier one queued
// under it.
type Batch struct {
	tables   []*Table
	unicity  [][]int
	scope    [][]int // per owned table, its Scope positions
	ownerKey [][]int // per owned table, its OwnerKey positions in the owner
	rows     [][][]*string
	index    []map[string]int
	owned    [][]int                // per table, the tables whose rows it owns
	claims   []map[string][]*string // per owned table, the owner keys written
	added    []map[string]bool      // per table, the keys the current message added
}

// NewBatch returns an empty batch for tables, listed parents first.
func NewBatch(tables []*Table) *Batch {
	n := len(tables)
	b := &Batch{tables: tables, unicity: make([][]int, n), scope: make([][]int, n), ownerKey: make([][]int, n),
		rows: make([][][]*string, n), index: make([]map[string]int, n),
		owned: make([][]int, n), claims: make([]map[string][]*string, n), added: make([]map[string]bool, n)}
	for i, t := range tables {
		b.unicity[i] = t.positions(t.Unicity)
		b.index[i] = map[string]int{}
		b.claims[i] = map[string][]*string{}
		b.added[i] = map[string]bool{}
		if t.Delete != "" {
			b.scope[i] = t.positions(t.Scope)
			b.ownerKey[i] = tables[t.Owner].positions(t.OwnerKey)
			b.owned[t.Owner] = append(b.owned[t.Owner], i)
		}
	}
	return b
}

// Begin starts the rows of a new message, for Counts.
func (b *Batch) Begin() {
	for i := range b.added {
		clear(b.added[i])
	}
}

// Counts is the number of distinct rows per table the current message
// added: a row its message carries twice is written once. Every table is
// listed, a table the message wrote no row to with 0, so a status shows
// what a message did not write as well as what it wrote.
func (b *Batch) Counts() map[string]int {
	out := make(map[string]int, len(b.added))
	for i, keys := range b.added {
		out[b.tables[i].Name] = len(keys)
	}
	return out
}

// Add adds a row (one text per column, nil for NULL) to table t.
func (b *Batch) Add(t int, row []*string) {
	key := keyOf(b.unicity[t], row)
	b.added[t][key] = true
	if i, ok := b.index[t][key]; ok {
		b.rows[t][i] = row
	} else {
		b.index[t][key] = len(b.rows[t])
		b.rows[t] = append(b.rows[t], row)
	}
	for _, c := range b.owned[t] {
		b.claim(c, row)
	}
}

// claim records that owner row writes the rows of table c under it. The
// rows an earlier message of the batch queued there give way.
func (b *Batch) claim(c int, owner []*string) {
	scope := make([]*string, len(b.ownerKey[c]))
	all := make([]int, len(scope))
	for i, col := range b.ownerKey[c] {
		scope[i], all[i] = owner[col], i
	}
	key := keyOf(all, scope)
	if _, ok := b.claims[c][key]; ok {
		kept := b.rows[c][:0]
		clear(b.index[c])
		for _, row := range b.rows[c] {
			if keyOf(b.scope[c], row) != key {
				b.index[c][keyOf(b.unicity[c], row)] = len(kept)
				kept = append(kept, row)
			}
		}
		b.rows[c] = kept
	}
	b.claims[c][key] = scope
}

func keyOf(cols []int, row []*string) string {
	var k strings.Builder
	for _, c := range cols {
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
		tab := b.tables[t]
		if tab.Delete != "" && len(b.claims[t]) > 0 {
			pb.Queue(tab.Delete, b.deleteArgs(t)...)
			names = append(names, tab.Name+" (rows the re-sent owners no longer carry)")
		}
		if len(rows) == 0 {
			continue
		}
		cols := make([]any, len(tab.Columns))
		for c := range cols {
			cols[c] = column(rows, c)
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

// deleteArgs are the owner keys claimed in table t, then the unicity keys
// of the rows it keeps.
func (b *Batch) deleteArgs(t int) []any {
	scopes := make([][]*string, 0, len(b.claims[t]))
	for _, s := range b.claims[t] {
		scopes = append(scopes, s)
	}
	var args []any
	for i := range b.scope[t] {
		args = append(args, column(scopes, i))
	}
	for _, c := range b.unicity[t] {
		args = append(args, column(b.rows[t], c))
	}
	return args
}

// column is column c of rows, as one text[] parameter.
func column(rows [][]*string, c int) []*string {
	col := make([]*string, len(rows))
	for r, row := range rows {
		col[r] = row[c]
	}
	return col
}
