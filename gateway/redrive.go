package gateway

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/dlq"
	"github.com/nomnom-io/nomnom/statusstore"
)

// Bounds of POST /ingest/dlq/redrive.
const (
	// maxRedriveBody bounds the request body: a thousand ids fit with room.
	maxRedriveBody = 64 << 10
	// MaxRedriveMessages is the most messages one redrive request names or
	// its filter selects; a filter that selects more answers "more": true,
	// and the client repeats the request.
	MaxRedriveMessages = 1000
	// DefaultMaxRedrives is the default Config.MaxRedrives, the same as
	// `dlq redrive`'s.
	DefaultMaxRedrives = dlq.DefaultMaxRedrives
)

// Outcomes of one message of an HTTP redrive, beside those of the
// dead-letter package ("redriven", "stale", "skipped").
const (
	outcomeWouldRedrive = "would_redrive"           // dry run: it would be redriven
	outcomeNotFound     = "not_found"               // no such message of the caller's
	outcomeNotFailed    = "not_failed"              // its record is not failed
	outcomeNotInDLQ     = "not_in_dlq"              // failed, but the DLQ has no copy
	outcomeCapped       = string(dlq.OutcomeCapped) // redriven Config.MaxRedrives times already
)

// redriveResult is what happened, or would happen, to one message.
type redriveResult struct {
	MessageID string `json:"message_id"`
	Outcome   string `json:"outcome"`
	// Redrives is the message's count of redrives, this one included.
	Redrives int    `json:"redrives"`
	Error    string `json:"error,omitempty"`
}

// redriveAnswer is the answer of POST /ingest/dlq/redrive.
type redriveAnswer struct {
	DryRun bool `json:"dry_run"`
	// MaxRedrives is the loop guard: a message redriven this many times is
	// not redriven again.
	MaxRedrives int             `json:"max_redrives"`
	Results     []redriveResult `json:"results"`
	Counts      map[string]int  `json:"counts"`
	// More is true when the filter selected more than one request handles.
	More bool `json:"more"`
}

// handleRedrive serves POST /ingest/dlq/redrive: the semantics of
// `nomnom dlq redrive` for the caller's own failed messages, named by id or
// selected by a filter, with a dry run and a per-message cap on redrives.
func (s *Server) handleRedrive(w http.ResponseWriter, r *http.Request) *apiError {
	req, e := readSelection(w, r, redriveRules)
	if e != nil {
		return e
	}
	kv, e := s.available()
	if e != nil {
		return e
	}
	ctx, cancel := context.WithTimeout(r.Context(), 4*s.cfg.PublishTimeout)
	defer cancel()
	recs, results, more, e := s.redriveCandidates(ctx, kv, req)
	if e != nil {
		return e
	}
	ans := redriveAnswer{DryRun: req.DryRun, MaxRedrives: s.cfg.MaxRedrives, More: more}
	todo, e := s.screen(ctx, recs, &results)
	if e != nil {
		return e
	}
	if req.DryRun {
		for _, rec := range todo {
			results = append(results, redriveResult{MessageID: rec.MessageID, Outcome: outcomeWouldRedrive, Redrives: rec.Redrives + 1})
		}
	} else if len(todo) > 0 {
		results = append(results, s.redrive(ctx, kv, todo)...)
	}
	ans.Results, ans.Counts = results, map[string]int{}
	for _, res := range results {
		ans.Counts[res.Outcome]++
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// redriveCandidates returns the caller's records the request selects, and a
// not_found result for each id that is not one.
func (s *Server) redriveCandidates(ctx context.Context, kv *statusstore.KV, req selection) ([]statusstore.Record, []redriveResult, bool, *apiError) {
	recs, missing, more, e := s.selected(ctx, kv, req, redriveRules)
	var results []redriveResult
	for _, id := range missing {
		results = append(results, redriveResult{MessageID: id, Outcome: outcomeNotFound})
	}
	return recs, results, more, e
}

// screen keeps the records a redrive may move: failed, under the cap, with
// a copy in the DLQ; the others get their result.
func (s *Server) screen(ctx context.Context, recs []statusstore.Record, results *[]redriveResult) ([]statusstore.Record, *apiError) {
	inDLQ, err := s.deadLettered(ctx)
	if err != nil {
		s.log.Warn("redrive: list the DLQ", "err", err)
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "the dead-letter stream cannot be read")
	}
	var todo []statusstore.Record
	for _, rec := range recs {
		res := redriveResult{MessageID: rec.MessageID, Redrives: rec.Redrives}
		switch {
		case rec.Status != statusstore.Failed:
			res.Outcome = outcomeNotFailed
		case dlq.Capped(rec.Redrives, s.cfg.MaxRedrives):
			res.Outcome = outcomeCapped
		case !inDLQ[rec.MessageID]:
			res.Outcome = outcomeNotInDLQ
		default:
			todo = append(todo, rec)
			continue
		}
		*results = append(*results, res)
	}
	return todo, nil
}

// deadLettered returns the message ids that have a copy in the DLQ.
func (s *Server) deadLettered(ctx context.Context) (map[string]bool, error) {
	admin, err := dlq.New(dlq.Config{JetStream: s.js, Topology: s.cfg.Topology})
	if err != nil {
		return nil, err
	}
	dls, err := admin.List(ctx, dlq.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(dls))
	for _, dl := range dls {
		if id, err := uuid.Parse(dl.MessageID); err == nil {
			out[id.String()] = true
		}
	}
	return out, nil
}

// redrive redrives the records' messages as `nomnom dlq redrive` does.
func (s *Server) redrive(ctx context.Context, kv *statusstore.KV, recs []statusstore.Record) []redriveResult {
	ids := make([]string, len(recs))
	redrives := map[string]int{}
	for i, rec := range recs {
		ids[i], redrives[rec.MessageID] = rec.MessageID, rec.Redrives
	}
	cfg := dlq.Config{JetStream: s.js, Topology: s.cfg.Topology, KV: kv}
	if s.cfg.StatusDatabase != nil {
		cfg.Postgres = s.cfg.StatusDatabase
	}
	admin, err := dlq.New(cfg)
	var out []dlq.Redriven
	if err == nil {
		out, err = admin.Redrive(ctx, dlq.RedriveOptions{IDs: ids, MaxRedrives: s.cfg.MaxRedrives})
	}
	var results []redriveResult
	done := map[string]bool{}
	for _, r := range out {
		id := strings.ToLower(r.MessageID)
		res := redriveResult{MessageID: id, Outcome: string(r.Outcome), Redrives: redrives[id]}
		if r.Outcome == dlq.OutcomeRedriven {
			res.Redrives++
		}
		if r.Err != nil {
			res.Error = r.Err.Error()
		}
		done[id] = true
		results = append(results, res)
	}
	for _, id := range ids {
		if !done[id] {
			res := redriveResult{MessageID: id, Outcome: "skipped", Redrives: redrives[id], Error: "its DLQ copy was gone when the redrive reached it"}
			if err != nil {
				res.Error = err.Error()
			}
			results = append(results, res)
		}
	}
	return results
}
