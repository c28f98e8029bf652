package statusstore

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// startWatcher runs a watcher of s's bucket until the test ends.
func startWatcher(t *testing.T, s *KV) *Watcher {
	t.Helper()
	w := NewWatcher(s.kv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func subscribeKey(t *testing.T, w *Watcher, id string, buf int) *Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, err := w.SubscribeKey(ctx, id, buf)
	if err != nil {
		t.Fatalf("no watch live within 30s: %v", err)
	}
	return sub
}

func subscribeAll(t *testing.T, w *Watcher, buf int) (*Subscription, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub, after, err := w.SubscribeAll(ctx, buf)
	if err != nil {
		t.Fatalf("no watch live within 30s: %v", err)
	}
	return sub, after
}

func receive(t *testing.T, s *Subscription) Watched {
	t.Helper()
	select {
	case c, ok := <-s.C():
		if !ok {
			t.Fatal("subscription closed")
		}
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("no change within 30s")
		return Watched{}
	}
}

func TestWatcherFansOut(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	w := startWatcher(t, s)
	a, b := newRecord(), newRecord()
	subA := subscribeKey(t, w, a.MessageID, 4)
	defer subA.Close()
	all, from := subscribeAll(t, w, 4)
	defer all.Close()
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	mustUpdate(t, s, a.MessageID, step(Processing, 1))

	if c := receive(t, subA); c.Record.MessageID != a.MessageID || c.Record.Status != Accepted || c.Revision <= from {
		t.Fatalf("key subscription: %+v after %d", c, from)
	}
	if c := receive(t, subA); c.Record.Status != Processing {
		t.Fatalf("key subscription: second change %s, want processing", c.Record.Status)
	}
	var got []string
	for range 3 {
		c := receive(t, all)
		got = append(got, c.Record.MessageID+" "+string(c.Record.Status))
	}
	want := []string{a.MessageID + " accepted", b.MessageID + " accepted", a.MessageID + " processing"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("all-keys subscription %v, want %v", got, want)
		}
	}
	if w.Last() < 3 {
		t.Fatalf("Last = %d after three writes", w.Last())
	}
}

// TestWatcherDropsSlowSubscriber: a full buffer closes the subscription and
// says so, and the others still get every change.
func TestWatcherDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	w := startWatcher(t, s)
	slow, _ := subscribeAll(t, w, 1)
	fast, _ := subscribeAll(t, w, 16)
	defer fast.Close()
	for range 3 {
		mustCreate(t, s, newRecord())
	}
	for range 3 {
		receive(t, fast)
	}
	<-slow.C() // the one change it had room for
	if _, ok := <-slow.C(); ok || !slow.Overflowed() {
		t.Fatal("slow subscription neither closed nor overflowed")
	}
	slow.Close() // closing again is harmless
}

func TestWatcherReplay(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	w := startWatcher(t, s)
	a, b := newRecord(), newRecord()
	sub := subscribeKey(t, w, a.MessageID, 1)
	mustCreate(t, s, a)
	after := receive(t, sub).Revision
	sub.Close()
	mustCreate(t, s, b)
	mustUpdate(t, s, a.MessageID, step(Processing, 1))
	mustUpdate(t, s, a.MessageID, step(Completed, 1))

	var got []Watched
	err := w.Replay(context.Background(), after, func(c Watched) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bucket keeps one value per key: a's processing is gone, its
	// completed record stands for it.
	if len(got) != 2 || got[0].Record.MessageID != b.MessageID || got[1].Record.MessageID != a.MessageID ||
		got[1].Record.Status != Completed || got[0].Revision <= after || got[1].Revision <= got[0].Revision {
		t.Fatalf("replay after %d: %+v", after, got)
	}
	var none int
	if err := w.Replay(context.Background(), got[1].Revision, func(Watched) error { none++; return nil }); err != nil || none != 0 {
		t.Fatalf("replay from the end: %d changes, %v", none, err)
	}
}

// TestWatcherRunsOnlyWhenWanted checks that the watch's consumer exists
// while someone is subscribed (and for Linger after), not otherwise, and
// that a subscription made after an idle spell gets every change after it
// returns, and none of the spell's.
func TestWatcherRunsOnlyWhenWanted(t *testing.T) {
	t.Parallel()
	nc := testsvc.Connect(t, testsvc.NATS(t))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	top := testsvc.Topology(t)
	kv, err := wire.Ensure(context.Background(), js, top)
	if err != nil {
		t.Fatal(err)
	}
	s := NewKV(kv)
	consumers := func() int {
		st, err := js.Stream(context.Background(), "KV_"+top.StatusBucket)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	w := NewWatcher(kv, nil)
	w.Linger = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	mustCreate(t, s, newRecord())
	if n := consumers(); n != 0 {
		t.Fatalf("%d consumers with nobody subscribed, want 0", n)
	}
	a := newRecord()
	sub := subscribeKey(t, w, a.MessageID, 4)
	if n := consumers(); n != 1 {
		t.Fatalf("%d consumers while subscribed, want 1", n)
	}
	mustCreate(t, s, a)
	if c := receive(t, sub); c.Record.MessageID != a.MessageID {
		t.Fatalf("got %+v", c)
	}
	sub.Close()
	testsvc.Eventually(t, 30*time.Second, "the consumer to go after Linger", func() bool { return consumers() == 0 })

	mustUpdate(t, s, a.MessageID, step(Processing, 1)) // while idle
	all, after := subscribeAll(t, w, 4)
	defer all.Close()
	mustUpdate(t, s, a.MessageID, step(Completed, 1))
	if c := receive(t, all); c.Record.Status != Completed || c.Revision <= after {
		t.Fatalf("after the idle spell: %+v (subscribed after %d), want the completed write", c, after)
	}
}
