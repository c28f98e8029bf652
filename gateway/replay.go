package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/dlq"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// Outcomes of one message of a replay, beside not_found and capped, which
// mean what they mean for a redrive.
const (
	outcomeReplayed    = "replayed"      // back to accepted and republished
	outcomeWouldReplay = "would_replay"  // dry run: it would be replayed
	outcomeNotInStream = "not_in_stream" // its stream copy is no longer retained
	outcomeInProgress  = "in_progress"   // not terminal, or another replay moved it first
)

// errNotTerminal stops the compare-and-swap of a record another writer has
// moved out of a terminal state meanwhile.
var errNotTerminal = errors.New("the record is not terminal")

// replayResult is what happened, or would happen, to one message.
type replayResult struct {
	MessageID string `json:"message_id"`
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
}

// replayAnswer is the answer of POST /ingest/replay.
type replayAnswer struct {
	DryRun  bool           `json:"dry_run"`
	Results []replayResult `json:"results"`
	Counts  map[string]int `json:"counts"`
	// More is true when the filter selected more than one request handles.
	More bool `json:"more"`
}

// handleReplay serves POST /ingest/replay: the caller's completed or failed
// messages, named by id or selected by a filter, go back to accepted and are
// redelivered from their original stream copy, so that a worker writes their
// rows again. The redrive loop guard (Config.MaxRedrives) bounds how often
// one message is sent through again.
func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) *apiError {
	req, e := readSelection(w, r, replayRules)
	if e != nil {
		return e
	}
	kv, e := s.available()
	if e != nil {
		return e
	}
	ctx, cancel := context.WithTimeout(r.Context(), 4*s.cfg.PublishTimeout)
	defer cancel()
	recs, results, more, e := s.replayCandidates(ctx, kv, req)
	if e != nil {
		return e
	}
	todo := screenReplay(recs, s.cfg.MaxRedrives, &results)
	copies, err := s.streamCopies(ctx, todo)
	if err != nil {
		s.log.Warn("replay: read the stream", "err", err)
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the message stream cannot be read")
	}
	for _, rec := range todo {
		res := replayResult{MessageID: rec.MessageID, Outcome: outcomeWouldReplay}
		env, ok := copies[rec.MessageID]
		switch {
		case !ok:
			res.Outcome = outcomeNotInStream
		case !req.DryRun:
			res = s.replay(ctx, kv, env)
		}
		results = append(results, res)
	}
	ans := replayAnswer{DryRun: req.DryRun, Results: results, Counts: map[string]int{}, More: more}
	for _, res := range results {
		ans.Counts[res.Outcome]++
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// replayCandidates returns the caller's records the request selects, and a
// not_found result for each id that is not one (a pruned one included).
func (s *Server) replayCandidates(ctx context.Context, kv *statusstore.KV, req selection) ([]statusstore.Record, []replayResult, bool, *apiError) {
	recs, missing, more, e := s.selected(ctx, kv, req, replayRules)
	var results []replayResult
	for _, id := range missing {
		results = append(results, replayResult{MessageID: id, Outcome: outcomeNotFound})
	}
	return recs, results, more, e
}

// screenReplay keeps the terminal records under the loop guard; the others
// get their result.
func screenReplay(recs []statusstore.Record, maxRedrives int, results *[]replayResult) []statusstore.Record {
	var todo []statusstore.Record
	for _, rec := range recs {
		switch {
		case !rec.Status.Terminal():
			*results = append(*results, replayResult{MessageID: rec.MessageID, Outcome: outcomeInProgress})
		case dlq.Capped(rec.Redrives, maxRedrives):
			*results = append(*results, replayResult{MessageID: rec.MessageID, Outcome: outcomeCapped,
				Error: fmt.Sprintf("sent through again %d time(s), the limit is %d (max redrives)", rec.Redrives, maxRedrives)})
		default:
			todo = append(todo, rec)
		}
	}
	return todo
}

// streamCopies finds the original envelopes of the records' messages in the
// main stream, reading it once from the earliest of their receipts. A message
// the stream no longer retains is absent from the answer.
func (s *Server) streamCopies(ctx context.Context, recs []statusstore.Record) (map[string]wire.Envelope, error) {
	out := map[string]wire.Envelope{}
	if len(recs) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	from := recs[0].ReceivedAt
	for _, rec := range recs {
		want[rec.MessageID] = true
		if rec.ReceivedAt.Before(from) {
			from = rec.ReceivedAt
		}
	}
	stream, err := s.js.Stream(ctx, s.cfg.Topology.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.cfg.Topology.Stream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return out, err
	}
	// A minute's slack: the gateway stamps received_at before it publishes.
	start := from.Add(-time.Minute)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start})
	if err != nil {
		return nil, fmt.Errorf("stream %s: read: %w", s.cfg.Topology.Stream, err)
	}
	for len(out) < len(want) {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("stream %s: read: %w", s.cfg.Topology.Stream, err)
		}
		n, last := 0, false
		for m := range batch.Messages() {
			n++
			if env, err := wire.DecodeEnvelope(m.Data()); err == nil {
				if id, err := uuid.Parse(env.MessageID); err == nil && want[id.String()] {
					env.MessageID = id.String()
					if _, dup := out[env.MessageID]; !dup {
						out[env.MessageID] = env
					}
				}
			}
			md, err := m.Metadata()
			last = last || (err == nil && (md.NumPending == 0 || md.Sequence.Stream >= info.State.LastSeq))
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("stream %s: read: %w", s.cfg.Topology.Stream, err)
		}
		if n == 0 || last || ctx.Err() != nil {
			break
		}
	}
	return out, ctx.Err()
}

