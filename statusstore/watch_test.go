package statusstore

import (
	"context"
	"testing"
	"time"
)

// startWatcher runs a watcher of s's bucket until the test ends.
func startWatcher(t *testing.T, s *KV) *Watcher {
	t.Helper()
	w := NewWatcher(s.kv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-w.Live():
	case <-time.After(30 * time.Second):
		t.Fatal("watcher never became live")
	}
	return w
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
	subA := w.SubscribeKey(a.MessageID, 4)
	defer subA.Close()
	all, from := w.SubscribeAll(4)
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
	slow, _ := w.SubscribeAll(1)
	fast, _ := w.SubscribeAll(16)
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
	sub := w.SubscribeKey(a.MessageID, 1)
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
