package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// Bounds of the body lookup of a message's detail. The stream has no index
// by message_id, so the lookup reads the stream from a little before the
// message was received, and gives up after maxBodyScan messages.
const (
	maxBodyScan = 10_000
	// bodyScanSlack is read before the record's time, for clock skew
	// between the gateway that received the message and JetStream.
	bodyScanSlack = 5 * time.Second
)

// Where a detail's body came from.
const (
	bodyFromStream     = "stream"
	bodyFromDeadLetter = "dead_letter"
)

// detail is the answer of GET /ingest/messages/{id}.
type detail struct {
	statusstore.Record
	// Body is the client's JSON, while the stream or the dead-letter stream
	// retains a copy; null otherwise.
	Body json.RawMessage `json:"body"`
	// BodyFrom says which stream Body came from, or is null.
	BodyFrom *string `json:"body_from"`
	// Errors are the errors of the record's attempts, oldest first.
	Errors []attemptError `json:"errors"`
}

// attemptError is the error of one attempt, from the record's history.
type attemptError struct {
	Attempt int               `json:"attempt"`
	Status  statusstore.State `json:"status"`
	At      time.Time         `json:"at"`
	Error   string            `json:"error"`
}

// handleDetail serves GET /ingest/messages/{id}: the status record, the
// message's body and the errors of its attempts.
func (s *Server) handleDetail(w http.ResponseWriter, r *http.Request) *apiError {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		return errorf(http.StatusBadRequest, codeInvalidMessageID, fmt.Sprintf("message id %q is not a UUID", mux.Vars(r)["id"]))
	}
	rec, found, e := s.lookup(r.Context(), s.store.Load(), id.String())
	if e != nil {
		return e
	}
	if !found || !s.visible(r.Context(), rec) {
		return errorf(http.StatusNotFound, codeNotFound, "no message "+id.String())
	}
	d := detail{Record: rec, Errors: attemptErrors(rec)}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PublishTimeout)
	defer cancel()
	body, from, err := s.findBody(ctx, rec)
	if err != nil {
		s.log.Warn("message detail: body", "message_id", rec.MessageID, "err", err)
	}
	if body != nil {
		d.Body, d.BodyFrom = body, &from
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func attemptErrors(rec statusstore.Record) []attemptError {
	out := []attemptError{}
	for _, ev := range rec.History {
		if ev.Error != "" {
			out = append(out, attemptError{Attempt: ev.Attempt, Status: ev.Status, At: ev.At, Error: ev.Error})
		}
	}
	return out
}

// findBody looks for the message's envelope in the main stream, then in the
// dead-letter stream, and returns its body. Neither holding it is not an
// error: the streams keep messages for a limited time.
func (s *Server) findBody(ctx context.Context, rec statusstore.Record) (json.RawMessage, string, error) {
	entity := ""
	if rec.EntityType != nil && wire.ValidEntityToken(*rec.EntityType) {
		entity = *rec.EntityType
	}
	top := s.cfg.Topology
	msg, err := s.scanFor(ctx, top.Stream, top.IngestSubject(entity), rec.ReceivedAt, func(m jetstream.Msg) bool {
		id, _, _ := strings.Cut(m.Headers().Get(wire.HeaderMsgID), ":") // a redrive adds ":r<n>"
		return id == rec.MessageID
	})
	from := bodyFromStream
	if msg == nil && err == nil {
		msg, err = s.scanFor(ctx, top.DLQStream(), top.DLQSubject(entity), rec.ReceivedAt, func(m jetstream.Msg) bool {
			id, err := uuid.Parse(m.Headers().Get(wire.HeaderDLQMessageID))
			return err == nil && id.String() == rec.MessageID
		})
		from = bodyFromDeadLetter
	}
	if msg == nil {
		return nil, "", err
	}
	env, err := wire.DecodeEnvelope(msg.Data())
	if err != nil {
		return nil, "", err
	}
	return env.Body, from, nil
}

// scanFor reads the stream's messages on subject stored since from (less
// bodyScanSlack) and returns the first that match accepts, or nil after
// maxBodyScan messages or at the stream's end.
func (s *Server) scanFor(ctx context.Context, streamName, subject string, from time.Time, match func(jetstream.Msg) bool) (jetstream.Msg, error) {
	stream, err := s.js.Stream(ctx, streamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streamName, err)
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streamName, err)
	}
	start := from.Add(-bodyScanSlack)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: read: %w", streamName, err)
	}
	for read := 0; read < maxBodyScan && ctx.Err() == nil; {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("stream %s: read: %w", streamName, err)
		}
		var found jetstream.Msg
		n, end := 0, false
		for m := range batch.Messages() {
			n++
			if found == nil && match(m) {
				found = m
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last.Sequence {
				end = true
			}
		}
		if found != nil {
			return found, nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("stream %s: read: %w", streamName, err)
		}
		if end || n == 0 {
			return nil, nil
		}
		read += n
	}
	return nil, ctx.Err()
}
