package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// ingestMeta is what a request says about the messages it carries, beside
// their bodies.
type ingestMeta struct {
	entityType     string
	source         string
	tenant         string
	idempotencyKey string
}

// envelope wraps one body for the stream.
func (m ingestMeta) envelope(id string, body []byte, now time.Time) *wire.Envelope {
	return &wire.Envelope{
		MessageID:      id,
		Body:           json.RawMessage(body),
		EntityType:     optional(m.entityType),
		ReceivedAt:     now.UTC(),
		Source:         optional(m.source),
		IdempotencyKey: m.idempotencyKey,
		Tenant:         m.tenant,
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// natsMsg is the stream message of an envelope: its subject, its JSON and
// its headers (Nats-Msg-Id = message_id, so JetStream stores it once).
func (s *Server) natsMsg(env *wire.Envelope) (*nats.Msg, error) {
	data, err := env.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return &nats.Msg{
		Subject: s.cfg.Topology.IngestSubject(env.EntityTypeOrEmpty()),
		Header:  env.Headers(),
		Data:    data,
	}, nil
}

// publishCtx bounds a publish and its status write. It ignores the client
// going away: once a publish has started, the gateway finishes it and
// records the outcome, so the stream and the bucket agree.
func (s *Server) publishCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), s.cfg.PublishTimeout)
}

// publish sends one message and waits for JetStream's acknowledgement.
func (s *Server) publish(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	ack, err := s.js.PublishMsg(ctx, msg)
	if err != nil {
		s.publishFailed(msg, err)
		return nil, err
	}
	return ack, nil
}

// publishFailed counts and logs a message JetStream did not acknowledge, and
// has the topology ensured again when no stream answered.
func (s *Server) publishFailed(msg *nats.Msg, err error) {
	s.metrics.publishErrors.Inc()
	s.log.Warn("publish not acknowledged", "subject", msg.Subject, "message_id", msg.Header.Get(wire.HeaderMsgID), "err", err)
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		s.reensure()
	}
}

// record writes the accepted record of a published envelope with a KV
// create, never a put: a worker that already moved the message on wins, and
// ErrExists is success. Another failure is logged, not answered: the
// message is durable, and the worker creates the record when it takes it.
func (s *Server) record(ctx context.Context, store *statusstore.KV, env *wire.Envelope, now time.Time) error {
	err := store.Create(ctx, statusstore.NewAccepted(env, now))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, statusstore.ErrExists):
		return err
	default:
		s.metrics.statusErrors.Inc()
		s.log.Error("write accepted status", "message_id", env.MessageID, "err", err)
		return err
	}
}

// discardAccepted takes back the accepted record of a message whose
// publish failed, so its status does not claim a message the client was told
// to send again. The store deletes only a record still in "accepted": if the
// publish reached the stream after all and a worker moved the record on, the
// record stays.
func (s *Server) discardAccepted(ctx context.Context, store *statusstore.KV, id string) {
	if err := store.Delete(ctx, id); err != nil {
		s.log.Warn("take back accepted status", "message_id", id, "err", err)
	}
}
