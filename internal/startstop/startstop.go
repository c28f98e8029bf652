// Package startstop is the one start/stop lifecycle of nomnom's long-running
// services (the worker, the gateway). A service embeds a Base and runs its
// own start and stop work through it; Base owns the rules: a service starts
// once, a failed start may be tried again, Stop may be called any number of
// times from any goroutine (before Start too) and runs the stop work once,
// and Stopped tells everyone when it is over. It must never know what a
// service does.
package startstop

import (
	"context"
	"errors"
	"sync"
)

// ErrStarted is returned by Start on a service that is already started.
var ErrStarted = errors.New("already started")

// ErrStopped is returned by Start on a service that Stop was called on.
var ErrStopped = errors.New("stopped")

// Base is the lifecycle state of one service. The zero value is ready to
// use; a Base must not be copied after first use.
type Base struct {
	initOnce sync.Once
	ctx      context.Context // ends when Stop begins
	cancel   context.CancelFunc
	stopped  chan struct{} // closed when the stop work has returned

	mu       sync.Mutex // held by a start in progress
	started  bool
	stopping bool  // a Stop has claimed the stop work
	err      error // the stop work's error, set before stopped closes
}

func (b *Base) init() {
	b.initOnce.Do(func() {
		b.ctx, b.cancel = context.WithCancel(context.Background())
		b.stopped = make(chan struct{})
	})
}

// Context returns a context that ends as soon as Stop is called: the
// service's background loops watch it to stop taking new work. It is valid
// before Start.
func (b *Base) Context() context.Context {
	b.init()
	return b.ctx
}

// Stopped is closed once Stop has finished the stop work (at once when the
// service never started).
func (b *Base) Stopped() <-chan struct{} {
	b.init()
	return b.stopped
}

// Started reports whether a start succeeded.
func (b *Base) Started() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.started
}

// Start runs start, the service's start work, unless the service is started
// (ErrStarted) or Stop was called (ErrStopped). start gets the context of
// Context. When start fails, the service stays unstarted and Start may be
// called again. Concurrent Starts run one at a time; a Stop called during a
// start ends Context at once and waits for the start to return.
func (b *Base) Start(start func(stopCtx context.Context) error) error {
	b.init()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.ctx.Err() != nil:
		return ErrStopped
	case b.started:
		return ErrStarted
	}
	if err := start(b.ctx); err != nil {
		return err
	}
	b.started = true
	return nil
}

// Stop ends Context, then runs stop, the service's stop work, once and only
// when the service started; the first caller runs it with its ctx. Every
// caller returns when the stop work has returned, with its error, or when
// its own ctx ends first, with ctx's error. Stop never closes anything
// twice, however many goroutines call it.
func (b *Base) Stop(ctx context.Context, stop func(ctx context.Context) error) error {
	b.init()
	b.cancel()
	b.mu.Lock()
	first, started := !b.stopping, b.started
	b.stopping = true
	b.mu.Unlock()
	if first {
		var err error
		if started {
			err = stop(ctx)
		}
		b.err = err
		close(b.stopped)
		return err
	}
	select {
	case <-b.stopped:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
