package startstop

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wait is how long a test waits for an event that should come at once; the
// machine may be slow, so it is generous.
const wait = 30 * time.Second

func ok(context.Context) error { return nil }

func TestSequences(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	type step struct {
		op      string // "start", "fail", "stop"
		wantErr error
	}
	tests := []struct {
		name      string
		steps     []step
		wantStops int // times the stop work ran
	}{
		{"start then stop", []step{{"start", nil}, {"stop", nil}}, 1},
		{"start twice", []step{{"start", nil}, {"start", ErrStarted}, {"stop", nil}}, 1},
		{"stop twice", []step{{"start", nil}, {"stop", nil}, {"stop", nil}}, 1},
		{"stop before start", []step{{"stop", nil}, {"start", ErrStopped}}, 0},
		{"start after stop", []step{{"start", nil}, {"stop", nil}, {"start", ErrStopped}}, 1},
		{"failed start may be retried", []step{{"fail", boom}, {"start", nil}, {"stop", nil}}, 1},
		{"stop after a failed start", []step{{"fail", boom}, {"stop", nil}, {"start", ErrStopped}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b Base
			stops := 0
			for i, s := range tt.steps {
				var err error
				switch s.op {
				case "start":
					err = b.Start(ok)
				case "fail":
					err = b.Start(func(context.Context) error { return boom })
				case "stop":
					err = b.Stop(context.Background(), func(context.Context) error { stops++; return nil })
				}
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("step %d (%s) = %v, want %v", i, s.op, err, s.wantErr)
				}
			}
			if stops != tt.wantStops {
				t.Fatalf("stop work ran %d times, want %d", stops, tt.wantStops)
			}
			select {
			case <-b.Stopped():
			default:
				t.Fatal("Stopped not closed after Stop")
			}
		})
	}
}

func TestConcurrentStopRunsTheStopWorkOnce(t *testing.T) {
	t.Parallel()
	var b Base
	if err := b.Start(ok); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("stop failed")
	var runs atomic.Int32
	release := make(chan struct{})
	stop := func(context.Context) error {
		runs.Add(1)
		<-release
		return boom
	}
	const callers = 32
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.Stop(context.Background(), stop)
		}()
	}
	select {
	case <-b.Context().Done():
	case <-time.After(wait):
		t.Fatal("Context did not end when Stop was called")
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, boom) {
			t.Fatalf("a concurrent Stop returned %v, want the stop work's error", err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("stop work ran %d times, want 1", n)
	}
}

func TestStopWaitsForTheStopWorkOrItsContext(t *testing.T) {
	t.Parallel()
	var b Base
	if err := b.Start(ok); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- b.Stop(context.Background(), func(context.Context) error { <-release; return nil })
	}()
	<-b.Context().Done()
	// A second caller whose context ends gives up with its context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for deadline := time.Now().Add(wait); !b.stoppingClaimed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first Stop did not claim the stop work")
		}
	}
	if err := b.Stop(ctx, func(context.Context) error { t.Error("stop work ran twice"); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop with an ended context = %v, want context.Canceled", err)
	}
	select {
	case <-b.Stopped():
		t.Fatal("Stopped closed before the stop work returned")
	default:
	}
	close(release)
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("first Stop = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("first Stop did not return")
	}
	<-b.Stopped()
}

// stoppingClaimed reports whether a Stop has claimed the stop work.
func (b *Base) stoppingClaimed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopping
}

func TestStopDuringStartWaitsForIt(t *testing.T) {
	t.Parallel()
	var b Base
	inStart := make(chan struct{})
	startErr := make(chan error, 1)
	go func() {
		startErr <- b.Start(func(stopCtx context.Context) error {
			close(inStart)
			<-stopCtx.Done() // a start that ends when Stop is called
			return nil
		})
	}()
	<-inStart
	ran := false
	if err := b.Stop(context.Background(), func(context.Context) error { ran = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := <-startErr; err != nil {
		t.Fatalf("Start = %v", err)
	}
	if !ran {
		t.Fatal("Stop during a successful start did not run the stop work")
	}
}

func TestStartGetsTheStopContext(t *testing.T) {
	t.Parallel()
	var b Base
	var got context.Context
	if err := b.Start(func(ctx context.Context) error { got = ctx; return nil }); err != nil {
		t.Fatal(err)
	}
	if got != b.Context() || got.Err() != nil {
		t.Fatal("start did not get the live stop context")
	}
	if !b.Started() {
		t.Fatal("Started = false after Start")
	}
	if err := b.Stop(context.Background(), ok); err != nil {
		t.Fatal(err)
	}
	if got.Err() == nil {
		t.Fatal("stop context still live after Stop")
	}
}
