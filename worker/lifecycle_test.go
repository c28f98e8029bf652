package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/statusstore"
)

// TestConcurrentStop stops a running worker from many goroutines at once:
// every call returns once the worker has stopped, none panics on a channel
// closed twice, and the worker cannot be started again.
func TestConcurrentStop(t *testing.T) {
	t.Parallel()
	f := setup(t)
	id := f.publish(testBody{N: 1})
	w := f.start(f.config(), newTestHandler())
	if r := f.waitTerminal(id); r.Status != statusstore.Completed {
		t.Fatalf("record %+v, want completed", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const callers = 16
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- w.Stop(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent Stop returned %v", err)
		}
	}
	select {
	case <-w.Stopped():
	default:
		t.Fatal("Stopped not closed after every Stop returned")
	}
	if err := w.Start(context.Background()); err == nil || err.Error() != "worker: stopped" {
		t.Fatalf("Start after Stop = %v, want worker: stopped", err)
	}
}

// TestStopBeforeStart stops a worker that never started: Stop returns at
// once and a later Start is refused.
func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w, err := New(f.config(), f.nc, f.pool, newTestHandler())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatalf("Stop before Start = %v", err)
	}
	<-w.Stopped()
	if err := w.Start(context.Background()); err == nil || err.Error() != "worker: stopped" {
		t.Fatalf("Start after Stop = %v, want worker: stopped", err)
	}
}

// TestStartTwice refuses a second Start of a running worker.
func TestStartTwice(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.start(f.config(), newTestHandler())
	if err := w.Start(context.Background()); err == nil || err.Error() != "worker: already started" {
		t.Fatalf("second Start = %v, want worker: already started", err)
	}
}
