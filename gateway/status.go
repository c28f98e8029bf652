package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/nomnom-io/nomnom/statusstore"
)

// handleStatus serves GET /ingest/status/{id}: KV first, then the fallback
// store; with ?wait=, it holds the answer until the record is terminal.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) *apiError {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		return errorf(http.StatusBadRequest, codeInvalidMessageID, fmt.Sprintf("message id %q is not a UUID", mux.Vars(r)["id"]))
	}
	wait, e := s.parseWait(r.URL.Query().Get("wait"))
	if e != nil {
		return e
	}
	rec, found, e := s.lookup(r.Context(), s.store.Load(), id.String())
	if e != nil {
		return e
	}
	if !found || !s.visible(r.Context(), rec) {
		return errorf(http.StatusNotFound, codeNotFound, "no message "+id.String())
	}
	if wait > 0 && !rec.Status.Terminal() {
		rec = s.fresher(r.Context(), s.waitTerminal(r.Context(), rec, wait))
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

// parseWait reads ?wait=, capped at Config.MaxWait.
func (s *Server) parseWait(v string) (time.Duration, *apiError) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errorf(http.StatusBadRequest, codeInvalidWait, fmt.Sprintf("wait %q is not a duration such as 30s", v))
	}
	return min(d, s.cfg.MaxWait), nil
}

// visible hides a record from every tenant but its own.
func (s *Server) visible(ctx context.Context, rec statusstore.Record) bool {
	return len(s.cfg.APIKeys) == 0 || rec.Tenant == tenantOf(ctx)
}

// lookup reads a record from KV (store may be nil before the bucket is
// ensured), confirming a miss with the stream leader on a replicated bucket,
// then from the fallback store. It answers 503 only when a store failed and
// no other had the record.
func (s *Server) lookup(ctx context.Context, store *statusstore.KV, id string) (statusstore.Record, bool, *apiError) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	var failures []error
	if store != nil && s.nc.IsConnected() {
		rec, err := store.Get(ctx, id)
		if errors.Is(err, statusstore.ErrNotFound) && s.cfg.Topology.Replicas > 1 {
			// A replica that has not applied the create yet may have
			// answered: confirm the miss with the stream leader (cluster.go).
			rec, err = s.leaderGet(ctx, id)
		}
		if err == nil {
			return s.fresher(ctx, rec), true, nil
		}
		if !errors.Is(err, statusstore.ErrNotFound) {
			failures = append(failures, fmt.Errorf("status bucket: %w", err))
		}
	} else {
		failures = append(failures, errors.New("status bucket: NATS is not reachable"))
	}
	if s.cfg.StatusFallback != nil {
		rec, err := s.cfg.StatusFallback.Get(ctx, id)
		if err == nil {
			return rec, true, nil
		}
		if !errors.Is(err, statusstore.ErrNotFound) {
			failures = append(failures, fmt.Errorf("status database: %w", err))
		}
	}
	if len(failures) > 0 {
		err := errors.Join(failures...)
		s.log.Warn("status lookup", "message_id", id, "err", err)
		return statusstore.Record{}, false, errorf(http.StatusServiceUnavailable, codeUnavailable, "status store unavailable")
	}
	return statusstore.Record{}, false, nil
}

// kvStaleAfter is how long a record in KV may stay unchanged and not
// terminal before a status read also asks message_status.
//
// Workers write KV after their PostgreSQL commit, and acknowledge a message
// only once its final status is in KV (a completed message whose KV write
// keeps failing is redelivered and written again). A failed message is
// terminated all the same, and until a redelivery repairs a completed one,
// KV can hold an older record (accepted or processing) while message_status
// says completed. Checking PostgreSQL only for records that have not moved
// for a while keeps the usual read at one KV get while a stale record reads
// right on the next poll.
const kvStaleAfter = 10 * time.Second

// fresher returns message_status's record instead of rec when rec is not
// completed, has not changed for kvStaleAfter, and PostgreSQL holds a record
// further along the lifecycle. Without a database, or when PostgreSQL cannot
// answer, it returns rec.
func (s *Server) fresher(ctx context.Context, rec statusstore.Record) statusstore.Record {
	// Only completed is final: a failed record can be redriven, and a
	// redrive that found KV lagging may have moved only PostgreSQL on.
	if rec.Status == statusstore.Completed || s.cfg.StatusFallback == nil || time.Since(rec.UpdatedAt) < kvStaleAfter {
		return rec
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	db, err := s.cfg.StatusFallback.Get(ctx, rec.MessageID)
	switch {
	case errors.Is(err, statusstore.ErrNotFound):
		return rec
	case err != nil:
		// Debug, not Warn: during a PostgreSQL outage every poll of an old
		// record gets here, and /health already reports the database.
		s.log.Debug("status database", "message_id", rec.MessageID, "err", err)
		return rec
	case statusstore.After(db, rec):
		return db
	}
	return rec
}

// waitTerminal watches the record until it is terminal, the wait ends, the
// client goes away or the gateway stops, and returns the latest record seen.
func (s *Server) waitTerminal(ctx context.Context, rec statusstore.Record, wait time.Duration) statusstore.Record {
	store := s.store.Load()
	if store == nil {
		return rec
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	defer context.AfterFunc(s.life.Context(), cancel)()
	latest, err := store.WaitTerminal(ctx, rec.MessageID)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("wait for terminal status", "message_id", rec.MessageID, "err", err)
	}
	if latest.MessageID == "" || !s.visible(ctx, latest) {
		return rec
	}
	return latest
}
