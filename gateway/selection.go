package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/statusstore"
)

// selection is the body of the operations that send messages through
// again, POST /ingest/dlq/redrive and POST /ingest/replay: the caller's
// messages named by id or selected by a filter, and whether only to say what
// would happen.
type selection struct {
	IDs    []string `json:"ids"`
	Filter *Filter  `json:"filter"`
	DryRun bool     `json:"dry_run"`
}

// selectionRules is what one of those operations accepts.
type selectionRules struct {
	// op names the operation in errors and logs: "redrive", "replay".
	op string
	// states are the statuses it moves; a filter may name one of them and
	// selects them all when it names none.
	states []statusstore.State
	// wrongStatus is the error for a filter naming another status.
	wrongStatus string
}

var (
	redriveRules = selectionRules{
		op:          "redrive",
		states:      []statusstore.State{statusstore.Failed},
		wrongStatus: `filter.status: only failed messages are redriven; leave it out or say "failed"`,
	}
	replayRules = selectionRules{
		op:          "replay",
		states:      []statusstore.State{statusstore.Completed, statusstore.Failed},
		wrongStatus: `filter.status: only terminal messages are replayed; leave it out or say "completed" or "failed"`,
	}
)

// readSelection reads and validates a selection body, strictly: an unknown
// field or a second value is refused, and ids are normalised UUIDs.
func readSelection(w http.ResponseWriter, r *http.Request, rules selectionRules) (selection, *apiError) {
	var req selection
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRedriveBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return req, errorf(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("a %s request is at most %d bytes", rules.op, maxRedriveBody))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return req, errorf(http.StatusRequestTimeout, codeTimeout, fmt.Sprintf("the body did not arrive in time (%d bytes read)", len(body)))
	case err != nil:
		return req, errorf(http.StatusBadRequest, codeInvalidJSON, "reading the body: "+err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, errorf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("body at byte %d: %v", dec.InputOffset(), err))
	}
	if dec.More() {
		return req, errorf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("body at byte %d: one JSON object expected", dec.InputOffset()))
	}
	bad := func(msg string) *apiError { return errorf(http.StatusBadRequest, codeInvalidParameter, msg) }
	if err := exactKeys(json.NewDecoder(bytes.NewReader(body)), ""); err != nil {
		return req, bad(err.Error())
	}
	switch {
	case (len(req.IDs) > 0) == (req.Filter != nil):
		return req, bad(`ids, filter: give either "ids" (a non-empty list) or "filter"`)
	case len(req.IDs) > MaxRedriveMessages:
		return req, bad(fmt.Sprintf("ids: %d ids, at most %d", len(req.IDs), MaxRedriveMessages))
	case req.Filter != nil && req.Filter.Status != "" && !slices.Contains(rules.states, statusstore.State(req.Filter.Status)):
		return req, bad(rules.wrongStatus)
	}
	for i, id := range req.IDs {
		u, err := uuid.Parse(id)
		if err != nil {
			return req, bad(fmt.Sprintf("ids[%d]: %q is not a UUID", i, id))
		}
		req.IDs[i] = u.String()
	}
	return req, nil
}

// selectionKeys are the keys of a selection body and of its filter.
var selectionKeys = map[string][]string{
	"":       {"ids", "filter", "dry_run"},
	"filter": {"status", "entity", "source", "since", "until", "error"},
}

// exactKeys refuses what encoding/json lets through in a selection body,
// which has already decoded: a key given twice (the last would win), a key
// in another case than its field's ("DRY_RUN" would be dry_run) and a null
// (a "dry_run": null would be a real run). path is "" for the body and
// "filter" for its filter.
func exactKeys(dec *json.Decoder, path string) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: decoding has said so
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		name := key
		if path != "" {
			name = path + "." + key
		}
		if seen[key] {
			return fmt.Errorf("%s: given twice", name)
		}
		seen[key] = true
		for _, want := range selectionKeys[path] {
			if key != want && strings.EqualFold(key, want) {
				return fmt.Errorf("%s: the field is %q (names are lower case)", name, want)
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil
		}
		if string(raw) == "null" {
			return fmt.Errorf("%s: null; leave the field out instead", name)
		}
		if key == "filter" && path == "" {
			if err := exactKeys(json.NewDecoder(bytes.NewReader(raw)), "filter"); err != nil {
				return err
			}
		}
	}
	return nil
}

// selected returns the caller's records the request selects, at most
// MaxRedriveMessages of them and whether the filter selected more, and the
// ids that name no message of the caller's.
func (s *Server) selected(ctx context.Context, kv *statusstore.KV, req selection, rules selectionRules) (recs []statusstore.Record, missing []string, more bool, e *apiError) {
	if req.Filter == nil {
		recs, missing, e = s.selectedByID(ctx, kv, req.IDs)
		return recs, missing, false, e
	}
	recs, more, e = s.selectedByFilter(ctx, *req.Filter, rules)
	return recs, nil, more, e
}

// selectedByID looks up each distinct id once.
func (s *Server) selectedByID(ctx context.Context, kv *statusstore.KV, ids []string) (recs []statusstore.Record, missing []string, e *apiError) {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		rec, found, e := s.lookup(ctx, kv, id)
		if e != nil {
			return nil, nil, e
		}
		if !found || !s.visible(ctx, rec) {
			missing = append(missing, id)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, missing, nil
}

// selectedByFilter searches the status database for the filter's messages
// in each status the operation moves (the filter's one, when it names one).
func (s *Server) selectedByFilter(ctx context.Context, f Filter, rules selectionRules) ([]statusstore.Record, bool, *apiError) {
	q, e := s.query(ctx, f, "filter.")
	if e != nil {
		return nil, false, e
	}
	if s.cfg.StatusDatabase == nil {
		return nil, false, errorf(http.StatusNotImplemented, codeNotConfigured, fmt.Sprintf("a %s by filter needs the gateway's database (DATABASE_URL)", rules.op))
	}
	states := rules.states
	if f.Status != "" {
		states = []statusstore.State{statusstore.State(f.Status)}
	}
	var recs []statusstore.Record
	for _, st := range states {
		q.Status, q.Limit = st, MaxRedriveMessages+1-len(recs)
		page, err := s.cfg.StatusDatabase.Search(ctx, q)
		if err != nil {
			s.log.Warn(rules.op+": search", "err", err)
			return nil, false, errorf(http.StatusServiceUnavailable, codeUnavailable, "status database unavailable")
		}
		recs = append(recs, page...)
		if len(recs) > MaxRedriveMessages {
			break
		}
	}
	return recs[:min(len(recs), MaxRedriveMessages)], len(recs) > MaxRedriveMessages, nil
}