// replay moves the message's records back to accepted, PostgreSQL first
// (a worker decides from its row whether a delivery is a duplicate), by
// compare-and-swap, so that of concurrent replays of one message only one
// republishes it; then it republishes the original envelope.
func (s *Server) replay(ctx context.Context, kv *statusstore.KV, env wire.Envelope) replayResult {
	res := replayResult{MessageID: env.MessageID, Outcome: outcomeReplayed}
	now := time.Now()
	var rec statusstore.Record
	stores := []statusstore.Store{kv}
	if s.cfg.StatusDatabase != nil {
		stores = []statusstore.Store{s.cfg.StatusDatabase, kv}
	}
	for i, st := range stores {
		next, err := st.Update(ctx, env.MessageID, func(cur statusstore.Record, found bool) (statusstore.Record, error) {
			switch {
			case i > 0 && found && !statusstore.After(rec, cur):
				return cur, errNotTerminal
			case i > 0:
				return rec, nil
			case !found:
				return cur, statusstore.ErrNotFound
			case !cur.Status.Terminal():
				return cur, errNotTerminal
			}
			return statusstore.Replay(cur, now)
		})
		switch {
		case i == 0 && errors.Is(err, errNotTerminal):
			res.Outcome = outcomeInProgress
			return res
		case i == 0 && errors.Is(err, statusstore.ErrNotFound):
			res.Outcome = outcomeNotFound
			return res
		case err != nil && !errors.Is(err, errNotTerminal):
			res.Outcome, res.Error = outcomeInProgress, "status record: "+err.Error()
			return res
		case i == 0:
			rec = next
		}
	}
	env.RetryCount = rec.Attempts
	data, err := env.Encode()
	if err == nil {
		entity := env.EntityTypeOrEmpty()
		if !wire.ValidEntityToken(entity) {
			entity = ""
		}
		m := nats.NewMsg(s.cfg.Topology.IngestSubject(entity))
		m.Data, m.Header = data, env.Headers()
		// A replay of its own: the ingest window must not drop it as the
		// first publish's duplicate.
		m.Header.Set(wire.HeaderMsgID, fmt.Sprintf("%s:p%d", env.MessageID, rec.Redrives))
		_, err = s.js.PublishMsg(ctx, m)
	}
	if err != nil {
		res.Error = "republish: " + err.Error()
	}
	return res
}
