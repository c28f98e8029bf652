package worker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// tracer is a middleware that records its name before and after the call.
func tracer(name string, trace *[]string) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
			*trace = append(*trace, name+">")
			res, err := next.Handle(ctx, tx, batch)
			*trace = append(*trace, "<"+name)
			return res, err
		})
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mws  []string
		want []string
	}{
		{"none", nil, []string{"h"}},
		{"one", []string{"a"}, []string{"a>", "h", "<a"}},
		{"first is outermost", []string{"a", "b", "c"}, []string{"a>", "b>", "c>", "h", "<c", "<b", "<a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var trace []string
			h := HandlerFunc(func(context.Context, pgx.Tx, []*wire.Envelope) ([]Result, error) {
				trace = append(trace, "h")
				return nil, nil
			})
			var mws []Middleware
			for _, n := range tt.mws {
				mws = append(mws, tracer(n, &trace))
			}
			if _, err := Chain(h, mws...).Handle(context.Background(), nil, nil); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(trace, tt.want) {
				t.Fatalf("calls %v, want %v", trace, tt.want)
			}
		})
	}
}

// syncBuffer is a log sink tests read while the worker writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRecovererUnit(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	panicky := HandlerFunc(func(context.Context, pgx.Tx, []*wire.Envelope) ([]Result, error) {
		panic("kaboom")
	})
	res, err := Recoverer(log)(panicky).Handle(context.Background(), nil, []*wire.Envelope{{}})
	if res != nil || !IsPermanent(err) || !strings.Contains(err.Error(), "handler panicked: kaboom") {
		t.Fatalf("Handle = %v, %v; want a permanent error naming the panic", res, err)
	}
	if IsTransient(err) {
		t.Fatal("a panic is classified transient")
	}
	if got := logs.String(); !strings.Contains(got, "kaboom") || !strings.Contains(got, "TestRecovererUnit") {
		t.Fatalf("log %q lacks the panic or its stack", got)
	}
	// A handler that does not panic passes through untouched.
	want := errors.New("plain")
	ok := HandlerFunc(func(context.Context, pgx.Tx, []*wire.Envelope) ([]Result, error) { return nil, want })
	if _, err := Recoverer(log)(ok).Handle(context.Background(), nil, nil); err != want {
		t.Fatalf("Handle = %v, want the handler's own error", err)
	}
}

// panicOn makes the handler panic on the messages whose body has the tag.
func panicOn(tag string) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, tx pgx.Tx, batch []*wire.Envelope) ([]Result, error) {
			for _, env := range batch {
				if strings.Contains(string(env.Body), tag) {
					panic("poisoned message " + env.MessageID)
				}
			}
			return next.Handle(ctx, tx, batch)
		})
	}
}

// TestHandlerPanicDeadLettersTheMessage runs a worker whose handler panics
// on one message of a batch: that message fails and is dead-lettered with
// the panic as its reason, the stack is logged, the others are written, and
// the worker goes on with the next messages.
func TestHandlerPanicDeadLettersTheMessage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var logs syncBuffer
	cfg := f.config()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.Middleware = []Middleware{panicOn("boom")}
	var ids []string
	for i := range 5 {
		ids = append(ids, f.publish(testBody{N: i}))
	}
	poison := f.publish(testBody{N: 9, Tag: "boom"})
	f.start(cfg, newTestHandler())

	r := f.waitTerminal(poison)
	if r.Status != statusstore.Failed || !strings.Contains(r.Error, "handler panicked: poisoned message "+poison) {
		t.Fatalf("poison: %+v, want failed naming the panic", r)
	}
	if dls := f.deadLetters(); len(dls) != 1 || dls[0].MessageID != poison || !strings.Contains(dls[0].Reason, "handler panicked") {
		t.Fatalf("dead letters %+v, want %s with the panic as reason", dls, poison)
	}
	for _, id := range ids {
		if r := f.waitTerminal(id); r.Status != statusstore.Completed {
			t.Errorf("%s: %s (%s), want completed", id, r.Status, r.Error)
		}
	}
	after := f.publish(testBody{N: 10})
	if r := f.waitTerminal(after); r.Status != statusstore.Completed {
		t.Fatalf("a message after the panic: %+v, want completed", r)
	}
	logged := logs.String()
	if !strings.Contains(logged, "handler panicked") || !strings.Contains(logged, "panicOn") {
		t.Fatalf("the log lacks the panic with its stack:\n%s", logged)
	}
}
