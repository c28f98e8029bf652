package dlq

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/dlq/dlqtest"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func TestRedriveCapLeavesMessageFailed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	top := testsvc.Topology(t)
	js, err := jetstream.New(testsvc.Connect(t, testsvc.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := wire.Ensure(ctx, js, top)
	if err != nil {
		t.Fatal(err)
	}
	kv := statusstore.NewKV(bucket)
	a, err := New(Config{JetStream: js, Topology: top, KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 2
	atCap := dlqtest.DeadLetter(t, js, top, kv, limit)
	below := dlqtest.DeadLetter(t, js, top, kv, limit-1)

	if _, err := a.Redrive(ctx, RedriveOptions{All: true, MaxRedrives: -1}); err == nil || !strings.Contains(err.Error(), "-1") {
		t.Errorf("redrive with a negative cap: %v, want an error naming it", err)
	}
	out, err := a.Redrive(ctx, RedriveOptions{All: true, MaxRedrives: limit})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Redriven{}
	for _, r := range out {
		got[r.MessageID] = r
	}
	if r := got[atCap]; r.Outcome != OutcomeCapped || r.Err == nil ||
		!strings.Contains(r.Err.Error(), "2 time(s)") || !strings.Contains(r.Err.Error(), "limit is 2") {
		t.Errorf("message at the cap: %s, %v; want capped with an error naming 2 redrives and the limit 2", r.Outcome, r.Err)
	}
	if r := got[below]; r.Outcome != OutcomeRedriven || r.Err != nil {
		t.Errorf("message below the cap: %s, %v; want redriven", r.Outcome, r.Err)
	}
	if len(out) != 2 {
		t.Errorf("redrive results %+v, want the two messages", out)
	}

	// The capped message keeps its copy and its failed record; the other
	// is accepted again, one redrive more, and back on the main stream.
	dls, err := a.List(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].MessageID != atCap {
		t.Errorf("DLQ holds %+v, want only %s", dls, atCap)
	}
	if r, err := kv.Get(ctx, atCap); err != nil || r.Status != statusstore.Failed || r.Redrives != limit {
		t.Errorf("capped record: %s with %d redrives (%v), want failed with %d", r.Status, r.Redrives, err, limit)
	}
	if r, err := kv.Get(ctx, below); err != nil || r.Status != statusstore.Accepted || r.Redrives != limit {
		t.Errorf("redriven record: %s with %d redrives (%v), want accepted with %d", r.Status, r.Redrives, err, limit)
	}
	main, err := js.Stream(ctx, top.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := main.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("main stream holds %d message(s), want the one redriven", info.State.Msgs)
	}
	last, err := main.GetLastMsgForSubject(ctx, top.IngestSubject(""))
	if err != nil {
		t.Fatal(err)
	}
	if env, err := wire.DecodeEnvelope(last.Data); err != nil || env.MessageID != below {
		t.Errorf("republished %s (%v), want %s", env.MessageID, err, below)
	}

	// Without a cap (0) the same message is redriven.
	out, err = a.Redrive(ctx, RedriveOptions{IDs: []string{atCap}})
	if err != nil || len(out) != 1 || out[0].Outcome != OutcomeRedriven {
		t.Errorf("redrive without a cap: %+v, %v; want it redriven", out, err)
	}
}

func TestCapped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		redrives, limit int
		want            bool
	}{{0, 0, false}, {9, 0, false}, {4, 5, false}, {5, 5, true}, {6, 5, true}, {1, 1, true}} {
		if got := Capped(tc.redrives, tc.limit); got != tc.want {
			t.Errorf("Capped(%d, %d) = %v, want %v", tc.redrives, tc.limit, got, tc.want)
		}
	}
}
