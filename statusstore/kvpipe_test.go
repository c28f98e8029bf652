package statusstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// newPipelinedKV returns a pipelined store on a fresh bucket, and the bucket.
func newPipelinedKV(tb testing.TB) (*KV, jetstream.KeyValue) {
	tb.Helper()
	js, err := jetstream.New(testsvc.Connect(tb, testsvc.NATS(tb)), jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := wire.Ensure(context.Background(), js, testsvc.Topology(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return NewKVPipelined(js, kv), kv
}

func TestKVCreateMany(t *testing.T) {
	t.Parallel()
	s, kv := newPipelinedKV(t)
	ctx := context.Background()

	existing := newRecord()
	mustCreate(t, s, existing)
	moved := mustUpdate(t, s, existing.MessageID, step(Processing, 1))
	deleted := newRecord()
	mustCreate(t, s, deleted)
	if err := s.Delete(ctx, deleted.MessageID); err != nil {
		t.Fatal(err)
	}
	fresh, twice := newRecord(), newRecord()
	twiceAgain := twice
	twiceAgain.Tenant = "other"
	bad := newRecord()
	bad.MessageID = "not a key"

	recs := []Record{fresh, existing, deleted, twice, twiceAgain, bad}
	errs := s.CreateMany(ctx, recs)
	if len(errs) != len(recs) {
		t.Fatalf("CreateMany returned %d errors for %d records", len(errs), len(recs))
	}
	for i, want := range []error{nil, ErrExists, nil, nil, ErrExists, jetstream.ErrInvalidKey} {
		switch {
		case want == nil && errs[i] != nil:
			t.Errorf("record %d: %v, want created", i, errs[i])
		case want != nil && !errors.Is(errs[i], want):
			t.Errorf("record %d: %v, want %v", i, errs[i], want)
		}
	}
	checkStored(t, s, fresh)
	checkStored(t, s, deleted)
	checkStored(t, s, twice) // the first of the two, not overwritten
	checkStored(t, s, moved) // an existing record is left as it was
	if _, err := kv.Get(ctx, "x"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("stray key: %v", err)
	}
}

func TestKVCreateManyWithoutJetStream(t *testing.T) {
	t.Parallel()
	s := newKVStore(t) // NewKV: the sequential path
	a := newRecord()
	mustCreate(t, s, a)
	b := newRecord()
	errs := s.CreateMany(context.Background(), []Record{a, b})
	if !errors.Is(errs[0], ErrExists) || errs[1] != nil {
		t.Fatalf("CreateMany = %v; want [ErrExists, nil]", errs)
	}
	checkStored(t, s, b)
}

func TestKVUpdateMany(t *testing.T) {
	t.Parallel()
	s, _ := newPipelinedKV(t)
	ctx := context.Background()

	a, b, failed, missing := newRecord(), newRecord(), newRecord(), newRecord()
	for _, r := range []Record{a, b, failed} {
		mustCreate(t, s, r)
	}
	failedRec := mustUpdate(t, s, failed.MessageID, step(Failed, 1))
	createMissing := func(cur Record, found bool) (Record, error) {
		if !found {
			cur = missing
		}
		return Apply(cur, Change{To: Processing, Attempt: 1, At: t0.Add(time.Second)})
	}

	got := s.UpdateMany(ctx, []Write{
		{MessageID: a.MessageID, Fn: step(Processing, 1)},
		{MessageID: b.MessageID, Fn: step(Processing, 1)},
		{MessageID: failed.MessageID, Fn: step(Processing, 2)}, // refused: failed is terminal
		{MessageID: missing.MessageID, Fn: createMissing},
		{MessageID: a.MessageID, Fn: step(Retrying, 1)}, // the same key again, after the first
	})
	for i, w := range got {
		if i == 2 {
			continue
		}
		if w.Err != nil || w.Revision == 0 {
			t.Fatalf("write %d: %+v; want written with a revision", i, w)
		}
	}
	if !errors.Is(got[2].Err, ErrTransition) || got[2].Record.Status != Failed {
		t.Fatalf("refused write: %+v; want ErrTransition and the failed record", got[2])
	}
	checkStored(t, s, got[4].Record) // a: processing, then retrying
	checkStored(t, s, got[1].Record)
	checkStored(t, s, got[3].Record)
	checkStored(t, s, failedRec)
	if got[4].Record.Status != Retrying || got[4].Revision <= got[0].Revision {
		t.Fatalf("second write of a: %+v after revision %d", got[4], got[0].Revision)
	}

	// The final steps from the known revisions: no read needed. b's known
	// revision is stale: another writer moved it on meanwhile.
	mustUpdate(t, s, b.MessageID, step(Retrying, 1))
	final := s.UpdateMany(ctx, []Write{
		{MessageID: a.MessageID, Fn: step(Processing, 2), Known: got[4].Record, Revision: got[4].Revision},
		{MessageID: b.MessageID, Fn: step(Failed, 1), Known: got[1].Record, Revision: got[1].Revision},
	})
	for i, w := range final {
		if w.Err != nil {
			t.Fatalf("final write %d: %v", i, w.Err)
		}
		checkStored(t, s, w.Record)
	}
	if h := final[1].Record.History; len(h) != 4 || h[2].Status != Retrying || h[3].Status != Failed {
		t.Fatalf("b's history %+v; want the other writer's retrying kept before failed", h)
	}
}

// TestKVUpdateManyConcurrent races pipelined writers on the same keys: every
// increment must land once, whoever loses a compare-and-swap.
func TestKVUpdateManyConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := newPipelinedKV(t)
	ctx := context.Background()
	recs := make([]Record, 5)
	for i := range recs {
		recs[i] = newRecord()
		mustCreate(t, s, recs[i])
	}
	incr := func(cur Record, found bool) (Record, error) {
		if !found {
			return cur, ErrNotFound
		}
		cur.Attempts++
		return cur, nil
	}
	const writers, rounds = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*len(recs))
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				ws := make([]Write, len(recs))
				for i, r := range recs {
					ws[i] = Write{MessageID: r.MessageID, Fn: incr}
				}
				for _, w := range s.UpdateMany(ctx, ws) {
					if w.Err != nil {
						errs <- w.Err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range recs {
		got, err := s.Get(ctx, r.MessageID)
		if err != nil || got.Attempts != writers*rounds {
			t.Fatalf("%s: attempts %d, %v; want %d", r.MessageID, got.Attempts, err, writers*rounds)
		}
	}
}

// BenchmarkKVWrites compares a batch's two status steps (processing, then
// completed) written one key at a time through Update with the same steps
// through UpdateMany, the second reusing the first's revisions. It reports
// both and their ratio.
func BenchmarkKVWrites(b *testing.B) {
	s, _ := newPipelinedKV(b)
	ctx := context.Background()
	const batch = 100
	newBatch := func() []Record {
		recs := make([]Record, batch)
		for i := range recs {
			recs[i] = newRecord()
		}
		for i, err := range s.CreateMany(ctx, recs) {
			if err != nil {
				b.Fatalf("create %d: %v", i, err)
			}
		}
		return recs
	}
	complete := func(cur Record, found bool) (Record, error) {
		return Apply(cur, Change{To: Completed, Attempt: 1, At: t0.Add(2 * time.Second)})
	}
	var seq, pipe time.Duration
	for b.Loop() {
		recs := newBatch()
		start := time.Now()
		for _, r := range recs {
			for _, fn := range []func(Record, bool) (Record, error){step(Processing, 1), complete} {
				if _, err := s.Update(ctx, r.MessageID, fn); err != nil {
					b.Fatal(err)
				}
			}
		}
		seq += time.Since(start)

		recs = newBatch()
		start = time.Now()
		ws := make([]Write, batch)
		for i, r := range recs {
			ws[i] = Write{MessageID: r.MessageID, Fn: step(Processing, 1)}
		}
		for i, w := range s.UpdateMany(ctx, ws) {
			if w.Err != nil {
				b.Fatal(w.Err)
			}
			ws[i] = Write{MessageID: recs[i].MessageID, Fn: complete, Known: w.Record, Revision: w.Revision}
		}
		for _, w := range s.UpdateMany(ctx, ws) {
			if w.Err != nil {
				b.Fatal(w.Err)
			}
		}
		pipe += time.Since(start)
	}
	n := float64(b.N * batch)
	b.ReportMetric(n/seq.Seconds(), "update-msgs/s")
	b.ReportMetric(n/pipe.Seconds(), "pipelined-msgs/s")
	b.ReportMetric(seq.Seconds()/pipe.Seconds(), "speedup")
	b.ReportMetric(0, "ns/op")
}
