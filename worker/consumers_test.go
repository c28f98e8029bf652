package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// TestRoutingByEntity runs two feeds' workers on one stream, against the
// embedded server and the floor one (2.9, one subject per consumer): each handler sees only its
// own entity types (in any spelling), and the untyped messages go to the
// one feed that takes them.
func TestRoutingByEntity(t *testing.T) {
	t.Parallel()
	for _, server := range []string{"embedded", "floor"} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			if server == "floor" {
				useServer(t, f, testsvc.FloorNATS(t))
			}
			a, b := newTestHandler(), newTestHandler()
			cfgA := f.config()
			cfgA.Consumer, cfgA.Entities = "feeda", []string{"Alpha"}
			f.start(cfgA, a)
			cfgB := f.config()
			cfgB.Consumer, cfgB.Entities = "feedb", []string{"Beta", "Gamma_Item"}
			f.start(cfgB, b) // auto: feeda already takes the untyped messages

			ids := map[string]*testHandler{}
			for _, m := range []struct {
				entity string
				h      *testHandler
			}{{"Alpha", a}, {"alpha", a}, {"Beta", b}, {"gammaitem", b}, {"GAMMA_ITEM", b}, {"", a}, {"", a}} {
				ids[publishTyped(t, f, m.entity)] = m.h
			}
			for id, h := range ids {
				if r := f.waitTerminal(id); r.Status != statusstore.Completed {
					t.Fatalf("message %s: %s (%s)", id, r.Status, r.Error)
				}
				other := a
				if h == a {
					other = b
				}
				if h.callsOf(id) != 1 || other.callsOf(id) != 0 {
					t.Errorf("message %s: its feed's handler called %d times, the other feed's %d", id, h.callsOf(id), other.callsOf(id))
				}
			}
		})
	}
}

// TestUntypedLeftWhenAsked checks that a worker told to leave the untyped
// messages does not consume them, and that one told to take them does.
func TestUntypedLeftWhenAsked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h := newTestHandler()
	cfg := f.config()
	cfg.Consumer, cfg.Entities, cfg.Untyped = "feeda", []string{"Alpha"}, UntypedLeave
	f.start(cfg, h)
	untyped := publishTyped(t, f, "")
	typed := publishTyped(t, f, "Alpha")
	f.waitTerminal(typed)
	ctx := context.Background()
	if r, err := f.kv.Get(ctx, untyped); err != nil || r.Status != statusstore.Accepted || h.callsOf(untyped) != 0 {
		t.Fatalf("untyped message: %+v, %v, %d calls", r, err, h.callsOf(untyped))
	}
	cfg.Consumer, cfg.Entities, cfg.Untyped = "feedu", []string{"Other"}, UntypedTake
	f.start(cfg, h)
	if r := f.waitTerminal(untyped); r.Status != statusstore.Completed {
		t.Fatalf("untyped message: %s", r.Status)
	}
}

func TestMultiFilter(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"2.9.10": false, "2.10.0": true, "2.12.1": true, "3.0.0": true, "2.10.0-beta.1": true, "": false, "x.y": false} {
		if got := multiFilter(v); got != want {
			t.Errorf("multiFilter(%q) = %v, want %v", v, got, want)
		}
	}
}

// useServer points the fixture at another NATS server, skipping the test
// when it does not answer.
func useServer(t testing.TB, f *fixture, url string) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second))
	if err != nil {
		t.Skipf("no NATS at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := wire.Ensure(ctx, js, f.top)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range []string{f.top.Stream, f.top.DLQStream(), "KV_" + f.top.StatusBucket} {
			_ = js.DeleteStream(context.Background(), s)
		}
	})
	f.nc, f.js, f.kv = nc, js, statusstore.NewKV(kv)
}

// publishTyped publishes a message of an entity type ("" for none) as the
// gateway does.
func publishTyped(t testing.TB, f *fixture, entity string) string {
	t.Helper()
	env := wire.Envelope{MessageID: uuid.NewString(), Body: json.RawMessage(`{"n":1}`), ReceivedAt: time.Now().UTC()}
	if entity != "" {
		env.EntityType = &entity
	}
	ctx := context.Background()
	if err := f.kv.Create(ctx, statusstore.NewAccepted(&env, time.Now())); err != nil {
		t.Fatal(err)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(f.top.IngestSubject(entity))
	m.Data, m.Header = data, env.Headers()
	if _, err := f.js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	return env.MessageID
}

// TestFloorDrainsEveryEntity runs a worker of three entity types and the
// untyped messages on the floor server, where it has four consumers, one a
// subject: a backlog on one subject and a few messages on the others are
// all completed, once each. BatchWait is long, so that a fetch loop which
// waited out an idle consumer's fetch before the busy one's next (a minute
// for the backlog) would miss the generous deadline.
func TestFloorDrainsEveryEntity(t *testing.T) {
	t.Parallel()
	f := setup(t)
	useServer(t, f, testsvc.FloorNATS(t))
	h := newTestHandler()
	cfg := f.config()
	cfg.Consumer, cfg.Entities, cfg.Untyped = "feed", []string{"Alpha", "Beta", "Gamma"}, UntypedTake
	cfg.BatchWait = 5 * time.Second
	var ids []string
	for range 200 {
		ids = append(ids, publishTyped(t, f, "Alpha"))
	}
	for _, entity := range []string{"Beta", "Gamma", ""} {
		for range 5 {
			ids = append(ids, publishTyped(t, f, entity))
		}
	}
	f.start(cfg, h)

	ctx := context.Background()
	testsvc.Eventually(t, 40*time.Second, "every message completed", func() error {
		var done int
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM message_status WHERE status = 'completed'`).Scan(&done); err != nil {
			return err
		}
		if done != len(ids) {
			return fmt.Errorf("%d of %d completed", done, len(ids))
		}
		return nil
	})
	for _, id := range ids {
		if n := h.callsOf(id); n != 1 {
			t.Errorf("message %s: handled %d times, want once", id, n)
		}
	}
	stream, err := f.js.Stream(ctx, f.top.Stream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range stream.ListConsumers(ctx).Info() {
		names = append(names, name.Name)
	}
	if len(names) != 4 {
		t.Errorf("consumers %v, want one a subject (4)", names)
	}
}
