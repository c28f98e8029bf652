package worker

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/wire"
)

// tracerName names the worker's spans' instrumentation scope.
const tracerName = "github.com/nomnom-io/nomnom/worker"

// msgTrace is one message's spans: "consume", from its fetch to its
// acknowledgement, a child of the publish whose traceparent the message
// carries; "write" (its batch's transaction, recorded at commit) and
// "status" (the final status write to KV) are children of consume.
type msgTrace struct {
	ctx     context.Context
	consume trace.Span
}

// startTrace starts the consume span of a fetched message, or returns nil
// when tracing is off.
func (w *Worker) startTrace(it *item) *msgTrace {
	if w.tracer == nil {
		return nil
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), wire.TraceCarrier(it.msg.Headers()))
	ctx, span := w.tracer.Start(ctx, "consume", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.message.id", it.id),
			attribute.Int("messaging.delivery", it.delivery)))
	return &msgTrace{ctx: ctx, consume: span}
}

// traceWrite records the write span of each message of a committed
// transaction that began at began.
func (w *Worker) traceWrite(items []*item, began time.Time) {
	if w.tracer == nil {
		return
	}
	for _, it := range items {
		if it.trace == nil {
			continue
		}
		_, span := w.tracer.Start(it.trace.ctx, "write", trace.WithTimestamp(began),
			trace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.String("nomnom.outcome", it.outcome.String())))
		for table, n := range it.entityRows() {
			span.SetAttributes(attribute.Int("nomnom.rows."+table, n))
		}
		span.End()
	}
}

// traceStatus starts the status span of a message's final status write and
// returns what ends it with the consume span, or nil when tracing is off.
func (w *Worker) traceStatus(it *item) func(written bool) {
	if it.trace == nil {
		return nil
	}
	_, span := w.tracer.Start(it.trace.ctx, "status")
	return func(written bool) {
		if !written {
			span.SetStatus(codes.Error, "status not written to KV")
		}
		span.End()
		w.endTrace(it)
	}
}

// endTrace ends the consume span with the message's outcome.
func (w *Worker) endTrace(it *item) {
	if it.trace == nil {
		return
	}
	span := it.trace.consume
	span.SetAttributes(attribute.String("nomnom.outcome", it.outcome.String()))
	if it.reason != nil {
		span.SetStatus(codes.Error, it.reason.Error())
	}
	span.End()
}

// entityRows are the rows the message wrote per table, if it completed.
func (it *item) entityRows() map[string]int {
	if it.kv == nil {
		return nil
	}
	return it.kv.Entities
}

// String names an outcome in spans.
func (o outcome) String() string {
	switch o {
	case outCompleted:
		return "completed"
	case outDuplicate:
		return "duplicate"
	case outFailed:
		return "failed"
	default:
		return "retrying"
	}
}
