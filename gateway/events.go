package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nomnom-io/nomnom/statusstore"
)

// eventBuffer is the buffer of an event stream's subscription: the changes
// a slow client may lag behind before its stream is closed, to be resumed
// with Last-Event-ID.
const eventBuffer = 1024

// eventParams are the query parameters GET /ingest/events accepts.
var eventParams = map[string]bool{"status": true, "entity": true}

// handleEvents serves GET /ingest/events: Server-Sent Events of the caller's
// status changes, each with the change's revision as its id. A client that
// reconnects with Last-Event-ID first gets the current record of every
// message changed since, then the live changes.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) *apiError {
	match, e := s.eventFilter(r)
	if e != nil {
		return e
	}
	after, resume, e := lastEventID(r)
	if e != nil {
		return e
	}
	watcher := s.watcher.Load()
	if watcher == nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the status bucket is not ready yet")
	}
	release, ok := s.streams.tryAcquire(1)
	if !ok {
		return errorf(http.StatusTooManyRequests, codeTooManyRequests, fmt.Sprintf("%d event streams are open, the most this gateway serves; retry later", s.cfg.MaxEventStreams))
	}
	defer release()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.life.Context(), cancel)()
	sub, last, err := watcher.SubscribeAll(ctx, eventBuffer)
	defer sub.Close()
	if err != nil {
		return nil // the client went, or the gateway stops
	}

	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &eventStream{w: w, rc: rc, sent: last}
	if resume {
		st.sent = after
		err := watcher.Replay(ctx, after, func(c statusstore.Watched) error {
			return st.send(c, match)
		})
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("event stream: replay", "after", after, "err", err)
			}
			return nil
		}
	}
	if err := st.comment("ready"); err != nil {
		return nil
	}
	s.stream(ctx, st, sub, match)
	return nil
}

// stream writes the subscription's changes and heartbeats until the client
// goes, the gateway stops or the client falls too far behind (the stream
// then ends, and the client resumes with Last-Event-ID).
func (s *Server) stream(ctx context.Context, st *eventStream, sub *statusstore.Subscription, match func(statusstore.Record) bool) {
	beat := time.NewTicker(s.cfg.EventHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if st.comment("heartbeat") != nil {
				return
			}
		case c, ok := <-sub.C():
			if !ok || st.send(c, match) != nil {
				return
			}
		}
	}
}

// eventStream writes Server-Sent Events and remembers the last revision it
// passed, so a replay and the live changes join without a duplicate.
type eventStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	sent uint64
}

func (st *eventStream) send(c statusstore.Watched, match func(statusstore.Record) bool) error {
	if c.Revision <= st.sent {
		return nil
	}
	st.sent = c.Revision
	if !match(c.Record) {
		return nil
	}
	data, err := json.Marshal(c.Record)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(st.w, "id: %d\nevent: status\ndata: %s\n\n", c.Revision, data); err != nil {
		return err
	}
	return st.rc.Flush()
}

func (st *eventStream) comment(text string) error {
	if _, err := fmt.Fprintf(st.w, ": %s\n\n", text); err != nil {
		return err
	}
	return st.rc.Flush()
}

// eventFilter validates the stream's parameters and returns what it passes:
// the caller's records, of the status and entity asked for.
func (s *Server) eventFilter(r *http.Request) (func(statusstore.Record) bool, *apiError) {
	v := r.URL.Query()
	for name, values := range v {
		if !eventParams[name] {
			return nil, errorf(http.StatusBadRequest, codeInvalidParameter, name+": unknown parameter")
		}
		if len(values) > 1 {
			return nil, errorf(http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("%s: given %d times", name, len(values)))
		}
	}
	q, e := s.query(r.Context(), Filter{Status: v.Get("status"), Entity: v.Get("entity")}, "")
	if e != nil {
		return nil, e
	}
	return func(rec statusstore.Record) bool {
		return (q.Tenant == nil || rec.Tenant == *q.Tenant) &&
			(q.Status == "" || rec.Status == q.Status) &&
			(q.Entity == "" || (rec.EntityType != nil && *rec.EntityType == q.Entity))
	}, nil
}

// lastEventID reads the Last-Event-ID header: a revision the stream sent.
func lastEventID(r *http.Request) (uint64, bool, *apiError) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, errorf(http.StatusBadRequest, codeInvalidParameter, fmt.Sprintf("Last-Event-ID: %q is not an id this stream sent", v))
	}
	return n, true, nil
}
