package testsvc

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB that records a Fatalf instead of ending the
// test, so Eventually's failure can be checked.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed string
	logged []string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	panic(errFatal)
}

func (r *recorder) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range args {
		r.logged = append(r.logged, a.(string))
	}
}

var errFatal = errors.New("fatal")

// eventuallyOn runs Eventually on r and reports whether it failed.
func eventuallyOn[C func() bool | func() error](r *recorder, timeout time.Duration, check C) (failed bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != errFatal {
				panic(p)
			}
			failed = true
		}
	}()
	Eventually(r, timeout, "the thing", check)
	return false
}

func TestEventually(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name       string
		run        func(r *recorder) bool
		wantFailed bool
		wantInMsg  string
	}{
		{"bool holds at once", func(r *recorder) bool {
			return eventuallyOn(r, time.Minute, func() bool { return true })
		}, false, ""},
		{"bool holds on the third call", func(r *recorder) bool {
			n := 0
			return eventuallyOn(r, time.Minute, func() bool { n++; return n == 3 })
		}, false, ""},
		{"error clears on the third call", func(r *recorder) bool {
			n := 0
			return eventuallyOn(r, time.Minute, func() error {
				if n++; n < 3 {
					return boom
				}
				return nil
			})
		}, false, ""},
		{"bool never holds", func(r *recorder) bool {
			return eventuallyOn(r, 50*time.Millisecond, func() bool { return false })
		}, true, "the thing: the condition never held"},
		{"error never clears", func(r *recorder) bool {
			return eventuallyOn(r, 50*time.Millisecond, func() error { return boom })
		}, true, "the thing: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &recorder{TB: t}
			if failed := tt.run(r); failed != tt.wantFailed {
				t.Fatalf("failed = %v, want %v (%s)", failed, tt.wantFailed, r.failed)
			}
			if !strings.Contains(r.failed, tt.wantInMsg) {
				t.Fatalf("failure %q does not contain %q", r.failed, tt.wantInMsg)
			}
		})
	}
}

func TestLoggerWritesToTheTestLog(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	Logger(r).Debug("fetch failed", "failures", 3)
	if len(r.logged) != 1 || !strings.Contains(r.logged[0], `msg="fetch failed" failures=3`) || strings.HasSuffix(r.logged[0], "\n") {
		t.Fatalf("logged %q, want one debug line without its newline", r.logged)
	}
}
