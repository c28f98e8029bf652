// Package backoff is nomnom's one way to wait between attempts: a sleep that
// ends when its context does, and an exponential back-off with a cap and
// optional jitter. Every retry loop of the platform (fetches, PostgreSQL
// pings, KV writes, compare-and-swap rounds, stream creation) waits through
// it, so none can outlive a shutdown or busy-loop on a failing dependency.
// It must never decide what is worth retrying: callers do.
package backoff

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Sleep waits d or until ctx ends, whichever comes first. It returns nil
// after a full wait and ctx's error otherwise, so a loop can stop on it.
// A d of zero or less does not wait; it still reports an ended ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Policy describes an exponential back-off: the wait before retry n (from
// 0) is Initial doubled n times, never more than Max. Jitter spreads the
// waits of processes that failed together, so they do not retry together.
type Policy struct {
	// Initial is the first wait; it must be positive.
	Initial time.Duration
	// Max caps every wait; zero or less means Initial doubled without cap.
	Max time.Duration
	// Jitter is the fraction of each wait drawn at random, from 0 (every
	// wait exact) to 1 (between nothing and the full wait). At 0.5 a wait
	// d is drawn from [d/2, d).
	Jitter float64
	// Tries bounds the calls Retry makes; zero or less means no bound.
	Tries int
}

// Delay returns the wait before retry n, counted from 0.
func (p Policy) Delay(n int) time.Duration {
	d := p.Initial
	for range max(n, 0) {
		if p.Max > 0 && d >= p.Max || d > time.Duration(1<<61) {
			break
		}
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	j := min(max(p.Jitter, 0), 1)
	if j == 0 || d <= 0 {
		return d
	}
	spread := time.Duration(float64(d) * j)
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(spread)
}

// Backoff counts the retries of one loop and hands out their waits. The
// zero value of Policy is not useful; a Backoff is not safe for concurrent
// use.
type Backoff struct {
	Policy
	n int
}

// New returns a Backoff at its first wait.
func New(p Policy) *Backoff { return &Backoff{Policy: p} }

// Next returns the wait before the next retry and counts it.
func (b *Backoff) Next() time.Duration {
	d := b.Delay(b.n)
	b.n++
	return d
}

// Retries is how many waits Next has handed out since the last Reset.
func (b *Backoff) Retries() int { return b.n }

// Reset starts the waits over from Initial, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Wait sleeps the next wait (see Next and Sleep).
func (b *Backoff) Wait(ctx context.Context) error { return Sleep(ctx, b.Next()) }

// Retry calls fn until it returns nil, it has been called p.Tries times,
// or ctx ends, waiting p's back-off between calls. It returns nil on
// success, fn's last error when the tries run out, and that error joined
// with ctx's when ctx ends during a wait.
func Retry(ctx context.Context, p Policy, fn func(ctx context.Context) error) error {
	b := New(p)
	for try := 1; ; try++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if p.Tries > 0 && try >= p.Tries {
			return err
		}
		if werr := b.Wait(ctx); werr != nil {
			return errors.Join(err, werr)
		}
	}
}
