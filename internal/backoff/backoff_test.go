package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name   string
		policy Policy
		n      int
		want   time.Duration
	}{
		{"first", Policy{Initial: 100 * ms, Max: time.Second}, 0, 100 * ms},
		{"doubles", Policy{Initial: 100 * ms, Max: time.Second}, 3, 800 * ms},
		{"capped", Policy{Initial: 100 * ms, Max: time.Second}, 4, time.Second},
		{"stays capped", Policy{Initial: 100 * ms, Max: time.Second}, 1000, time.Second},
		{"cap below initial", Policy{Initial: time.Second, Max: 100 * ms}, 0, 100 * ms},
		{"no cap", Policy{Initial: ms}, 10, 1024 * ms},
		{"no overflow without cap", Policy{Initial: ms}, 200, Policy{Initial: ms}.Delay(80)},
		{"negative n is the first", Policy{Initial: 5 * ms, Max: time.Second}, -3, 5 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.policy.Delay(tt.n); got != tt.want {
				t.Fatalf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestDelayJitterStaysInRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		jitter   float64
		min, max time.Duration // [min, max)
	}{
		{0.5, 400 * time.Millisecond, 800 * time.Millisecond},
		{1, 0, 800 * time.Millisecond},
		{2, 0, 800 * time.Millisecond}, // clamped to 1
		{-1, 800 * time.Millisecond, 800*time.Millisecond + 1},
	}
	for _, tt := range tests {
		p := Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: tt.jitter}
		seen := map[time.Duration]bool{}
		for range 500 {
			d := p.Delay(3)
			if d < tt.min || d >= tt.max {
				t.Fatalf("jitter %v: Delay(3) = %v, want in [%v, %v)", tt.jitter, d, tt.min, tt.max)
			}
			seen[d] = true
		}
		if tt.jitter > 0 && len(seen) < 10 {
			t.Fatalf("jitter %v: only %d distinct waits in 500 draws", tt.jitter, len(seen))
		}
	}
}

func TestBackoffNextAndReset(t *testing.T) {
	t.Parallel()
	b := New(Policy{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond})
	var got []time.Duration
	for range 4 {
		got = append(got, b.Next())
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	if b.Retries() != 4 {
		t.Fatalf("Retries = %d, want 4", b.Retries())
	}
	b.Reset()
	if b.Retries() != 0 || b.Next() != 10*time.Millisecond {
		t.Fatal("Reset did not start the waits over")
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"full wait", context.Background(), time.Millisecond, nil},
		{"zero", context.Background(), 0, nil},
		{"negative", context.Background(), -time.Second, nil},
		{"cancelled before", cancelled, time.Hour, context.Canceled},
		{"cancelled zero", cancelled, 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Sleep(tt.ctx, tt.d); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Sleep = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSleepEndsWhenCancelledDuringTheWait(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, time.Hour) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Sleep of an hour did not end when its context was cancelled")
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	p := Policy{Initial: time.Microsecond, Max: time.Millisecond}
	tests := []struct {
		name      string
		tries     int
		failFirst int // calls that fail before one succeeds
		wantCalls int
		wantErr   error
	}{
		{"success at once", 0, 0, 1, nil},
		{"success after failures", 0, 3, 4, nil},
		{"tries run out", 3, 10, 3, boom},
		{"success on the last try", 3, 2, 3, nil},
		{"one try", 1, 10, 1, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := p
			p.Tries = tt.tries
			calls := 0
			err := Retry(context.Background(), p, func(context.Context) error {
				calls++
				if calls <= tt.failFirst {
					return boom
				}
				return nil
			})
			if calls != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Retry = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	boom := errors.New("boom")
	calls := 0
	err := Retry(ctx, Policy{Initial: time.Hour}, func(context.Context) error {
		calls++
		cancel()
		return boom
	})
	if calls != 1 {
		t.Fatalf("calls = %d, want 1", calls)
	}
	if !errors.Is(err, boom) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Retry = %v, want boom joined with context.Canceled", err)
	}
}
