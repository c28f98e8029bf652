package statusstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTX is what the Postgres store needs of a connection, so that it runs
// alike on a pool, a connection or inside the worker's transaction
// (*pgxpool.Pool, *pgx.Conn and pgx.Tx all satisfy it).
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Postgres keeps status records in the message_status table of the platform
// migrations. Its columns are named as the record's JSON fields, so records
// travel to and from SQL as JSON (jsonb_to_recordset in, to_jsonb out): one
// mapping, the API's, and a whole batch in one parameter.
//
// Update compare-and-swaps on the revision column that every write
// increments, rather than holding a row lock across the caller's function:
// it needs no transaction of its own, so it works the same on a pool and
// inside a caller's transaction, like the KV store's revision.
type Postgres struct {
	db DBTX
}

// NewPostgres returns a store on db.
func NewPostgres(db DBTX) *Postgres {
	return &Postgres{db: db}
}

// recordColumns are the record's columns; revision is the store's own.
const recordColumns = `message_id, status, entity_type, source, tenant, attempts, error,
	received_at, updated_at, completed_at, entities, history, redrives`

// inputRows reads $1, a JSON array of records, as rows named x.
const inputRows = `(SELECT message_id, status, entity_type, source, tenant,
		COALESCE(attempts, 0) AS attempts, error, received_at, updated_at, completed_at,
		entities, COALESCE(history, '[]') AS history, COALESCE(redrives, 0) AS redrives
	FROM jsonb_to_recordset($1::jsonb) AS r(message_id uuid, status text, entity_type text,
		source text, tenant text, attempts int, error text, received_at timestamptz,
		updated_at timestamptz, completed_at timestamptz, entities jsonb, history jsonb,
		redrives int)) AS x`

// insertSQL writes the records that have no row yet.
const insertSQL = `INSERT INTO message_status (` + recordColumns + `)
	SELECT ` + recordColumns + ` FROM ` + inputRows + `
	ON CONFLICT (message_id) DO NOTHING`

const selectSQL = `SELECT revision, to_jsonb(m) FROM message_status m`

// Create implements Store with an insert that does nothing on conflict.
func (s *Postgres) Create(ctx context.Context, r Record) error {
	tag, err := s.db.Exec(ctx, insertSQL, encodeRows([]Record{r}))
	if err != nil {
		return fmt.Errorf("statusstore: create %s: %w", r.MessageID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrExists, r.MessageID)
	}
	return nil
}

// Get implements Store.
func (s *Postgres) Get(ctx context.Context, messageID string) (Record, error) {
	r, _, err := s.get(ctx, messageID)
	return r, err
}

