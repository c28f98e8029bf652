package gateway

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestConcurrentStop stops a serving gateway from many goroutines at once:
// every call returns nil once it has stopped, and it cannot be started
// again.
func TestConcurrentStop(t *testing.T) {
	t.Parallel()
	h := setup(t)
	<-h.srv.Ready()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const callers = 16
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { errs <- h.srv.Stop(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a concurrent Stop returned %v", err)
		}
	}
	if err := h.srv.Start(context.Background()); err == nil || err.Error() != "gateway: stopped" {
		t.Fatalf("Start after Stop = %v, want gateway: stopped", err)
	}
}

// TestStartTwice refuses a second Start of a serving gateway.
func TestStartTwice(t *testing.T) {
	t.Parallel()
	h := setup(t)
	if err := h.srv.Start(context.Background()); err == nil || err.Error() != "gateway: already started" {
		t.Fatalf("second Start = %v, want gateway: already started", err)
	}
}
