package wire_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// A process started with the default max age keeps the longer one the owner
// applied, and logs the difference by name.
func TestEnsureKeepsTheAppliedMaxAge(t *testing.T) {
	js := testsvc.JetStream(t, testsvc.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	owner := testsvc.Topology(t)
	owner.MaxAge = 720 * time.Hour
	if _, err := wire.Apply(ctx, js, owner, wire.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(prev)
	worker := owner
	worker.MaxAge = 168 * time.Hour
	if _, err := wire.Ensure(ctx, js, worker); err != nil {
		t.Fatal(err)
	}

	s, err := js.Stream(ctx, owner.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != 720*time.Hour {
		t.Errorf("max_age after a worker's Ensure: %s, want 720h0m0s", got)
	}
	for _, want := range []string{"setting=max_age", "configured=168h0m0s", "server=720h0m0s"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "topology differs"); n != 1 {
		t.Errorf("%d differences logged, want max_age's alone:\n%s", n, logs.String())
	}
}

// Ensure refuses a stream that does not take the subjects it publishes to.
func TestEnsureRefusesForeignSubjects(t *testing.T) {
	js := testsvc.JetStream(t, testsvc.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	top := testsvc.Topology(t)
	cfg := top.StreamConfig()
	cfg.Subjects = []string{"elsewhere.>"}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Ensure(ctx, js, top); err == nil || !strings.Contains(err.Error(), "do not include") {
		t.Fatalf("Ensure on a stream of other subjects: %v, want a refusal", err)
	}
}

// Apply notices a main stream that came back empty while the bucket holds
// records, and refuses when asked to.
func TestApplyNoticesALostStream(t *testing.T) {
	js := testsvc.JetStream(t, testsvc.NATS(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	top := testsvc.Topology(t)
	kv, err := wire.Apply(ctx, js, top, wire.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "m1", []byte(`{"status":"accepted"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Apply(ctx, js, top, wire.ApplyOptions{RefuseLost: true}); !errors.Is(err, wire.ErrStreamLost) {
		t.Fatalf("Apply over an empty stream and a full bucket: %v, want ErrStreamLost", err)
	}
	if err := js.DeleteStream(ctx, top.Stream); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Apply(ctx, js, top, wire.ApplyOptions{RefuseLost: true}); !errors.Is(err, wire.ErrStreamLost) {
		t.Fatalf("Apply over a missing stream and a full bucket: %v, want ErrStreamLost", err)
	}
	if _, err := wire.Apply(ctx, js, top, wire.ApplyOptions{}); err != nil {
		t.Fatalf("Apply without RefuseLost: %v, want a warning only", err)
	}
}
