package statusstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Query selects status records of message_status, newest first by
// received_at then message_id. Zero fields select everything.
type Query struct {
	// Tenant, when set, keeps only that tenant's records; nil keeps every
	// record (a gateway without API keys has no tenants).
	Tenant *string
	Status State
	Entity string
	Source string
	// Since keeps records received at or after it; Until, before it.
	Since, Until time.Time
	// Error keeps records whose error contains it, case-insensitively.
	Error string
	// After continues a listing after the last record of a previous page.
	After *Position
	// Limit is the most records returned; it must be positive.
	Limit int
}

// Position is a record's place in the order of Search, the key of its keyset
// pagination: a page continues strictly after it, so records inserted while
// a client pages appear neither twice nor in place of others.
type Position struct {
	ReceivedAt time.Time
	MessageID  string
}

// PositionOf is r's place in the order of Search.
func PositionOf(r Record) Position {
	return Position{ReceivedAt: r.ReceivedAt, MessageID: r.MessageID}
}

// Search returns the records q selects, at most q.Limit. Each filter is a
// predicate on an indexed prefix (see the platform migrations), so a page
// costs one index range scan whatever the table's size.
func (s *Postgres) Search(ctx context.Context, q Query) ([]Record, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("statusstore: search limit %d is not positive", q.Limit)
	}
	sql, args := searchSQL(q)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("statusstore: search: %w", err)
	}
	defer rows.Close()
	out := make([]Record, 0, q.Limit)
	for rows.Next() {
		r, _, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("statusstore: search: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("statusstore: search: %w", err)
	}
	return out, nil
}

// searchSQL builds the statement of q with one placeholder per value: only
// the predicates q uses appear, so the planner picks the index that fits.
func searchSQL(q Query) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(pred string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(pred, "?", "$"+strconv.Itoa(len(args))))
	}
	if q.Tenant != nil {
		add("tenant = ?", *q.Tenant)
	}
	if q.Status != "" {
		add("status = ?", string(q.Status))
	}
	if q.Entity != "" {
		add("entity_type = ?", q.Entity)
	}
	if q.Source != "" {
		add("source = ?", q.Source)
	}
	if !q.Since.IsZero() {
		add("received_at >= ?", q.Since)
	}
	if !q.Until.IsZero() {
		add("received_at < ?", q.Until)
	}
	if q.Error != "" {
		add(`error ILIKE ? ESCAPE '\'`, "%"+likeEscape(q.Error)+"%")
	}
	if q.After != nil {
		args = append(args, q.After.ReceivedAt)
		add(fmt.Sprintf("(received_at, message_id) < ($%d, ?::uuid)", len(args)), q.After.MessageID)
	}
	sql := selectSQL
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit)
	return sql + fmt.Sprintf(" ORDER BY received_at DESC, message_id DESC LIMIT $%d", len(args)), args
}

// likeEscape makes s match itself in a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
