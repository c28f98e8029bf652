package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

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

// Publishing: every write of the hot path (the envelope to the stream, the
// accepted record to the bucket, through statusstore's CreateMany) is an
// asynchronous JetStream publish, and the request waits for its
// acknowledgements together. A message costs one round trip however many
// writes it makes, with no goroutine and no reply inbox per write, and the
// connection's flusher coalesces the writes of all concurrent requests into
// few socket writes. Every future resolves by itself: the JetStream context
// is made with an async publish timeout of Config.PublishTimeout, and a
// reconnect fails the futures in flight.

// pending is one asynchronous publish: its message and either the future of
// its acknowledgement or the error that kept it from being sent.
type pending struct {
	msg    *nats.Msg
	future jetstream.PubAckFuture
	err    error
	span   trace.Span // the publish's span; nil when tracing is off
}

// publishAsync sends msg without waiting for its acknowledgement.
func (s *Server) publishAsync(ctx context.Context, msg *nats.Msg) pending {
	span := s.startPublish(ctx, msg)
	f, err := s.js.PublishMsgAsync(msg)
	return pending{msg: msg, future: f, err: err, span: span}
}

// wait returns the acknowledgement of the publish, or why there is none.
func (p pending) wait() (ack *jetstream.PubAck, err error) {
	if p.span != nil {
		defer func() { endSpan(p.span, err) }()
	}
	if p.err != nil {
		return nil, p.err
	}
	select {
	case ack := <-p.future.Ok():
		return ack, nil
	case err := <-p.future.Err():
		return nil, err
	}
}

// publishCtx bounds the synchronous calls that follow a publish (a KV
// lookup, the take-back of a record). It ignores the client going away:
// once a publish has started, the gateway finishes it and records the
// outcome, so the stream and the bucket agree.
func (s *Server) publishCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), s.cfg.PublishTimeout)
}

// recordCtx is the context of the record creates that go with a publish.
// Like publishCtx it ignores the client going away, but it sets no deadline
// of its own, which would cost a timer per request: the pipelined creates
// are futures that time out by themselves after Config.PublishTimeout, and
// the synchronous calls of a create that conflicts get jetstream's default
// timeout.
func recordCtx(parent context.Context) context.Context {
	return context.WithoutCancel(parent)
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

// createAll creates the accepted records of envs with the store's
// pipelined CreateMany: all the creates are published at once and their
// acknowledgements awaited together. It returns one error per envelope:
// nil, one wrapping statusstore.ErrExists (a worker got there first; the
// record was not touched), or another failure, counted and logged. A failed
// create is not answered: the message is durable, and the worker creates the
// record when it takes it.
func (s *Server) createAll(ctx context.Context, store *statusstore.KV, envs []*wire.Envelope, now time.Time) []error {
	recs := make([]statusstore.Record, len(envs))
	for i, env := range envs {
		recs[i] = statusstore.NewAccepted(env, now)
	}
	errs := store.CreateMany(ctx, recs)
	for i, err := range errs {
		if err != nil && !errors.Is(err, statusstore.ErrExists) {
			s.metrics.statusErrors.Inc()
			s.log.Error("write accepted status", "message_id", envs[i].MessageID, "err", err)
		}
	}
	return errs
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
	ctx, cancel := s.publishCtx(ctx)
	defer cancel()
	if err := store.Delete(ctx, id); err != nil {
		s.log.Warn("take back accepted status", "message_id", id, "err", err)
	}
}
