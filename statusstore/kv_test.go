package statusstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestKVWaitTerminal(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	r := newRecord()
	mustCreate(t, s, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		r   Record
		err error
	}
	got := make(chan result, 1)
	go func() {
		r, err := s.WaitTerminal(ctx, r.MessageID)
		got <- result{r, err}
	}()
	mustUpdate(t, s, r.MessageID, step(Processing, 1))
	mustUpdate(t, s, r.MessageID, step(Retrying, 1))
	mustUpdate(t, s, r.MessageID, step(Processing, 2))
	done := mustUpdate(t, s, r.MessageID, step(Completed, 2))
	res := <-got
	if res.err != nil || res.r.Status != Completed || len(res.r.History) != len(done.History) {
		t.Fatalf("WaitTerminal = %+v, %v; want the completed record", res.r, res.err)
	}
}

func TestKVWaitTerminalAlreadyTerminal(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	r := newRecord()
	mustCreate(t, s, r)
	mustUpdate(t, s, r.MessageID, step(Failed, 1))
	got, err := s.WaitTerminal(context.Background(), r.MessageID)
	if err != nil || got.Status != Failed {
		t.Fatalf("WaitTerminal = %+v, %v; want the failed record", got, err)
	}
}

func TestKVWaitTerminalContextEnds(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	r := newRecord()
	mustCreate(t, s, r)
	want := mustUpdate(t, s, r.MessageID, step(Processing, 1))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	got, err := s.WaitTerminal(ctx, r.MessageID)
	if !errors.Is(err, context.DeadlineExceeded) || got.Status != Processing || got.Attempts != want.Attempts {
		t.Fatalf("WaitTerminal = %+v, %v; want the processing record and the deadline", got, err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = s.WaitTerminal(ctx, uuid.NewString())
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTerminal of an unknown message: %v; want ErrNotFound and the deadline", err)
	}
}

func TestKVDelete(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	ctx := context.Background()
	r := newRecord()
	mustCreate(t, s, r)
	if err := s.Delete(ctx, r.MessageID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(ctx, r.MessageID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, r.MessageID); err != nil {
		t.Fatalf("Delete of a deleted record: %v", err)
	}
	// A client retrying the same message_id can be accepted again.
	mustCreate(t, s, r)
	checkStored(t, s, r)
}

func TestKVDeleteKeepsMovedOnRecord(t *testing.T) {
	t.Parallel()
	s := newKVStore(t)
	r := newRecord()
	mustCreate(t, s, r)
	want := mustUpdate(t, s, r.MessageID, step(Processing, 1))
	if err := s.Delete(context.Background(), r.MessageID); !errors.Is(err, ErrTransition) {
		t.Fatalf("Delete of a processing record: %v, want ErrTransition", err)
	}
	checkStored(t, s, want)
}
