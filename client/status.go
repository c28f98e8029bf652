package client

import (
	"bufio"
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Record is a message's status record, as GET /ingest/status/{id} answers it.
type Record struct {
	MessageID   string         `json:"message_id"`
	Status      string         `json:"status"`
	EntityType  *string        `json:"entity_type"`
	Source      *string        `json:"source"`
	Tenant      string         `json:"tenant,omitempty"`
	Attempts    int            `json:"attempts"`
	Error       string         `json:"error,omitempty"`
	ReceivedAt  time.Time      `json:"received_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	CompletedAt *time.Time     `json:"completed_at"`
	Entities    map[string]int `json:"entities,omitempty"`
	History     []Event        `json:"history"`
	Redrives    int            `json:"redrives,omitempty"`
}

// Event is one step of a record's history.
type Event struct {
	Status  string    `json:"status"`
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error,omitempty"`
}

// Terminal reports whether the record will not change any more on its own:
// completed or failed.
func (r Record) Terminal() bool { return r.Status == "completed" || r.Status == "failed" }

// Status returns a message's record; an unknown id is ErrNotFound.
func (c *Client) Status(ctx context.Context, id string) (Record, error) {
	return c.status(ctx, id, 0)
}

func (c *Client) status(ctx context.Context, id string, wait time.Duration) (Record, error) {
	path := "/ingest/status/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	var rec Record
	return rec, c.getJSON(ctx, path, &rec)
}

// longPoll is how long one Wait request holds; the gateway caps it.
const longPoll = 30 * time.Second

// Wait returns a message's record once it is terminal, or the last record
// seen with ctx's error when ctx ends first. It long-polls
// /ingest/status/{id}?wait= once, then follows /ingest/events, the
// Server-Sent Events of the caller's changes, until the message's record
// is terminal; where the events cannot be had, it long-polls again.
func (c *Client) Wait(ctx context.Context, id string) (Record, error) {
	rec, err := c.status(ctx, id, longPoll)
	if err != nil || rec.Terminal() {
		return rec, err
	}
	for ctx.Err() == nil {
		next, err := c.follow(ctx, id)
		if err != nil {
			// No events (an old gateway, its stream cap reached): poll.
			if next, err = c.status(ctx, id, longPoll); err != nil {
				break
			}
		}
		rec = next
		if rec.Terminal() {
			return rec, nil
		}
	}
	return rec, ctx.Err()
}

// follow opens the event stream, reads the record once it is open (so no
// change between the two is missed) and returns the first terminal record
// of id, or the last one seen when the stream ends.
func (c *Client) follow(ctx context.Context, id string) (Record, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err := c.do(ctx, request{method: http.MethodGet, path: "/ingest/events", header: http.Header{"Accept": {"text/event-stream"}}}, http.StatusOK)
	if err != nil {
		return Record{}, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var rec Record
	for sc.Scan() {
		line := sc.Text()
		if line == ": ready" {
			if rec, err = c.Status(ctx, id); err != nil || rec.Terminal() {
				return rec, err
			}
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev Record
		if json.Unmarshal([]byte(data), &ev) == nil && ev.MessageID == id {
			rec = ev
			if rec.Terminal() {
				return rec, nil
			}
		}
	}
	if rec.MessageID == "" {
		return c.Status(ctx, id)
	}
	return rec, nil
}

// Query selects records for Messages; empty fields select everything.
type Query struct {
	Status, Entity, Source string
	// Since and Until bound received_at: at or after Since, before Until.
	Since, Until time.Time
	// Error matches records whose error contains it, ignoring case.
	Error string
	// Limit is the page size, 1 to 500 (50 when zero).
	Limit int
}

func (q Query) encode(cursor string) string {
	pairs := []string{"status", q.Status, "entity", q.Entity, "source", q.Source, "error", q.Error, "cursor", cursor}
	if !q.Since.IsZero() {
		pairs = append(pairs, "since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		pairs = append(pairs, "until", q.Until.Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		pairs = append(pairs, "limit", strconv.Itoa(q.Limit))
	}
	return query(pairs...)
}

// Messages iterates over the records q selects, newest first, fetching a
// page of GET /ingest/messages at a time as the loop asks for more. A
// failed page ends the loop with its error. Search needs the gateway's
// database; without one the error is ErrNotConfigured.
func (c *Client) Messages(ctx context.Context, q Query) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		cursor := ""
		for {
			var page struct {
				Messages   []Record `json:"messages"`
				NextCursor *string  `json:"next_cursor"`
			}
			if err := c.getJSON(ctx, "/ingest/messages"+q.encode(cursor), &page); err != nil {
				yield(Record{}, err)
				return
			}
			for _, r := range page.Messages {
				if !yield(r, nil) {
					return
				}
			}
			if page.NextCursor == nil || *page.NextCursor == "" {
				return
			}
			cursor = *page.NextCursor
		}
	}
}
