package statusstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/backoff"
)

// maxCASAttempts bounds the compare-and-swap loops of both stores. Each lost
// round means another writer of the same message succeeded, and a message has
// a handful of writers at most, so reaching it means something is wrong.
const maxCASAttempts = 64

// KV keeps status records in a JetStream KV bucket: key = message_id, value =
// the record's JSON. It is the store the gateway writes and reads first.
type KV struct {
	kv jetstream.KeyValue
	// js, when set, publishes the pipelined writes of CreateMany and
	// UpdateMany asynchronously (see NewKVPipelined).
	js jetstream.JetStream
}

// NewKV returns a store on the bucket, as wire.Ensure returns it.
func NewKV(kv jetstream.KeyValue) *KV {
	return &KV{kv: kv}
}

// Create implements Store with a KV create, which the server refuses when the
// key holds a value.
func (s *KV) Create(ctx context.Context, r Record) error {
	if _, err := s.kv.Create(ctx, r.MessageID, encodeRecord(&r)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%w: %s", ErrExists, r.MessageID)
		}
		return fmt.Errorf("statusstore: create %s: %w", r.MessageID, err)
	}
	return nil
}

// Get implements Store.
func (s *KV) Get(ctx context.Context, messageID string) (Record, error) {
	r, _, err := s.get(ctx, messageID)
	return r, err
}

func (s *KV) get(ctx context.Context, id string) (Record, uint64, error) {
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Record{}, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, 0, fmt.Errorf("statusstore: get %s: %w", id, err)
	}
	r, err := decode(e)
	return r, e.Revision(), err
}

func decode(e jetstream.KeyValueEntry) (Record, error) {
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return Record{}, fmt.Errorf("statusstore: decode %s revision %d: %w", e.Key(), e.Revision(), err)
	}
	return r, nil
}

// Update implements Store with a compare-and-swap on the key's revision (a
// create when the key has no value), retried when another writer got there
// first. When fn refuses, Update returns the current record with fn's error.
func (s *KV) Update(ctx context.Context, messageID string, fn func(cur Record, found bool) (Record, error)) (Record, error) {
	next, _, err := s.update(ctx, messageID, fn)
	return next, err
}

// update is Update that also returns the key's revision: the one written,
// or the current one when fn refuses.
func (s *KV) update(ctx context.Context, messageID string, fn func(cur Record, found bool) (Record, error)) (Record, uint64, error) {
	for attempt := range maxCASAttempts {
		next, rev, conflict, err := s.tryUpdate(ctx, messageID, fn)
		if !conflict {
			return next, rev, err
		}
		if err := casPause(ctx, attempt); err != nil {
			return Record{}, 0, fmt.Errorf("statusstore: update %s: %w", messageID, err)
		}
	}
	return Record{}, 0, fmt.Errorf("statusstore: update %s: still conflicting after %d compare-and-swap attempts", messageID, maxCASAttempts)
}

func (s *KV) tryUpdate(ctx context.Context, id string, fn func(Record, bool) (Record, error)) (next Record, rev uint64, conflict bool, err error) {
	cur, rev, err := s.get(ctx, id)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Record{}, 0, false, err
	}
	if next, err = fn(cur, found); err != nil {
		return cur, rev, false, err
	}
	next.MessageID = id
	val := encodeRecord(&next)
	if found {
		rev, err = s.kv.Update(ctx, id, val, rev)
	} else {
		rev, err = s.kv.Create(ctx, id, val)
	}
	if casConflict(err) {
		return Record{}, 0, true, nil
	}
	if err != nil {
		return Record{}, 0, false, fmt.Errorf("statusstore: update %s: %w", id, err)
	}
	return next, rev, false, nil
}

// casPause waits before compare-and-swap attempt+2: not at all after the
// first lost round, then a jittered wait that grows to a few tens of
// milliseconds. On a replicated bucket the server refuses a conditional
// write while another write of the key is still being replicated, so
// retrying at once only loses again.
func casPause(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	return backoff.Sleep(ctx, casRetry.Delay(attempt-1))
}

// casRetry is the wait of casPause: from [1ms, 2ms) up to [16ms, 32ms).
var casRetry = backoff.Policy{Initial: 2 * time.Millisecond, Max: 32 * time.Millisecond, Jitter: 0.5}

// casConflict reports whether a write lost a compare-and-swap race. On R1
// buckets a revision conflict carries the code of ErrKeyExists, so both count;
// a replicated stream answers a raw publish with its own code.
func casConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Delete removes a message's record while it is still accepted: the gateway
// calls it when the publish of that message failed, so a client never polls
// a message that JetStream does not hold. A record that moved on means the
// publish did land and a worker has the message; Delete then leaves it and
// returns an error wrapping ErrTransition. An unknown message is not an error.
func (s *KV) Delete(ctx context.Context, id string) error {
	cur, rev, err := s.get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Status != Accepted {
		return fmt.Errorf("%w: delete of a %s record %s", ErrTransition, cur.Status, id)
	}
	err = s.kv.Delete(ctx, id, jetstream.LastRevision(rev))
	if casConflict(err) {
		return fmt.Errorf("%w: record %s changed while being deleted", ErrTransition, id)
	}
	if err != nil {
		return fmt.Errorf("statusstore: delete %s: %w", id, err)
	}
	return nil
}

// WaitTerminal watches a message's key and returns its record as soon as it
// is terminal (completed or failed), so a client's ?wait= costs no polling.
// When ctx ends first it returns the latest record with ctx's error, or an
// error wrapping both ErrNotFound and ctx's error when the message never had
// a record.
func (s *KV) WaitTerminal(ctx context.Context, id string) (Record, error) {
	w, err := s.kv.Watch(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("statusstore: watch %s: %w", id, err)
	}
	defer w.Stop()
	var latest *Record
	for {
		select {
		case <-ctx.Done():
			return waitEnded(id, latest, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return waitEnded(id, latest, errors.Join(ctx.Err(), errors.New("watch closed")))
			}
			r, done, err := watched(e, &latest)
			if done || err != nil {
				return r, err
			}
		}
	}
}

// watched folds one watch entry into latest and reports whether the wait is
// over. A nil entry marks the end of the initial value.
func watched(e jetstream.KeyValueEntry, latest **Record) (Record, bool, error) {
	if e == nil {
		return Record{}, false, nil
	}
	if e.Operation() != jetstream.KeyValuePut {
		*latest = nil
		return Record{}, false, nil
	}
	r, err := decode(e)
	if err != nil {
		return Record{}, true, err
	}
	*latest = &r
	return r, r.Status.Terminal(), nil
}

func waitEnded(id string, latest *Record, err error) (Record, error) {
	if latest == nil {
		return Record{}, fmt.Errorf("%w: %s: %w", ErrNotFound, id, err)
	}
	return *latest, err
}
