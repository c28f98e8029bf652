package statusstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// inTx runs fn in a transaction of its own and commits it.
func inTx(t *testing.T, pool *pgxpool.Pool, fn func(tx pgx.Tx)) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	fn(tx)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestClaimBatchMixed(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	s := NewPostgres(pool)
	old, fresh := newRecord(), newRecord()
	mustCreate(t, s, old)
	moved := mustUpdate(t, s, old.MessageID, step(Processing, 1))
	upper := fresh
	upper.MessageID = strings.ToUpper(fresh.MessageID)

	var got map[string]Record
	inTx(t, pool, func(tx pgx.Tx) {
		var err error
		got, err = ClaimBatch(context.Background(), tx, []Record{old, upper, fresh})
		if err != nil {
			t.Fatalf("ClaimBatch: %v", err)
		}
	})
	if _, ok := got[fresh.MessageID]; len(got) != 1 || got[old.MessageID].Status != Processing || ok {
		t.Fatalf("ClaimBatch = %+v; want the existing processing row alone", got)
	}
	checkStored(t, s, moved)
	if _, err := s.Get(context.Background(), fresh.MessageID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a claim wrote a row for the new message (Get: %v); only UpsertBatch writes", err)
	}
}

func TestClaimBatchEmpty(t *testing.T) {
	t.Parallel()
	got, err := ClaimBatch(context.Background(), newPool(t), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("ClaimBatch(nil) = %v, %v", got, err)
	}
}

// TestClaimBatchSerialises checks both kinds of claim of one message by two
// transactions: on a message with a row, the second claim waits for the
// first transaction and then sees its status; on a new message, both claim
// it, and the one that settles second fails with ErrClaimLost, so that its
// writes are rolled back rather than committed twice.
func TestClaimBatchSerialises(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	settle := func(tx pgx.Tx, r Record) error {
		claimed, err := ClaimBatch(ctx, tx, []Record{r})
		if err != nil {
			return err
		}
		_, had := claimed[r.MessageID]
		done, _ := Apply(r, Change{To: Processing, Attempt: 1, At: t0.Add(time.Minute)})
		done, _ = Apply(done, Change{To: Completed, Attempt: 1, At: t0.Add(time.Minute)})
		return SettleBatch(ctx, tx, []Record{done}, map[string]bool{r.MessageID: !had})
	}

	t.Run("new message", func(t *testing.T) {
		r := newRecord()
		first, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Rollback(ctx)
		second, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Rollback(ctx)
		for _, tx := range []pgx.Tx{first, second} {
			if claimed, err := ClaimBatch(ctx, tx, []Record{r}); err != nil || len(claimed) != 0 {
				t.Fatalf("claim of a new message: %v, %v", claimed, err)
			}
		}
		if err := settle(first, r); err != nil {
			t.Fatal(err)
		}
		if err := first.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		done, _ := Apply(r, Change{To: Processing, Attempt: 2, At: t0.Add(time.Hour)})
		done, _ = Apply(done, Change{To: Completed, Attempt: 2, At: t0.Add(time.Hour)})
		if err := SettleBatch(ctx, second, []Record{done}, map[string]bool{r.MessageID: true}); !errors.Is(err, ErrClaimLost) {
			t.Fatalf("second settle of a new message: %v, want ErrClaimLost", err)
		}
	})

	t.Run("message with a row", func(t *testing.T) {
		r := newRecord()
		if err := NewPostgres(pool).Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		first, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Rollback(ctx)
		if _, err := ClaimBatch(ctx, first, []Record{r}); err != nil {
			t.Fatal(err)
		}
		type claim struct {
			r   Record
			err error
		}
		second := make(chan claim, 1)
		go func() {
			claimed, err := claimAndCommit(ctx, pool, r)
			second <- claim{claimed[r.MessageID], err}
		}()
		waitForLockWaiter(t, pool)
		if err := settle(first, r); err != nil {
			t.Fatal(err)
		}
		if err := first.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if got := <-second; got.err != nil || got.r.Status != Completed {
			t.Fatalf("second claim saw %q (err %v), want the first's completed", got.r.Status, got.err)
		}
	})
}

func claimAndCommit(ctx context.Context, pool *pgxpool.Pool, r Record) (map[string]Record, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	claimed, err := ClaimBatch(ctx, tx, []Record{r})
	if err != nil {
		return nil, err
	}
	return claimed, tx.Commit(ctx)
}

// waitForLockWaiter returns once a session of the test database waits on a
// row lock.
func waitForLockWaiter(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	const q = `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`
	testsvc.Eventually(t, 30*time.Second, "the second claim to wait for the first", func() bool {
		var n int
		if err := pool.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
}

func TestUpsertBatchNeverRegresses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	s := NewPostgres(pool)

	completed := seed(t, s, step(Processing, 1), step(Completed, 1))
	processing := seed(t, s, step(Processing, 1))
	failed := seed(t, s, step(Processing, 3), step(Failed, 3))
	fresh, dup := newRecord(), newRecord()

	stale, _ := Apply(at(Accepted, 0), Change{To: Processing, Attempt: 1, At: t0})
	stale.MessageID = completed.MessageID
	forward, _ := Apply(processing, Change{To: Completed, Attempt: 1, At: t0.Add(time.Hour), Entities: map[string]int{"orders": 2}})
	redriven, _ := Redrive(failed, t0.Add(time.Hour))
	dupFurther, _ := Apply(dup, Change{To: Processing, Attempt: 1, At: t0.Add(time.Hour)})
	sameStep := processing // equal to the stored row: not After it, not written

	if err := UpsertBatch(ctx, pool, []Record{stale, dup, forward, redriven, fresh, dupFurther, sameStep}); err != nil {
		t.Fatalf("UpsertBatch: %v", err)
	}
	checkStored(t, s, completed)
	checkStored(t, s, forward)
	checkStored(t, s, redriven)
	checkStored(t, s, fresh)
	checkStored(t, s, dupFurther)
}

func TestUpsertBatchRejectsBadID(t *testing.T) {
	t.Parallel()
	r := newRecord()
	r.MessageID = "not-a-uuid"
	if err := UpsertBatch(context.Background(), newPool(t), []Record{r}); err == nil {
		t.Fatal("UpsertBatch accepted a message_id that is not a UUID")
	}
}

func TestPostgresStoreInTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	r := newRecord()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := NewPostgres(tx)
	mustCreate(t, s, r)
	mustUpdate(t, s, r.MessageID, step(Processing, 1))
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := NewPostgres(pool).Get(ctx, r.MessageID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after rollback: %v, want ErrNotFound", err)
	}
}

// seed stores a new record moved through steps and returns it.
func seed(t *testing.T, s Store, steps ...func(Record, bool) (Record, error)) Record {
	t.Helper()
	r := newRecord()
	mustCreate(t, s, r)
	for _, fn := range steps {
		r = mustUpdate(t, s, r.MessageID, fn)
	}
	return r
}
