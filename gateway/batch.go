package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// maxListedErrors bounds the "errors" list of a batch answer; "results" has
// every line.
const maxListedErrors = 100

// batchResponse is the answer of POST /ingest/batch. Status is "success"
// when every line was accepted, "partial" when some were not, "rejected"
// when none was (with Error).
type batchResponse struct {
	Error      *errorDetail `json:"error,omitempty"`
	Status     string       `json:"status"`
	Processed  int          `json:"processed"`
	Inserted   int          `json:"inserted"`
	Failed     int          `json:"failed"`
	Errors     []string     `json:"errors"`
	DurationMS int64        `json:"duration_ms"`
	Results    []lineResult `json:"results"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// lineResult is the outcome of one non-blank line.
type lineResult struct {
	Line      int    `json:"line"`
	MessageID string `json:"message_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

// batchItem is a valid line on its way to the stream.
type batchItem struct {
	result *lineResult
	env    *wire.Envelope
	err    error
}

// handleBatch serves POST /ingest/batch: NDJSON, one JSON object a line,
// or, under a JSON content type, a JSON array of objects (each element then
// counts as a line). Valid lines are published, and their records created,
// asynchronously and acknowledged together; a line that fails is reported
// on its own and does not fail the others.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) *apiError {
	start := time.Now()
	kind, e := readMedia(r)
	if e != nil {
		return e
	}
	meta, e := readMeta(r)
	if e != nil {
		return e
	}
	if meta.idempotencyKey != "" {
		return errorf(http.StatusBadRequest, codeInvalidIdempotency, "Idempotency-Key is not supported on a batch; send each message to /ingest/message")
	}
	body, done, e := s.readBody(w, r, s.cfg.MaxBatchBytes)
	defer done()
	if e != nil {
		return e
	}
	lines, e := splitBatch(body, kind, s.cfg.MaxBatchLines)
	if e != nil {
		return e
	}
	if len(lines) == 0 {
		return errorf(http.StatusBadRequest, codeEmptyBody, "batch has no lines; send one JSON object a line")
	}
	now := time.Now()
	results, items := parseLines(lines, meta, now, s.messageLimit())
	if len(items) == 0 {
		s.writeBatch(w, http.StatusBadRequest, start, results, &errorDetail{codeNoValidLines, "no line is a valid JSON object"})
		return nil
	}
	store, e := s.available()
	if e != nil {
		return e
	}
	release, e := s.admit(len(items))
	if e != nil {
		return e
	}
	defer release()
	acked := s.publishAll(r.Context(), store, items, now)
	if len(acked) == 0 {
		setRetryAfter(w, s.cfg.RetryAfter)
		s.writeBatch(w, http.StatusServiceUnavailable, start, results, &errorDetail{codeUnavailable, "JetStream did not acknowledge any message"})
		return nil
	}
	s.metrics.accepted.Add(float64(len(acked)))
	s.writeBatch(w, http.StatusAccepted, start, results, nil)
	return nil
}

// parseLines checks every line and wraps the valid ones; results has one
// entry per line, in order, filled in as the items progress.
func parseLines(lines []ndjsonLine, meta ingestMeta, now time.Time, limit int64) ([]lineResult, []batchItem) {
	results := make([]lineResult, len(lines))
	items := make([]batchItem, 0, len(lines))
	for i, l := range lines {
		results[i].Line = l.n
		if int64(len(l.data)) > limit {
			results[i].Error = fmt.Sprintf("line is %d bytes long; a message may be at most %d bytes", len(l.data), limit)
			continue
		}
		obj, e := checkObject(l.data)
		if e != nil {
			results[i].Error = e.message
			continue
		}
		lineMeta, e := meta.withBodyEntityType(obj)
		if e != nil {
			results[i].Error = e.message
			continue
		}
		items = append(items, batchItem{result: &results[i], env: lineMeta.envelope(uuid.NewString(), obj, now)})
	}
	return results, items
}

// publishAll publishes every item's envelope and starts its record's KV
// create without waiting, then waits for all the acknowledgements at once:
// the whole batch costs one round trip. It returns the acknowledged items.
// A record whose envelope was not acknowledged is taken back, as on
// /ingest/message.
func (s *Server) publishAll(ctx context.Context, store *statusstore.KV, items []batchItem, now time.Time) []*batchItem {
	ctx = recordCtx(ctx)
	pubs := make([]pending, len(items))
	envs := make([]*wire.Envelope, len(items))
	for i := range items {
		pubs[i] = s.publishAsync(ctx, s.natsMsg(items[i].env))
		envs[i] = items[i].env
	}
	createErrs := s.createAll(ctx, store, envs, now)
	acked := make([]*batchItem, 0, len(items))
	for i := range items {
		it := &items[i]
		_, it.err = pubs[i].wait()
		if it.err != nil {
			s.publishFailed(pubs[i].msg, it.err)
			if createErrs[i] == nil {
				s.discardAccepted(ctx, store, it.env.MessageID)
			}
			it.result.Error = "not accepted, retry it: JetStream did not acknowledge: " + it.err.Error()
			continue
		}
		it.result.MessageID = it.env.MessageID
		acked = append(acked, it)
	}
	return acked
}

// writeBatch answers the batch's results with their counts.
func (s *Server) writeBatch(w http.ResponseWriter, status int, start time.Time, results []lineResult, e *errorDetail) {
	res := batchResponse{Error: e, Processed: len(results), Errors: []string{}, Results: results}
	for _, r := range results {
		if r.Error == "" {
			res.Inserted++
			continue
		}
		res.Failed++
		if len(res.Errors) < maxListedErrors {
			res.Errors = append(res.Errors, fmt.Sprintf("line %d: %s", r.Line, r.Error))
		}
	}
	switch {
	case e != nil:
		res.Status = "rejected"
	case res.Failed > 0:
		res.Status = "partial"
	default:
		res.Status = "success"
	}
	res.DurationMS = time.Since(start).Milliseconds()
	writeJSON(w, status, res)
}
