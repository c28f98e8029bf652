package testsvc

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/internal/backoff"
)

// poll spaces Eventually's checks: at once, then soon, then no more than
// four times a second, so a long wait does not load the machine.
var poll = backoff.Policy{Initial: 10 * time.Millisecond, Max: 250 * time.Millisecond}

// Eventually calls check, more and more seldom, until it reports success
// (true, or a nil error) and fails the test when timeout passes first,
// naming what it waited for and, for an error check, the last error. It
// replaces the sleep loops of tests: the machine may be slow, so timeouts
// should be generous (30 s for an event that comes at once on a quiet
// machine), and a test never asserts how long the wait took.
func Eventually[C func() bool | func() error](t testing.TB, timeout time.Duration, what string, check C) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := backoff.New(poll)
	for {
		err := run(check)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(wait.Next())
	}
}

// errNotYet is the last error of a bool check that never returned true.
type errNotYet struct{}

func (errNotYet) Error() string { return "the condition never held" }

func run[C func() bool | func() error](check C) error {
	switch c := any(check).(type) {
	case func() bool:
		if c() {
			return nil
		}
		return errNotYet{}
	case func() error:
		return c()
	}
	panic("unreachable")
}

// Logger returns a logger that writes every record, debug included, to the
// test's log, so a failing test shows what the code under test said.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
