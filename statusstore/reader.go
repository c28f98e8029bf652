package statusstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// StaleAfter is how long a record in KV may stay unchanged and not
// completed before a Reader also asks the fallback store (message_status).
//
// Workers write KV after their PostgreSQL commit, and acknowledge a message
// only once its final status is in KV (a completed message whose KV write
// keeps failing is redelivered and written again). A failed message is
// terminated all the same, and until a redelivery repairs a completed one,
// KV can hold an older record (accepted or processing) while message_status
// says completed. Checking PostgreSQL only for records that have not moved
// for a while keeps the usual read at one KV get while a stale record reads
// right on the next poll.
const StaleAfter = 10 * time.Second

// Getter reads one message's record; KV and Postgres are Getters.
type Getter interface {
	// Get returns the record of a message, or an error wrapping ErrNotFound.
	Get(ctx context.Context, messageID string) (Record, error)
}

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// Conn is the NATS connection of the KV bucket: a Reader reads nothing
	// from KV while it is disconnected, and confirms a miss on a replicated
	// bucket with the stream leader through it.
	Conn *nats.Conn
	// Bucket is the status bucket's name, for leader reads.
	Bucket string
	// Replicas is the bucket's replica count; above 1 a KV miss is
	// confirmed with the stream leader before it is trusted.
	Replicas int
	// Fallback is read when KV has no record and when a KV record looks
	// stale (see StaleAfter): the message_status table, which outlives the
	// bucket's TTL. Nil when there is no database.
	Fallback Getter
	// Timeout bounds each read (default 5s).
	Timeout time.Duration
	// Logger receives the reasons a fallback read was skipped (default:
	// discard).
	Logger *slog.Logger
}

// Reader reads a message's status the way a client must see it: KV first,
// a KV miss on a replicated bucket confirmed with the stream leader, then
// the fallback store; and of a KV record and a fallback record, the one
// further along the lifecycle (see Fresher). The gateway answers status
// requests with it.
type Reader struct {
	cfg ReaderConfig
}

// NewReader returns a Reader on cfg.
func NewReader(cfg ReaderConfig) *Reader {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reader{cfg: cfg}
}

// Get returns a message's record from kv (nil when the bucket is not
// ensured yet), else from the fallback store. It returns an error wrapping
// ErrNotFound when no store has the record and none failed; when a store
// failed and no other had the record, the error says which failed and does
// not wrap ErrNotFound.
func (r *Reader) Get(ctx context.Context, kv *KV, id string) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var failures []error
	if kv != nil && (r.cfg.Conn == nil || r.cfg.Conn.IsConnected()) {
		rec, err := kv.Get(ctx, id)
		if errors.Is(err, ErrNotFound) && r.cfg.Replicas > 1 && r.cfg.Conn != nil {
			// A replica that has not applied the create yet may have
			// answered: confirm the miss with the stream leader (leader.go).
			rec, err = leaderGet(ctx, r.cfg.Conn, r.cfg.Bucket, id)
		}
		if err == nil {
			return r.Fresher(ctx, rec), nil
		}
		if !errors.Is(err, ErrNotFound) {
			failures = append(failures, fmt.Errorf("status bucket: %w", err))
		}
	} else {
		failures = append(failures, errors.New("status bucket: NATS is not reachable"))
	}
	if r.cfg.Fallback != nil {
		rec, err := r.cfg.Fallback.Get(ctx, id)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, ErrNotFound) {
			failures = append(failures, fmt.Errorf("status database: %w", err))
		}
	}
	if len(failures) > 0 {
		return Record{}, errors.Join(failures...)
	}
	return Record{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// Fresher returns the fallback store's record instead of rec when rec is
// not completed, has not changed for StaleAfter, and the fallback holds a
// record further along the lifecycle. Without a fallback, or when it cannot
// answer, it returns rec.
func (r *Reader) Fresher(ctx context.Context, rec Record) Record {
	// Only completed is final: a failed record can be redriven, and a
	// redrive that found KV lagging may have moved only PostgreSQL on.
	if rec.Status == Completed || r.cfg.Fallback == nil || time.Since(rec.UpdatedAt) < StaleAfter {
		return rec
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	db, err := r.cfg.Fallback.Get(ctx, rec.MessageID)
	switch {
	case errors.Is(err, ErrNotFound):
		return rec
	case err != nil:
		// Debug, not Warn: during a PostgreSQL outage every poll of an old
		// record gets here, and the gateway's /health reports the database.
		r.cfg.Logger.Debug("status database", "message_id", rec.MessageID, "err", err)
		return rec
	case After(db, rec):
		return db
	}
	return rec
}
