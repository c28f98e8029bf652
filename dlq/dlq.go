package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// DeadLetter is one message of the dead-letter stream, as the headers of its
// copy describe it.
type DeadLetter struct {
	// Sequence is the copy's sequence in the DLQ stream; Redrive deletes it
	// by this number.
	Sequence   uint64    `json:"sequence"`
	MessageID  string    `json:"message_id"`
	EntityType string    `json:"entity_type,omitempty"`
	Reason     string    `json:"reason"`
	Attempts   int       `json:"attempts"`
	FailedAt   time.Time `json:"failed_at"`
	// Truncated is the payload's original size when the copy holds only its
	// beginning (it was too large for the DLQ stream); 0 otherwise.
	Truncated int `json:"truncated,omitempty"`
	// Data is the payload as the worker fetched it (an envelope, unless it
	// failed for not being one).
	Data []byte `json:"-"`
}

// Config is what an Admin works on.
type Config struct {
	// JetStream reaches the main and DLQ streams (required).
	JetStream jetstream.JetStream
	// Topology names the streams and subjects; it must be the deployment's.
	Topology wire.Topology
	// KV is the status bucket's store (required by Redrive).
	KV statusstore.Store
	// Postgres is the message_status store (optional): without it a
	// redriven message's row is moved back by the worker, which notices
	// the redrive from the envelope's retry_count.
	Postgres statusstore.Store
}

// Admin lists and redrives the dead-lettered messages of one deployment.
type Admin struct {
	js  jetstream.JetStream
	top wire.Topology
	kv  statusstore.Store
	pg  statusstore.Store
}

// New returns an Admin for cfg.
func New(cfg Config) (*Admin, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("dlq: Config.JetStream is nil")
	}
	if err := cfg.Topology.Validate(); err != nil {
		return nil, fmt.Errorf("dlq: Config.Topology: %w", err)
	}
	return &Admin{js: cfg.JetStream, top: cfg.Topology, kv: cfg.KV, pg: cfg.Postgres}, nil
}

// ListOptions select what List returns.
type ListOptions struct {
	// Limit is the most messages returned, oldest first; 0 or less: all.
	Limit int
}

// List returns the dead-lettered messages, oldest first. It reads the DLQ
// stream with an ordered consumer, so it changes nothing.
func (a *Admin) List(ctx context.Context, opts ListOptions) ([]DeadLetter, error) {
	var out []DeadLetter
	err := scanDLQ(ctx, a.js, a.top, func(dl DeadLetter) (bool, error) {
		out = append(out, dl)
		return opts.Limit <= 0 || len(out) < opts.Limit, nil
	})
	return out, err
}

