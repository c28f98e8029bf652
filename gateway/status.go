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
		release, ok := s.waits.tryAcquire(1)
		if !ok {
			return errorf(http.StatusTooManyRequests, codeTooManyRequests, "too many status reads are waiting; retry later")
		}
		defer release()
		rec = s.reader.Fresher(r.Context(), s.waitTerminal(r.Context(), rec, wait))
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

// lookup reads a record through the status reader (store may be nil before
// the bucket is ensured). It answers 503 only when a store failed and no
// other had the record.
func (s *Server) lookup(ctx context.Context, store *statusstore.KV, id string) (statusstore.Record, bool, *apiError) {
	rec, err := s.reader.Get(ctx, store, id)
	switch {
	case err == nil:
		return rec, true, nil
	case errors.Is(err, statusstore.ErrNotFound):
		return statusstore.Record{}, false, nil
	}
	s.log.Warn("status lookup", "message_id", id, "err", err)
	return statusstore.Record{}, false, errorf(http.StatusServiceUnavailable, codeUnavailable, "status store unavailable")
}
