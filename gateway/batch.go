package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// recordConcurrency bounds the status creates of one batch in flight at
// once: enough to hide round trips, few enough not to crowd out other
// requests.
const recordConcurrency = 32

// maxListedErrors bounds the "errors" list of a batch answer; "results" has
// every line.
const maxListedErrors = 100

// batchResponse is the answer of POST /ingest/batch.
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
	msg    *nats.Msg
	err    error
}

// handleBatch serves POST /ingest/batch: NDJSON, one JSON object a line.
// Valid lines are published asynchronously and acknowledged together, then
// their records are created together; a line that fails is reported on its
// own and does not fail the others.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) *apiError {
	start := time.Now()
	if e := requireMedia(r, "application/x-ndjson", "application/jsonl"); e != nil {
		return e
	}
	meta, e := readMeta(r)
	if e != nil {
		return e
	}
	if meta.idempotencyKey != "" {
		return errorf(http.StatusBadRequest, codeInvalidIdempotency, "Idempotency-Key is not supported on a batch; send each message to /ingest/message")
	}
	body, e := readBody(w, r, s.cfg.MaxBatchBytes)
	if e != nil {
		return e
	}
	lines, err := splitNDJSON(body, s.cfg.MaxBatchLines)
	if err != nil {
		return errorf(http.StatusRequestEntityTooLarge, codeTooManyLines, err.Error()+"; split it into several requests")
	}
	if len(lines) == 0 {
		return errorf(http.StatusBadRequest, codeEmptyBody, "batch has no lines; send one JSON object a line")
	}
	now := time.Now()
	results, items := parseLines(lines, meta, now)
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
	ctx, cancel := s.publishCtx(r.Context())
	defer cancel()
	acked := s.publishAll(ctx, items)
	s.recordAll(ctx, store, acked, now)
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
func parseLines(lines []ndjsonLine, meta ingestMeta, now time.Time) ([]lineResult, []batchItem) {
	results := make([]lineResult, len(lines))
	items := make([]batchItem, 0, len(lines))
	for i, l := range lines {
		results[i].Line = l.n
		if e := checkObject(l.data); e != nil {
			results[i].Error = e.message
			continue
		}
		items = append(items, batchItem{result: &results[i], env: meta.envelope(uuid.NewString(), l.data, now)})
	}
	return results, items
}

// publishAll publishes every item without waiting, then waits for all the
// acknowledgements at once, and returns the acknowledged items. An item
// without acknowledgement by ctx's end is failed.
func (s *Server) publishAll(ctx context.Context, items []batchItem) []*batchItem {
	futures := make([]jetstream.PubAckFuture, len(items))
	for i := range items {
		it := &items[i]
		if it.msg, it.err = s.natsMsg(it.env); it.err == nil {
			futures[i], it.err = s.js.PublishMsgAsync(it.msg)
		}
	}
	acked := make([]*batchItem, 0, len(items))
	for i, f := range futures {
		it := &items[i]
		if it.err == nil {
			select {
			case <-f.Ok():
			case it.err = <-f.Err():
			case <-ctx.Done():
				it.err = fmt.Errorf("no acknowledgement: %w", ctx.Err())
			}
		}
		if it.err != nil {
			if it.msg != nil {
				s.publishFailed(it.msg, it.err)
			}
			it.result.Error = "not accepted, retry it: JetStream did not acknowledge: " + it.err.Error()
			continue
		}
		it.result.MessageID = it.env.MessageID
		acked = append(acked, it)
	}
	return acked
}

// recordAll creates the accepted records of the acknowledged items,
// recordConcurrency at a time.
func (s *Server) recordAll(ctx context.Context, store *statusstore.KV, items []*batchItem, now time.Time) {
	next := make(chan *batchItem)
	var wg sync.WaitGroup
	for range min(recordConcurrency, len(items)) {
		wg.Go(func() {
			for it := range next {
				_ = s.record(ctx, store, it.env, now)
			}
		})
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
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
		res.Status = "accepted"
	}
	res.DurationMS = time.Since(start).Milliseconds()
	writeJSON(w, status, res)
}