// scanDLQ calls fn for each message of the DLQ stream present when it
// starts, oldest first, until fn returns false.
func scanDLQ(ctx context.Context, js jetstream.JetStream, top wire.Topology, fn func(DeadLetter) (bool, error)) error {
	stream, err := js.Stream(ctx, top.DLQStream())
	if err != nil {
		return fmt.Errorf("dlq stream %s: %w", top.DLQStream(), err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("dlq stream %s: %w", top.DLQStream(), err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("dlq stream %s: read: %w", top.DLQStream(), err)
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("dlq stream %s: read: %w", top.DLQStream(), err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			dl, err := deadLetterOf(m)
			if err != nil {
				return err
			}
			more, err := fn(dl)
			// The consumer's pending count says when this was the last
			// message, so a listing never waits out a fetch on an empty
			// stream (the last sequence may be a deleted message).
			if err != nil || !more || dl.Sequence >= last || isLast(m) {
				// Drain the rest of the fetch before returning.
				for range batch.Messages() {
				}
				return err
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("dlq stream %s: read: %w", top.DLQStream(), err)
		}
		if n == 0 || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// isLast reports whether no message followed m when it was delivered.
func isLast(m jetstream.Msg) bool {
	md, err := m.Metadata()
	return err == nil && md.NumPending == 0
}

// Count returns how many messages the dead-letter stream holds.
func (a *Admin) Count(ctx context.Context) (uint64, error) {
	stream, err := a.js.Stream(ctx, a.top.DLQStream())
	if err != nil {
		return 0, fmt.Errorf("dlq stream %s: %w", a.top.DLQStream(), err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("dlq stream %s: %w", a.top.DLQStream(), err)
	}
	return info.State.Msgs, nil
}

func deadLetterOf(m jetstream.Msg) (DeadLetter, error) {
	md, err := m.Metadata()
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dlq message metadata: %w", err)
	}
	h := m.Headers()
	dl := DeadLetter{
		Sequence:   md.Sequence.Stream,
		MessageID:  h.Get(wire.HeaderDLQMessageID),
		EntityType: h.Get(wire.HeaderEntityType),
		Reason:     h.Get(wire.HeaderDLQReason),
		Data:       m.Data(),
	}
	dl.Attempts, _ = strconv.Atoi(h.Get(wire.HeaderDLQAttempts))
	dl.Truncated, _ = strconv.Atoi(h.Get(wire.HeaderDLQTruncated))
	dl.FailedAt, err = time.Parse(time.RFC3339Nano, h.Get(wire.HeaderDLQFailedAt))
	if err != nil {
		dl.FailedAt = md.Timestamp.UTC()
	}
	return dl, nil
}

// Outcome is what Redrive did with one dead-lettered message.
type Outcome string

// The outcomes of a redrive.
const (
	// OutcomeRedriven: republished and removed from the DLQ.
	OutcomeRedriven Outcome = "redriven"
	// OutcomeStale: the message had completed since; the copy was removed.
	OutcomeStale Outcome = "stale"
	// OutcomeSkipped: left in the DLQ; Redriven.Err says why.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeCapped: left in the DLQ and failed, because its status record
	// counts RedriveOptions.MaxRedrives redrives already (the loop guard);
	// Redriven.Err names the count and the limit.
	OutcomeCapped Outcome = "capped"
)

// DefaultMaxRedrives is the loop guard's default: the redrives of one
// message that `dlq redrive` and POST /ingest/dlq/redrive allow.
const DefaultMaxRedrives = 5

// Capped reports whether a message redriven this many times already may not
// be redriven again under the limit maxRedrives (0: no limit).
func Capped(redrives, maxRedrives int) bool {
	return maxRedrives > 0 && redrives >= maxRedrives
}

// Redriven is what Redrive did with one dead-lettered message.
type Redriven struct {
	DeadLetter
	Outcome Outcome `json:"outcome"`
	Err     error   `json:"-"`
}

// RedriveOptions select the messages Redrive puts back.
type RedriveOptions struct {
	// IDs are the message_ids to redrive.
	IDs []string
	// All redrives every dead-lettered message; IDs are then ignored.
	All bool
	// MaxRedrives is the loop guard: a message whose failed status record
	// counts this many redrives already is left in the DLQ with
	// OutcomeCapped. 0: no limit; less than 0 is refused.
	MaxRedrives int
}

// errUnchanged tells a store's Update that the record stays as it is.
var errUnchanged = errors.New("unchanged")

// Redrive puts dead-lettered messages back on the main stream: the given
// message_ids, or every one with All. For each copy it moves the status
// record from failed back to accepted (history kept), republishes the
// envelope with the same message_id and retry_count = attempts so far, waits
// for JetStream to store it, then deletes the copy. Interrupted, it can run
// again: the steps already done are recognised, and the republish carries a
// Nats-Msg-Id ("<message_id>:r<retry_count>") that de-duplicates it. A
// message whose failed KV record counts opts.MaxRedrives redrives already is
// left alone with OutcomeCapped. A message_id not in the DLQ has no entry in
// the result.
func (a *Admin) Redrive(ctx context.Context, opts RedriveOptions) ([]Redriven, error) {
	js, top, ids, all := a.js, a.top, opts.IDs, opts.All
	stores := stores{kv: a.kv, pg: a.pg}
	if stores.kv == nil {
		return nil, errors.New("redrive: no KV status store")
	}
	if !all && len(ids) == 0 {
		return nil, errors.New("redrive: name message ids or ask for all")
	}
	if opts.MaxRedrives < 0 {
		return nil, fmt.Errorf("redrive: max redrives %d is negative (0: no limit)", opts.MaxRedrives)
	}
	want := map[string]bool{}
	for _, id := range ids {
		u, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("redrive: %q is not a message id", id)
		}
		want[u.String()] = true
	}
	stream, err := js.Stream(ctx, top.DLQStream())
	if err != nil {
		return nil, fmt.Errorf("dlq stream %s: %w", top.DLQStream(), err)
	}
	var out []Redriven
	err = scanDLQ(ctx, js, top, func(dl DeadLetter) (bool, error) {
		if id, err := uuid.Parse(dl.MessageID); !all && (err != nil || !want[id.String()]) {
			return true, nil
		}
		r := Redriven{DeadLetter: dl}
		r.Outcome, r.Err = redriveOne(ctx, js, stream, top, stores, dl, opts.MaxRedrives)
		out = append(out, r)
		return ctx.Err() == nil, nil
	})
	return out, err
}

// stores are the status stores a redrive moves back to accepted.
type stores struct {
	kv, pg statusstore.Store
}

func redriveOne(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, top wire.Topology, stores stores, dl DeadLetter, maxRedrives int) (Outcome, error) {
	if dl.Truncated > 0 {
		return OutcomeSkipped, fmt.Errorf("cannot be redriven: the copy holds %d of the payload's %d bytes", len(dl.Data), dl.Truncated)
	}
	env, err := wire.DecodeEnvelope(dl.Data)
	if err != nil {
		return OutcomeSkipped, fmt.Errorf("cannot be redriven: %w", err)
	}
	env.MessageID = uuid.MustParse(env.MessageID).String()
	if maxRedrives > 0 {
		// Only a failed record is capped: one that is not failed was moved
		// back by an interrupted redrive, which this run completes.
		cur, err := stores.kv.Get(ctx, env.MessageID)
		switch {
		case errors.Is(err, statusstore.ErrNotFound):
		case err != nil:
			return OutcomeSkipped, fmt.Errorf("status record: %w", err)
		case cur.Status == statusstore.Failed && Capped(cur.Redrives, maxRedrives):
			return OutcomeCapped, fmt.Errorf("redriven %d time(s) already, the limit is %d (max redrives)", cur.Redrives, maxRedrives)
		}
	}
	retryCount := max(dl.Attempts, env.RetryCount)
	now := time.Now()
	// PostgreSQL first: it is authoritative on whether the message completed.
	for _, s := range []statusstore.Store{stores.pg, stores.kv} {
		if s == nil {
			continue
		}
		cur, err := redriveRecord(ctx, s, &env, retryCount, now)
		if err != nil {
			return OutcomeSkipped, err
		}
		if cur.Status == statusstore.Completed {
			return OutcomeStale, deleteCopy(ctx, stream, dl.Sequence)
		}
		retryCount = max(retryCount, cur.Attempts)
	}
	env.RetryCount = retryCount
	data, err := env.Encode()
	if err != nil {
		return OutcomeSkipped, err
	}
	entity := env.EntityTypeOrEmpty()
	if !wire.ValidEntityToken(entity) {
		entity = ""
	}
	m := nats.NewMsg(top.IngestSubject(entity))
	m.Data, m.Header = data, env.Headers()
	m.Header.Set(wire.HeaderMsgID, fmt.Sprintf("%s:r%d", env.MessageID, retryCount))
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return OutcomeSkipped, fmt.Errorf("republish: %w", err)
	}
	return OutcomeRedriven, deleteCopy(ctx, stream, dl.Sequence)
}

// redriveRecord moves a failed record back to accepted and returns the
// record as it now is. A record that is not failed is left alone: a
// previous, interrupted redrive already moved it.
func redriveRecord(ctx context.Context, s statusstore.Store, env *wire.Envelope, attempts int, now time.Time) (statusstore.Record, error) {
	rec, err := s.Update(ctx, env.MessageID, func(cur statusstore.Record, found bool) (statusstore.Record, error) {
		if !found {
			r := statusstore.NewAccepted(env, now)
			r.Attempts, r.Redrives = attempts, 1
			return r, nil
		}
		if cur.Status != statusstore.Failed {
			return cur, errUnchanged
		}
		return statusstore.Redrive(cur, now)
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return rec, fmt.Errorf("status record: %w", err)
	}
	return rec, nil
}

func deleteCopy(ctx context.Context, stream jetstream.Stream, seq uint64) error {
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("delete dlq message %d: %w", seq, err)
	}
	return nil
}