func (s *Postgres) get(ctx context.Context, id string) (Record, int64, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Record{}, 0, fmt.Errorf("%w: %q is not a UUID", ErrNotFound, id)
	}
	r, rev, err := scanRecord(s.db.QueryRow(ctx, selectSQL+` WHERE message_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, 0, fmt.Errorf("statusstore: get %s: %w", id, err)
	}
	return r, rev, nil
}

// updateSQL replaces the record of x when its row is still at revision $2.
var updateSQL = `UPDATE message_status m SET ` + assignments("x") + `, revision = m.revision + 1
	FROM ` + inputRows + ` WHERE m.message_id = x.message_id AND m.revision = $2`

// Update implements Store with a compare-and-swap on the row's revision (an
// insert when there is no row), retried when another writer got there first.
// When fn refuses, Update returns the current record with fn's error.
func (s *Postgres) Update(ctx context.Context, messageID string, fn func(cur Record, found bool) (Record, error)) (Record, error) {
	for range maxCASAttempts {
		next, conflict, err := s.tryUpdate(ctx, messageID, fn)
		if !conflict {
			return next, err
		}
	}
	return Record{}, fmt.Errorf("statusstore: update %s: still conflicting after %d compare-and-swap attempts", messageID, maxCASAttempts)
}

func (s *Postgres) tryUpdate(ctx context.Context, id string, fn func(Record, bool) (Record, error)) (next Record, conflict bool, err error) {
	cur, rev, err := s.get(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Record{}, false, err
	}
	if next, err = fn(cur, found); err != nil {
		return cur, false, err
	}
	next.MessageID = id
	arg := encodeRows([]Record{next})
	var tag pgconn.CommandTag
	if found {
		tag, err = s.db.Exec(ctx, updateSQL, arg, rev)
	} else {
		tag, err = s.db.Exec(ctx, insertSQL, arg)
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("statusstore: update %s: %w", id, err)
	}
	return next, tag.RowsAffected() == 0, nil
}

// lockedSQL reads and row-locks the existing rows of $1.
const lockedSQL = selectSQL + ` WHERE message_id = ANY($1::uuid[]) ORDER BY message_id FOR UPDATE`

// ErrClaimLost is SettleBatch's answer when a message that had no row at
// the claim got one from another transaction meanwhile: that transaction
// settled it first, and the caller must roll back and claim again, which
// then finds its row.
var ErrClaimLost = errors.New("statusstore: a message claimed without a row was settled by another transaction")

// ClaimBatch claims the records' messages for the caller's transaction and
// returns the rows they have (by message_id, in canonical UUID form),
// locked until the transaction ends; a message without a row has none in
// the map. The worker calls it first in its entity transaction, and ends
// the transaction with SettleBatch.
//
// A message that has a row is claimed by its row lock: a second claim
// waits for the first transaction and reads what it committed. One that
// has none is claimed optimistically: nothing is written or locked for it
// (a row written here would be written again at the end, and an advisory
// lock per message would fill PostgreSQL's shared lock table with large
// batches and many workers); if another transaction settles it meanwhile,
// SettleBatch finds its row and fails with ErrClaimLost, so the loser's
// entity writes are rolled back, not committed twice.
func ClaimBatch(ctx context.Context, q DBTX, recs []Record) (map[string]Record, error) {
	recs, err := canonical(recs)
	if err != nil || len(recs) == 0 {
		return map[string]Record{}, err
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.MessageID
	}
	rows, err := q.Query(ctx, lockedSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("statusstore: claim %d records: %w", len(ids), err)
	}
	defer rows.Close()
	out := make(map[string]Record, len(ids))
	for rows.Next() {
		r, _, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("statusstore: claim records: %w", err)
		}
		out[r.MessageID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("statusstore: claim %d records: %w", len(ids), err)
	}
	return out, nil
}

// upsertSQL writes whole records, but only over rows they are After: a late
// or duplicate writer never moves a row backwards. It returns each row it
// wrote and whether it inserted it (xmax is 0 only on a row version no
// transaction has updated or locked).
var upsertSQL = `INSERT INTO message_status AS m (` + recordColumns + `)
	SELECT ` + recordColumns + ` FROM ` + inputRows + `
	ON CONFLICT (message_id) DO UPDATE SET ` + assignments("excluded") + `, revision = m.revision + 1
	WHERE (excluded.redrives, excluded.attempts, ` + rankSQL("excluded.status") + `)
		> (m.redrives, m.attempts, ` + rankSQL("m.status") + `)
	RETURNING m.message_id::text, m.xmax = 0`

// UpsertBatch writes the given records in one statement, inserting the new
// ones and replacing a row only when the record is After it, so the worker
// can write a batch's final statuses without reading them back. When a batch
// holds one message twice, its furthest record is written.
func UpsertBatch(ctx context.Context, q DBTX, recs []Record) error {
	return SettleBatch(ctx, q, recs, nil)
}

// SettleBatch is UpsertBatch at the end of a claim: the records of the
// messages in fresh, which had no row when ClaimBatch claimed them, must be
// inserted by this statement. If another transaction inserted one first,
// it fails with ErrClaimLost, and the caller rolls back.
func SettleBatch(ctx context.Context, q DBTX, recs []Record, fresh map[string]bool) error {
	recs, err := canonical(recs)
	if err != nil || len(recs) == 0 {
		return err
	}
	rows, err := q.Query(ctx, upsertSQL, encodeRows(recs))
	if err != nil {
		return fmt.Errorf("statusstore: upsert %d records: %w", len(recs), err)
	}
	defer rows.Close()
	// A fresh message this statement did not insert (it updated another
	// transaction's row, or left it as it was) has been lost.
	lost := make(map[string]bool, len(fresh))
	for _, r := range recs {
		if fresh[r.MessageID] {
			lost[r.MessageID] = true
		}
	}
	for rows.Next() {
		var (
			id       string
			inserted bool
		)
		if err := rows.Scan(&id, &inserted); err != nil {
			return fmt.Errorf("statusstore: upsert %d records: %w", len(recs), err)
		}
		if inserted {
			delete(lost, id)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statusstore: upsert %d records: %w", len(recs), err)
	}
	if len(lost) > 0 {
		return fmt.Errorf("%w: %d of the batch", ErrClaimLost, len(lost))
	}
	return nil
}

// canonical returns recs with canonical UUIDs, sorted by message_id so that
// concurrent batches lock rows in one order, and one record per message (the
// furthest along), since one statement may not touch a row twice.
func canonical(recs []Record) ([]Record, error) {
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		id, err := uuid.Parse(r.MessageID)
		if err != nil {
			return nil, fmt.Errorf("statusstore: message_id %q is not a UUID", r.MessageID)
		}
		r.MessageID = id.String()
		out = append(out, r)
	}
	slices.SortFunc(out, furthestFirst)
	return slices.CompactFunc(out, func(a, b Record) bool { return a.MessageID == b.MessageID }), nil
}

// furthestFirst orders records by message_id, then the furthest along first.
func furthestFirst(a, b Record) int {
	if c := cmp.Compare(a.MessageID, b.MessageID); c != 0 {
		return c
	}
	switch {
	case After(a, b):
		return -1
	case After(b, a):
		return 1
	}
	return 0
}

func encodeRows(recs []Record) []byte {
	b := make([]byte, 0, 512*len(recs)+2)
	b = append(b, '[')
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = recs[i].AppendJSON(b)
	}
	return append(b, ']')
}

func scanRecord(row pgx.Row) (Record, int64, error) {
	var (
		rev int64
		raw []byte
		r   Record
	)
	if err := row.Scan(&rev, &raw); err != nil {
		return Record{}, 0, err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, 0, fmt.Errorf("decode message_status row: %w", err)
	}
	return inUTC(r), rev, nil
}

// inUTC puts the times PostgreSQL returns in the session's zone back in UTC,
// as records are written.
func inUTC(r Record) Record {
	r.ReceivedAt, r.UpdatedAt = r.ReceivedAt.UTC(), r.UpdatedAt.UTC()
	if r.CompletedAt != nil {
		at := r.CompletedAt.UTC()
		r.CompletedAt = &at
	}
	return r
}

// assignments sets every record column from the row named from.
func assignments(from string) string {
	cols := strings.Split(recordColumns, ",")
	for i, c := range cols {
		c = strings.TrimSpace(c)
		cols[i] = c + " = " + from + "." + c
	}
	return strings.Join(cols[1:], ", ") // message_id never changes
}

// rankSQL is rank as SQL, generated from it so the two cannot disagree.
func rankSQL(col string) string {
	var b strings.Builder
	b.WriteString("CASE " + col)
	for _, s := range States {
		fmt.Fprintf(&b, " WHEN '%s' THEN %d", s, rank(s))
	}
	b.WriteString(" END")
	return b.String()
}
