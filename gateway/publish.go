package gateway

import (
	"context"
	"errors"
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

// Publishing: every write of the hot path (the envelope to the stream, the
// accepted record to the bucket) is an asynchronous JetStream publish, and
// the request waits for its acknowledgements together. A message costs one
// round trip however many writes it makes, no goroutine and no reply inbox
// per write, and the connection's flusher coalesces the writes of all
// concurrent requests into few socket writes. Every future resolves by
// itself: the JetStream context is made with an async publish timeout of
// Config.PublishTimeout, and a disconnect fails the futures in flight.

// pending is one asynchronous publish: its message and either the future of
// its acknowledgement or the error that kept it from being sent.
type pending struct {
	msg    *nats.Msg
	future jetstream.PubAckFuture
	err    error
}

// publishAsync sends msg without waiting for its acknowledgement.
func (s *Server) publishAsync(msg *nats.Msg) pending {
	f, err := s.js.PublishMsgAsync(msg)
	return pending{msg: msg, future: f, err: err}
}

// wait returns the acknowledgement of the publish, or why there is none.
func (p pending) wait() (*jetstream.PubAck, error) {
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
// lookup, a fallback create, the take-back of a record). It ignores the
// client going away: once a publish has started, the gateway finishes it and
// records the outcome, so the stream and the bucket agree.
func (s *Server) publishCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), s.cfg.PublishTimeout)
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

// createAsync starts the KV create of a published envelope's accepted
// record: a publish on the key's subject that the server refuses when the
// key's last sequence is not 0, which is what jetstream's KeyValue.Create
// sends, without its synchronous request. It never overwrites a record.
func (s *Server) createAsync(env *wire.Envelope, now time.Time) pending {
	val := appendAccepted(make([]byte, 0, 320+len(env.MessageID)+len(env.Tenant)), env, now.UTC())
	return s.publishAsync(&nats.Msg{
		Subject: s.kvSubjectPrefix + env.MessageID,
		Header:  createHeader,
		Data:    val,
	})
}

// createHeader makes a publish a KV create. Every create shares it: the
// client only reads a message's headers when it sends it (no publish option
// is passed, so PublishMsgAsync does not set any), and nothing else may
// write to it.
var createHeader = nats.Header{jetstream.ExpectedLastSubjSeqHeader: {"0"}}

// created finishes a createAsync: nil when the record was written, an error
// wrapping statusstore.ErrExists when the key has a record (a worker that
// got there first, or an earlier request with the same Idempotency-Key), or
// another error, counted and logged. A refused create is repeated with the
// store's Create, which tells a record from a deleted key (and replaces
// only the latter), exactly as KeyValue.Create does.
func (s *Server) created(ctx context.Context, store *statusstore.KV, env *wire.Envelope, now time.Time, p pending) error {
	_, err := p.wait()
	switch {
	case err == nil:
		return nil
	case wrongLastSequence(err):
		ctx, cancel := s.publishCtx(ctx)
		defer cancel()
		return s.record(ctx, store, env, now)
	default:
		s.metrics.statusErrors.Inc()
		s.log.Error("write accepted status", "message_id", env.MessageID, "err", err)
		return err
	}
}

// wrongLastSequence reports whether JetStream refused a publish because the
// subject's last sequence was not the expected one (10071; 10164 on
// replicated streams).
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
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
