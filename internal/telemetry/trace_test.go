package telemetry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/nomnom-io/nomnom/gateway"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
	"github.com/nomnom-io/nomnom/worker"
)

// TestOneTraceFromRequestToCommit sends one message with a traceparent
// through a real gateway and worker, each with its own tracer provider as
// two processes would have, and finds one trace: the client's span, the
// gateway's ingest and publish, the worker's consume, write and status.
func TestOneTraceFromRequestToCommit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := testsvc.NATS(t)
	top := testsvc.Topology(t)
	dbURL := testsvc.Postgres(t)
	if err := migrations.Up(ctx, dbURL, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	gwSpans, wkSpans := tracetest.NewSpanRecorder(), tracetest.NewSpanRecorder()
	gwTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(gwSpans))
	wkTP := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(wkSpans))

	srv, err := gateway.New(gateway.Config{Topology: top, Addr: "127.0.0.1:0", TracerProvider: gwTP,
		StatusFallback: statusstore.NewPostgres(pool)}, testsvc.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })

	cfg := worker.DefaultConfig()
	cfg.Topology, cfg.Consumer, cfg.BatchWait, cfg.TracerProvider = top, "trace-test", 20*time.Millisecond, wkTP
	w, err := worker.New(cfg, testsvc.Connect(t, ns), pool, worker.HandlerFunc(
		func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]worker.Result, error) {
			out := make([]worker.Result, len(batch))
			for i := range out {
				out[i].Entities = map[string]int{"things": 1}
			}
			return out, nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })

	// The client's own span, sent as traceparent.
	client := tracetest.NewSpanRecorder()
	clientCtx, clientSpan := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(client)).Tracer("client").Start(ctx, "client")
	traceID := clientSpan.SpanContext().TraceID()
	base := "http://" + srv.Addr().String()
	req, _ := http.NewRequestWithContext(clientCtx, http.MethodPost, base+"/ingest/message", strings.NewReader(`{"n":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+traceID.String()+"-"+clientSpan.SpanContext().SpanID().String()+"-01")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d %s", res.StatusCode, body)
	}
	var accepted struct {
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal(body, &accepted)
	clientSpan.End()

	// Wait for the worker's last span, the end of consume.
	deadline := time.Now().Add(60 * time.Second)
	for len(ended(wkSpans, "consume")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no consume span ended within 60s; worker spans: %v", names(wkSpans.Ended()))
		}
		time.Sleep(50 * time.Millisecond)
	}

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range append(gwSpans.Ended(), wkSpans.Ended()...) {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %s is in trace %s, want the client's %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
		byName[s.Name()] = s
	}
	for _, link := range []struct{ child, parent string }{
		{"ingest", ""}, {"publish", "ingest"}, {"consume", "publish"}, {"write", "consume"}, {"status", "consume"},
	} {
		c, ok := byName[link.child]
		if !ok {
			t.Errorf("no %s span; spans: %v", link.child, names(append(gwSpans.Ended(), wkSpans.Ended()...)))
			continue
		}
		wantParent := clientSpan.SpanContext().SpanID()
		if link.parent != "" {
			p, ok := byName[link.parent]
			if !ok {
				continue
			}
			wantParent = p.SpanContext().SpanID()
		}
		if c.Parent().SpanID() != wantParent {
			t.Errorf("%s's parent is %s, want %s (%s)", link.child, c.Parent().SpanID(), wantParent, link.parent)
		}
	}
	if s := byName["consume"]; s != nil && s.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("consume is a %s span", s.SpanKind())
	}
	if s := byName["write"]; s != nil && !hasAttr(s, "nomnom.outcome", "completed") {
		t.Errorf("write span attributes %v, want outcome completed", s.Attributes())
	}
	if s := byName["publish"]; s != nil && !hasAttr(s, "messaging.message.id", accepted.MessageID) {
		t.Errorf("publish span attributes %v, want message id %s", s.Attributes(), accepted.MessageID)
	}
}

func ended(r *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}

func hasAttr(s sdktrace.ReadOnlySpan, key, value string) bool {
	for _, a := range s.Attributes() {
		if string(a.Key) == key && a.Value.Emit() == value {
			return true
		}
	}
	return false
}
