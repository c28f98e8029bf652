package statusstore

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

func TestKVStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store { return newKVStore(t) })
}

func TestPostgresStore(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store { return NewPostgres(newPool(t)) })
}

func newKVStore(t *testing.T) *KV {
	t.Helper()
	js, err := jetstream.New(testsvc.Connect(t, testsvc.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := wire.Ensure(context.Background(), js, testsvc.Topology(t))
	if err != nil {
		t.Fatal(err)
	}
	return NewKV(kv)
}

// newPool returns a pool on a fresh, migrated database.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testsvc.MigratedPool(t)
	return pool
}

// testStore is the one suite every Store must pass.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	cases := map[string]func(t *testing.T, s Store){
		"CreateGet":             testCreateGet,
		"CreateTwice":           testCreateTwice,
		"GetUnknown":            testGetUnknown,
		"UpdateForward":         testUpdateForward,
		"UpdateRefused":         testUpdateRefused,
		"UpdateCreatesMissing":  testUpdateCreatesMissing,
		"LateCreateAfterUpdate": testLateCreate,
		"ConcurrentTransitions": testConcurrentTransitions,
		"RedriveKeepsHistory":   testRedrive,
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			run(t, newStore(t))
		})
	}
}

// newRecord is a fresh accepted record, with times PostgreSQL keeps exactly.
func newRecord() Record {
	entity, source := "order", "test"
	return NewAccepted(&wire.Envelope{
		MessageID:  uuid.NewString(),
		EntityType: &entity,
		Source:     &source,
		Tenant:     "acme",
		ReceivedAt: t0,
	}, t0.Add(time.Millisecond))
}

func step(to State, attempt int) func(Record, bool) (Record, error) {
	return func(cur Record, found bool) (Record, error) {
		if !found {
			return cur, ErrNotFound
		}
		return Apply(cur, Change{To: to, Attempt: attempt, At: t0.Add(time.Duration(attempt) * time.Second), Error: "e"})
	}
}

func mustCreate(t *testing.T, s Store, r Record) {
	t.Helper()
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

func mustUpdate(t *testing.T, s Store, id string, fn func(Record, bool) (Record, error)) Record {
	t.Helper()
	r, err := s.Update(context.Background(), id, fn)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return r
}

// checkStored fails unless the store holds want.
func checkStored(t *testing.T, s Store, want Record) {
	t.Helper()
	got, err := s.Get(context.Background(), want.MessageID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("stored record\n got %s\nwant %s", g, w)
	}
}

func testCreateGet(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	checkStored(t, s, r)
}

func testCreateTwice(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	other := r
	other.Source = nil
	other.UpdatedAt = t0.Add(time.Hour)
	if err := s.Create(context.Background(), other); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: err = %v, want ErrExists", err)
	}
	checkStored(t, s, r)
}

func testGetUnknown(t *testing.T, s Store) {
	if _, err := s.Get(context.Background(), uuid.NewString()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an unknown message: err = %v, want ErrNotFound", err)
	}
}

func testUpdateForward(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	got := mustUpdate(t, s, r.MessageID, step(Processing, 1))
	if got.Status != Processing || got.Attempts != 1 || len(got.History) != 2 {
		t.Fatalf("Update returned %+v", got)
	}
	checkStored(t, s, got)
	done := mustUpdate(t, s, r.MessageID, func(cur Record, _ bool) (Record, error) {
		return Apply(cur, Change{To: Completed, Attempt: 1, At: t0.Add(time.Minute), Entities: map[string]int{"orders": 1}})
	})
	if done.CompletedAt == nil || done.Entities["orders"] != 1 {
		t.Fatalf("completed record = %+v", done)
	}
	checkStored(t, s, done)
}

func testUpdateRefused(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	want := mustUpdate(t, s, r.MessageID, step(Processing, 2))
	cur, err := s.Update(context.Background(), r.MessageID, step(Processing, 1))
	if !errors.Is(err, ErrTransition) {
		t.Fatalf("backwards Update: err = %v, want ErrTransition", err)
	}
	if cur.Attempts != 2 {
		t.Fatalf("refused Update returned %+v, want the current record", cur)
	}
	boom := errors.New("boom")
	if _, err := s.Update(context.Background(), r.MessageID, func(Record, bool) (Record, error) { return Record{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("Update whose function fails: err = %v, want its error", err)
	}
	checkStored(t, s, want)
}

func testUpdateCreatesMissing(t *testing.T, s Store) {
	r := newRecord()
	if _, err := s.Update(context.Background(), r.MessageID, step(Processing, 1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of a missing record: err = %v, want the function's ErrNotFound", err)
	}
	if _, err := s.Get(context.Background(), r.MessageID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused Update wrote a record: %v", err)
	}
	got := mustUpdate(t, s, r.MessageID, func(cur Record, found bool) (Record, error) {
		if found {
			t.Errorf("found = true for a missing record")
		}
		return Apply(r, Change{To: Processing, Attempt: 1, At: t0.Add(time.Second)})
	})
	checkStored(t, s, got)
}

// testLateCreate checks that the gateway's accepted record, written after a
// worker already moved the message on, is refused.
func testLateCreate(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	want := mustUpdate(t, s, r.MessageID, step(Processing, 1))
	if err := s.Create(context.Background(), r); !errors.Is(err, ErrExists) {
		t.Fatalf("late Create: err = %v, want ErrExists", err)
	}
	checkStored(t, s, want)
}

// testConcurrentTransitions races writers of every attempt through the
// lifecycle; the record must end with one history event per successful
// update, each after the one before it.
func testConcurrentTransitions(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	const writers = 8
	var ok atomic.Int64
	var wg sync.WaitGroup
	for w := 1; w <= writers; w++ {
		wg.Go(func() {
			for _, to := range []State{Processing, Retrying, Processing, Completed} {
				_, err := s.Update(context.Background(), r.MessageID, step(to, w))
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, ErrTransition):
					t.Errorf("writer %d, %s: %v", w, to, err)
				}
			}
		})
	}
	wg.Wait()
	got, err := s.Get(context.Background(), r.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	checkHistory(t, got, int(ok.Load()))
}

func checkHistory(t *testing.T, got Record, updates int) {
	t.Helper()
	if len(got.History) != updates+1 {
		t.Fatalf("history has %d events after %d successful updates", len(got.History), updates)
	}
	prev := Record{Status: got.History[0].Status}
	for _, e := range got.History[1:] {
		next := Record{Status: e.Status, Attempts: e.Attempt}
		if !After(next, prev) {
			t.Fatalf("history regressed from %s@%d to %s@%d: %+v", prev.Status, prev.Attempts, e.Status, e.Attempt, got.History)
		}
		prev = next
	}
	if got.Status != prev.Status || got.Attempts != prev.Attempts {
		t.Fatalf("record is %s@%d, its last event %s@%d", got.Status, got.Attempts, prev.Status, prev.Attempts)
	}
}

func testRedrive(t *testing.T, s Store) {
	r := newRecord()
	mustCreate(t, s, r)
	mustUpdate(t, s, r.MessageID, step(Processing, 1))
	mustUpdate(t, s, r.MessageID, step(Failed, 1))
	got := mustUpdate(t, s, r.MessageID, func(cur Record, _ bool) (Record, error) { return Redrive(cur, t0.Add(time.Hour)) })
	if got.Status != Accepted || got.Redrives != 1 || len(got.History) != 4 {
		t.Fatalf("redriven record = %+v", got)
	}
	checkStored(t, s, got)
}
