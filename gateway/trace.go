package gateway

import (
	"context"
	"net/http"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/wire"
)

// tracerName names the gateway's spans' instrumentation scope.
const tracerName = "github.com/nomnom-io/nomnom/gateway"

// traceContext is the W3C propagation of both the HTTP request's and the
// NATS message's traceparent.
var traceContext = propagation.TraceContext{}

// traced wraps an ingest handler in the request's server span, a child of
// the client's traceparent when it sends one. Without a tracer it returns
// h itself: tracing off costs the hot path nothing.
func (s *Server) traced(name string, h http.Handler) http.Handler {
	if s.tracer == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// statusWriter remembers the status of an answer for its span.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// startPublish starts the producer span of a publish and puts its context
// in the message's headers, for the worker to continue. It returns nil when
// tracing is off.
func (s *Server) startPublish(ctx context.Context, msg *nats.Msg) trace.Span {
	if s.tracer == nil {
		return nil
	}
	_, span := s.tracer.Start(ctx, "publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", msg.Header.Get(wire.HeaderMsgID))))
	traceContext.Inject(trace.ContextWithSpan(ctx, span), wire.TraceCarrier(msg.Header))
	return span
}

// endSpan ends span (nil when tracing is off), marking it failed by err.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
