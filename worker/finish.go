package worker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/wire"
)

// dlqAckTimeout bounds the wait for the DLQ stream to store the copies of a
// batch's failed messages.
const dlqAckTimeout = 10 * time.Second

// finish acts on the settled batch: failed messages are copied to the DLQ
// and, once JetStream has stored the copies, terminated; written ones are
// acknowledged; the rest are NAKed with their back-off. Each message's final
// status goes to KV first and its acknowledgement follows the KV write (see
// statusUpdate.settle), so KV never stays behind a message JetStream has
// let go of.
//
// Acknowledgements are plain Ack, not AckSync: a lost ack only causes a
// redelivery, which finds the message completed in message_status and is
// acknowledged without being written again. The same holds for Term.
func (w *Worker) finish(ctx context.Context, items []*item, sb *statusBatch) {
	stored := w.deadLetter(ctx, items)
	finals := make([]statusUpdate, 0, len(items))
	for _, it := range items {
		if it.outcome == outFailed && !stored[it] {
			w.nak(it)
			w.endTrace(it)
			continue
		}
		settle := w.settler(it)
		switch {
		case !it.hasStatus():
			settle(true)
		case it.adopt != nil:
			finals = append(finals, statusUpdate{base: it.base, adopt: it.adopt, settle: settle})
		case it.kv != nil:
			finals = append(finals, statusUpdate{base: it.base, via: it.via(), change: *it.kv, settle: settle})
		default:
			settle(true)
		}
	}
	w.status.send(ctx, sb, finals)
}

// settler returns what ends a message's delivery once its status is
// written. A written message whose completed status could not reach KV is
// NAKed instead of acknowledged: its redelivery finds the committed row and
// tries KV again, so KV does not stay behind. A failed one is terminated all
// the same, since its copy is already in the DLQ; readers reconcile a stale
// KV record with message_status.
func (w *Worker) settler(it *item) func(written bool) {
	traced := w.traceStatus(it)
	return func(written bool) {
		if traced != nil {
			defer traced(written)
		}
		if !written && (it.outcome == outCompleted || it.outcome == outDuplicate) {
			w.nak(it)
			return
		}
		switch it.outcome {
		case outFailed:
			w.ackErr(it, it.msg.Term())
			w.metrics.messages.WithLabelValues("failed").Inc()
		case outCompleted:
			w.ackErr(it, it.msg.Ack())
			w.metrics.messages.WithLabelValues("completed").Inc()
		case outDuplicate:
			w.ackErr(it, it.msg.Ack())
			w.metrics.messages.WithLabelValues("duplicate").Inc()
		case outRetry:
			w.nak(it)
			w.metrics.messages.WithLabelValues("retrying").Inc()
		}
	}
}

func (w *Worker) nak(it *item) {
	w.ackErr(it, it.msg.NakWithDelay(w.cfg.backoff(it.delivery)))
}

func (w *Worker) ackErr(it *item, err error) {
	if err != nil {
		w.log.Warn("acknowledgement not sent; the message will be redelivered", "message_id", it.id, "err", err)
	}
}

// deadLetter publishes the copies of the failed messages and reports which
// ones the DLQ stream stored.
func (w *Worker) deadLetter(ctx context.Context, items []*item) map[*item]bool {
	futures := map[*item]jetstream.PubAckFuture{}
	for _, it := range items {
		if it.outcome != outFailed {
			continue
		}
		f, err := w.js.PublishMsgAsync(w.dlqMsg(it))
		if err != nil {
			w.log.Error("dead-letter publish failed", "message_id", it.id, "err", err)
			continue
		}
		futures[it] = f
	}
	stored := make(map[*item]bool, len(futures))
	timeout := time.NewTimer(dlqAckTimeout)
	defer timeout.Stop()
	for it, f := range futures {
		select {
		case <-f.Ok():
			stored[it] = true
			w.log.Info("message dead-lettered", "message_id", it.id, "attempt", it.attempt, "reason", it.reason)
		case err := <-f.Err():
			w.log.Error("dead-letter copy not stored", "message_id", it.id, "err", err)
		case <-timeout.C:
			w.log.Error("dead-letter copy not acknowledged in time", "message_id", it.id)
			return stored
		case <-ctx.Done():
			return stored
		}
	}
	return stored
}

// dlqMsg is the dead-letter copy of a failed message: its payload as it was
// fetched, and headers saying why. Its Nats-Msg-Id names the message and the
// redrive generation (retry_count), so the copy published again by a
// redelivery of the same failure is stored once.
func (w *Worker) dlqMsg(it *item) *nats.Msg {
	entity := it.msg.Headers().Get(wire.HeaderEntityType)
	if it.env != nil {
		entity = it.env.EntityTypeOrEmpty()
	}
	m := nats.NewMsg(w.cfg.Topology.DLQSubject(entity))
	m.Data = it.msg.Data()
	if entity != "" {
		m.Header.Set(wire.HeaderEntityType, entity)
	}
	reason := "unknown"
	if it.reason != nil {
		reason = it.reason.Error()
	}
	m.Header.Set(wire.HeaderDLQReason, headerValue(reason))
	m.Header.Set(wire.HeaderDLQAttempts, strconv.Itoa(it.attempt))
	m.Header.Set(wire.HeaderDLQFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if it.id != "" {
		m.Header.Set(wire.HeaderDLQMessageID, headerValue(it.id))
	}
	if id := dlqMsgID(it); id != "" {
		m.Header.Set(wire.HeaderMsgID, id)
	}
	fitPayload(m, w.nc.MaxPayload())
	return m
}

// fitPayload cuts m's payload so that the message fits a server with this
// max_payload, and says so in HeaderDLQTruncated, so that a dead-letter copy
// can always be stored and its message can always reach "failed".
func fitPayload(m *nats.Msg, maxPayload int64) {
	if maxPayload <= 0 {
		return
	}
	const slack = 64 // the truncation header itself
	room := maxPayload - headerSize(m.Header) - slack
	if int64(len(m.Data)) <= room {
		return
	}
	m.Header.Set(wire.HeaderDLQTruncated, strconv.Itoa(len(m.Data)))
	m.Data = m.Data[:max(room, 0)]
}

// headerSize is the encoded size of h: "NATS/1.0\r\n", a "key: value\r\n"
// line per value, and the closing "\r\n".
func headerSize(h nats.Header) int64 {
	n := int64(len("NATS/1.0\r\n\r\n"))
	for k, vs := range h {
		for _, v := range vs {
			n += int64(len(k) + len(": ") + len(v) + len("\r\n"))
		}
	}
	return n
}

func dlqMsgID(it *item) string {
	if it.env != nil {
		return fmt.Sprintf("%s:dlq:%d", it.id, it.env.RetryCount)
	}
	// Undecodable: the stream sequence tells one copy from another.
	if md, err := it.msg.Metadata(); err == nil {
		return fmt.Sprintf("%s:dlq:seq%d", it.id, md.Sequence.Stream)
	}
	return ""
}

// headerValue makes s safe as a NATS header value: one line, bounded.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	const limit = 1024
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// keepInProgress tells JetStream every AckWait/2 that the batch is still
// being worked on, so a long transaction is not redelivered to another
// worker. The returned function stops it.
func (w *Worker) keepInProgress(msgs []jetstream.Msg) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.cfg.AckWait / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
