package wire_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/wire"
)

func TestTraceCarrierIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	prop := propagation.TraceContext{}
	for _, name := range []string{"traceparent", "Traceparent", "TRACEPARENT"} {
		h := nats.Header{}
		h[name] = []string{parent}
		sc := trace.SpanContextFromContext(prop.Extract(context.Background(), wire.TraceCarrier(h)))
		if !sc.IsValid() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsRemote() {
			t.Errorf("header %q: extracted %v, want the trace of %s", name, sc, parent)
		}
	}

	// Injecting over another spelling leaves one header, the W3C's.
	h := nats.Header{"Traceparent": {"00-00000000000000000000000000000001-0000000000000001-01"}}
	ctx := prop.Extract(context.Background(), wire.TraceCarrier(nats.Header{"traceparent": {parent}}))
	prop.Inject(ctx, wire.TraceCarrier(h))
	if len(h) != 1 || h.Get(wire.HeaderTraceParent) != parent {
		t.Errorf("after inject the headers are %v, want one traceparent %s", h, parent)
	}
}
