package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/statusstore"
)

// Bounds of a search (GET /ingest/messages) and of a redrive's filter.
const (
	// DefaultSearchLimit is the page size when ?limit= is not given.
	DefaultSearchLimit = 50
	// MaxSearchLimit is the largest ?limit=.
	MaxSearchLimit = 500
	// maxFilterValue bounds entity and source filters (bytes), as long as
	// the names the ingest endpoints accept.
	maxFilterValue = 256
	// maxErrorFilter bounds the error substring (bytes): a longer pattern
	// only costs the database more and matches nothing more useful.
	maxErrorFilter = 200
	// maxCursor bounds ?cursor= before it is decoded.
	maxCursor = 256
)

// Filter selects messages by the fields of their status records: the query
// parameters of a search and the "filter" of a redrive alike.
type Filter struct {
	Status string `json:"status,omitempty"`
	Entity string `json:"entity,omitempty"`
	Source string `json:"source,omitempty"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
	Error  string `json:"error,omitempty"`
}

// query validates f and returns it as a query of the caller's tenant; an
// error names the field as prefix+name.
func (s *Server) query(ctx context.Context, f Filter, prefix string) (statusstore.Query, *apiError) {
	bad := func(name, why string) *apiError {
		return errorf(http.StatusBadRequest, codeInvalidParameter, prefix+name+": "+why)
	}
	q := statusstore.Query{Status: statusstore.State(f.Status), Entity: f.Entity, Source: f.Source, Error: f.Error}
	if len(s.cfg.APIKeys) > 0 {
		t := tenantOf(ctx)
		q.Tenant = &t
	}
	if q.Status != "" && !q.Status.Valid() {
		return q, bad("status", fmt.Sprintf("%q is not one of %v", f.Status, statusstore.States))
	}
	for _, v := range []struct{ name, value string }{{"entity", f.Entity}, {"source", f.Source}} {
		if len(v.value) > maxFilterValue || !utf8.ValidString(v.value) {
			return q, bad(v.name, fmt.Sprintf("must be valid UTF-8 of at most %d bytes", maxFilterValue))
		}
	}
	if len(f.Error) > maxErrorFilter || !utf8.ValidString(f.Error) {
		return q, bad("error", fmt.Sprintf("must be valid UTF-8 of at most %d bytes", maxErrorFilter))
	}
	var e *apiError
	if q.Since, e = parseTime(f.Since, prefix+"since"); e != nil {
		return q, e
	}
	if q.Until, e = parseTime(f.Until, prefix+"until"); e != nil {
		return q, e
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, bad("until", "must be after since")
	}
	return q, nil
}

func parseTime(v, name string) (time.Time, *apiError) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("%s: %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", name, v))
	}
	return t, nil
}

// searchParams are the query parameters GET /ingest/messages accepts.
var searchParams = map[string]bool{"status": true, "entity": true, "source": true, "since": true,
	"until": true, "error": true, "limit": true, "cursor": true}

// searchPage is the answer of GET /ingest/messages.
type searchPage struct {
	Messages   []statusstore.Record `json:"messages"`
	NextCursor *string              `json:"next_cursor"`
}

// handleSearch serves GET /ingest/messages: the caller's status records,
// newest first, a page at a time.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) *apiError {
	db := s.cfg.StatusDatabase
	if db == nil {
		return errorf(http.StatusNotImplemented, codeNotConfigured, "search needs the gateway's database (DATABASE_URL)")
	}
	q, e := s.searchQuery(r.Context(), r.URL.Query())
	if e != nil {
		return e
	}
	limit := q.Limit
	q.Limit++ // one more tells whether there is a next page
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PublishTimeout)
	defer cancel()
	recs, err := db.Search(ctx, q)
	if err != nil {
		s.log.Warn("search", "err", err)
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "status database unavailable")
	}
	page := searchPage{Messages: recs}
	if len(recs) > limit {
		page.Messages = recs[:limit]
		c := encodeCursor(statusstore.PositionOf(recs[limit-1]))
		page.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// searchQuery validates the parameters of a search strictly: an unknown or
// repeated parameter is an error naming it, like a bad value.
func (s *Server) searchQuery(ctx context.Context, v url.Values) (statusstore.Query, *apiError) {
	for name, values := range v {
		if !searchParams[name] {
			return statusstore.Query{}, errorf(http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("%s: unknown parameter", name))
		}
		if len(values) > 1 {
			return statusstore.Query{}, errorf(http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("%s: given %d times", name, len(values)))
		}
	}
	f := Filter{Status: v.Get("status"), Entity: v.Get("entity"), Source: v.Get("source"),
		Since: v.Get("since"), Until: v.Get("until"), Error: v.Get("error")}
	q, e := s.query(ctx, f, "")
	if e != nil {
		return q, e
	}
	if q.Limit, e = parseLimit(v.Get("limit")); e != nil {
		return q, e
	}
	if c := v.Get("cursor"); c != "" {
		pos, err := decodeCursor(c)
		if err != nil {
			return q, errorf(http.StatusBadRequest, codeInvalidParameter, "cursor: not a cursor this endpoint returned")
		}
		q.After = &pos
	}
	return q, nil
}

func parseLimit(v string) (int, *apiError) {
	if v == "" {
		return DefaultSearchLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxSearchLimit {
		return 0, errorf(http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("limit: %q is not a whole number from 1 to %d", v, MaxSearchLimit))
	}
	return n, nil
}

// cursor is the content of an opaque next_cursor.
type cursor struct {
	ReceivedAt time.Time `json:"r"`
	MessageID  string    `json:"m"`
}

func encodeCursor(p statusstore.Position) string {
	data, _ := json.Marshal(cursor{ReceivedAt: p.ReceivedAt.UTC(), MessageID: p.MessageID})
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeCursor(s string) (statusstore.Position, error) {
	if len(s) > maxCursor {
		return statusstore.Position{}, fmt.Errorf("cursor of %d bytes", len(s))
	}
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return statusstore.Position{}, err
	}
	var c cursor
	if err := json.Unmarshal(data, &c); err != nil {
		return statusstore.Position{}, err
	}
	id, err := uuid.Parse(c.MessageID)
	if err != nil || c.ReceivedAt.IsZero() {
		return statusstore.Position{}, fmt.Errorf("cursor without a position")
	}
	return statusstore.Position{ReceivedAt: c.ReceivedAt, MessageID: id.String()}, nil
}
