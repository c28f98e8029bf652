package statusstore

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns a record in state s at attempt n, with a history of one event
// per step it took to get there.
func at(s State, n int) Record {
	r := Record{MessageID: "m", Status: Accepted, ReceivedAt: t0, UpdatedAt: t0, History: []Event{{Status: Accepted, At: t0}}}
	if s == Accepted {
		return r
	}
	r.Status, r.Attempts = s, n
	r.History = append(r.History, Event{Status: s, At: t0, Attempt: n})
	return r
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		from   Record
		change Change
		ok     bool
	}{
		{"accepted to processing", at(Accepted, 0), Change{To: Processing, Attempt: 1}, true},
		{"accepted to completed", at(Accepted, 0), Change{To: Completed, Attempt: 1}, true},
		{"accepted to failed", at(Accepted, 0), Change{To: Failed, Attempt: 1, Error: "bad"}, true},
		{"accepted to retrying", at(Accepted, 0), Change{To: Retrying, Attempt: 1}, false},
		{"accepted to accepted", at(Accepted, 0), Change{To: Accepted}, false},
		{"processing to retrying", at(Processing, 1), Change{To: Retrying, Attempt: 1, Error: "timeout"}, true},
		{"processing to completed", at(Processing, 1), Change{To: Completed, Attempt: 1}, true},
		{"processing to failed", at(Processing, 1), Change{To: Failed, Attempt: 1}, true},
		{"processing redelivered", at(Processing, 1), Change{To: Processing, Attempt: 2}, true},
		{"processing stale redelivery", at(Processing, 2), Change{To: Processing, Attempt: 2}, false},
		{"processing older attempt", at(Processing, 2), Change{To: Processing, Attempt: 1}, false},
		{"processing to accepted", at(Processing, 1), Change{To: Accepted, Attempt: 1}, false},
		{"completed by an older attempt", at(Processing, 2), Change{To: Completed, Attempt: 1}, false},
		{"retrying to processing", at(Retrying, 1), Change{To: Processing, Attempt: 2}, true},
		{"retrying to processing same attempt", at(Retrying, 1), Change{To: Processing, Attempt: 1}, false},
		{"retrying to failed", at(Retrying, 3), Change{To: Failed, Attempt: 3}, true},
		{"retrying to retrying", at(Retrying, 1), Change{To: Retrying, Attempt: 2}, false},
		{"retrying to completed", at(Retrying, 1), Change{To: Completed, Attempt: 1}, false},
		{"completed is final", at(Completed, 1), Change{To: Processing, Attempt: 2}, false},
		{"completed twice", at(Completed, 1), Change{To: Completed, Attempt: 2}, false},
		{"completed to failed", at(Completed, 1), Change{To: Failed, Attempt: 2}, false},
		{"failed is final", at(Failed, 1), Change{To: Processing, Attempt: 2}, false},
		{"failed to accepted", at(Failed, 1), Change{To: Accepted, Attempt: 1}, false},
		{"unknown state", at(Accepted, 0), Change{To: "done", Attempt: 1}, false},
		{"record without state", Record{}, Change{To: Processing, Attempt: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := clone(tt.from)
			tt.change.At = t0.Add(time.Minute)
			got, err := Apply(tt.from, tt.change)
			if !equal(tt.from, before) {
				t.Fatalf("Apply modified its input: %+v", tt.from)
			}
			if !tt.ok {
				if !errors.Is(err, ErrTransition) {
					t.Fatalf("err = %v, want ErrTransition", err)
				}
				if !equal(got, tt.from) {
					t.Fatalf("refused Apply returned %+v, want the record unchanged", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			checkAdvanced(t, tt.from, got, tt.change)
		})
	}
}

func checkAdvanced(t *testing.T, from, got Record, c Change) {
	t.Helper()
	if got.Status != c.To || got.Attempts != c.Attempt || got.Error != c.Error || !got.UpdatedAt.Equal(c.At) {
		t.Fatalf("got %s attempt %d error %q at %s, want %s attempt %d error %q at %s",
			got.Status, got.Attempts, got.Error, got.UpdatedAt, c.To, c.Attempt, c.Error, c.At)
	}
	want := Event{Status: c.To, At: c.At, Attempt: c.Attempt, Error: c.Error}
	if len(got.History) != len(from.History)+1 || got.History[len(got.History)-1] != want {
		t.Fatalf("history = %+v, want %+v appended to %+v", got.History, want, from.History)
	}
	if !After(got, from) {
		t.Fatalf("After(%s@%d, %s@%d) = false", got.Status, got.Attempts, from.Status, from.Attempts)
	}
	if (got.CompletedAt != nil) != (c.To == Completed) {
		t.Fatalf("completed_at = %v for %s", got.CompletedAt, c.To)
	}
}

func TestApplyCompleted(t *testing.T) {
	t.Parallel()
	entities := map[string]int{"orders": 1, "line_items": 3}
	when := time.Date(2025, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	got, err := Apply(at(Processing, 1), Change{To: Completed, At: when, Attempt: 1, Entities: entities})
	if err != nil {
		t.Fatal(err)
	}
	if got.CompletedAt == nil || !got.CompletedAt.Equal(when) || got.CompletedAt.Location() != time.UTC {
		t.Fatalf("completed_at = %v, want %v in UTC", got.CompletedAt, when)
	}
	if got.UpdatedAt.Location() != time.UTC {
		t.Fatalf("updated_at %v not in UTC", got.UpdatedAt)
	}
	entities["orders"] = 99
	if got.Entities["orders"] != 1 || got.Entities["line_items"] != 3 || len(got.Entities) != 2 {
		t.Fatalf("entities = %v, want a copy of the change's", got.Entities)
	}
}

// TestApplyHistoryNotShared checks that two changes applied to one record do
// not write into each other's history through a shared backing array.
func TestApplyHistoryNotShared(t *testing.T) {
	t.Parallel()
	base := at(Processing, 1)
	base.History = append(make([]Event, 0, 8), base.History...)
	a, err := Apply(base, Change{To: Completed, At: t0, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Apply(base, Change{To: Failed, At: t0, Attempt: 1, Error: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if a.History[2].Status != Completed || b.History[2].Status != Failed || len(base.History) != 2 {
		t.Fatalf("histories share storage: a=%v b=%v base=%v", a.History, b.History, base.History)
	}
}

func TestApplySequence(t *testing.T) {
	t.Parallel()
	r := at(Accepted, 0)
	steps := []Change{
		{To: Processing, Attempt: 1},
		{To: Retrying, Attempt: 1, Error: "db down"},
		{To: Processing, Attempt: 2},
		{To: Retrying, Attempt: 2, Error: "db down"},
		{To: Processing, Attempt: 3},
		{To: Failed, Attempt: 3, Error: "attempts exhausted"},
	}
	for i, c := range steps {
		c.At = t0.Add(time.Duration(i+1) * time.Second)
		next, err := Apply(r, c)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, c.To, err)
		}
		if !After(next, r) {
			t.Fatalf("step %d: After(next, prev) = false", i)
		}
		r = next
	}
	if len(r.History) != len(steps)+1 || r.Attempts != 3 || r.Error != "attempts exhausted" || r.CompletedAt != nil {
		t.Fatalf("final record = %+v", r)
	}
}

func TestRedrive(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			from := at(s, 3)
			from.Error = "boom"
			got, err := Redrive(from, t0.Add(time.Hour))
			if s != Failed {
				if !errors.Is(err, ErrTransition) || !equal(got, from) {
					t.Fatalf("Redrive of %s = %+v, %v; want refused and unchanged", s, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != Accepted || got.Redrives != 1 || got.Attempts != 3 || got.Error != "" || got.CompletedAt != nil {
				t.Fatalf("redriven record = %+v", got)
			}
			if len(got.History) != len(from.History)+1 || got.History[len(got.History)-1].Status != Accepted {
				t.Fatalf("history = %+v, want the failed history plus accepted", got.History)
			}
			if !After(got, from) {
				t.Fatal("a redriven record must order after the failed one")
			}
			if _, err := Apply(got, Change{To: Processing, Attempt: 4, At: t0}); err != nil {
				t.Fatalf("processing after redrive: %v", err)
			}
		})
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()
	redriven := at(Accepted, 0)
	redriven.Redrives = 1
	tests := []struct {
		name string
		a, b Record
		want bool
	}{
		{"processing after accepted", at(Processing, 1), at(Accepted, 0), true},
		{"accepted not after processing", at(Accepted, 0), at(Processing, 1), false},
		{"retrying after processing same attempt", at(Retrying, 1), at(Processing, 1), true},
		{"next attempt after retrying", at(Processing, 2), at(Retrying, 1), true},
		{"completed after processing", at(Completed, 1), at(Processing, 1), true},
		{"processing of a later attempt after completed", at(Processing, 2), at(Completed, 1), true},
		{"equal records", at(Processing, 1), at(Processing, 1), false},
		{"completed and failed are peers", at(Completed, 1), at(Failed, 1), false},
		{"failed and completed are peers", at(Failed, 1), at(Completed, 1), false},
		{"redrive beats attempts", redriven, at(Failed, 5), true},
		{"failed not after its redrive", at(Failed, 5), redriven, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := After(tt.a, tt.b); got != tt.want {
				t.Fatalf("After = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStateTerminal(t *testing.T) {
	t.Parallel()
	want := map[State]bool{Accepted: false, Processing: false, Retrying: false, Completed: true, Failed: true}
	for _, s := range States {
		if s.Terminal() != want[s] {
			t.Errorf("%s.Terminal() = %v, want %v", s, s.Terminal(), want[s])
		}
		if !s.Valid() {
			t.Errorf("%s.Valid() = false", s)
		}
	}
	if State("done").Valid() || State("").Valid() || State("").Terminal() {
		t.Error("unknown states must be neither valid nor terminal")
	}
}

func clone(r Record) Record {
	c := r
	c.History = slices.Clone(r.History)
	c.Entities = maps.Clone(r.Entities)
	if r.CompletedAt != nil {
		at := *r.CompletedAt
		c.CompletedAt = &at
	}
	return c
}

func equal(a, b Record) bool { return reflect.DeepEqual(a, b) }

func TestReplay(t *testing.T) {
	t.Parallel()
	for _, s := range []State{Completed, Failed} {
		from := at(s, 2)
		if s == Completed {
			from, _ = Apply(at(Processing, 2), Change{To: Completed, At: t0, Attempt: 2, Entities: map[string]int{"orders": 1}})
		}
		next, err := Replay(from, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("replay of %s: %v", s, err)
		}
		last := next.History[len(next.History)-1]
		switch {
		case next.Status != Accepted || next.CompletedAt != nil || next.Attempts != 2 || next.Redrives != 1:
			t.Fatalf("replay of %s: %+v", s, next)
		case last.Status != Accepted || last.Via != ViaReplay || len(next.History) != len(from.History)+1:
			t.Fatalf("replay of %s: history %+v", s, next.History)
		case next.History[len(next.History)-2].Status != s:
			t.Fatalf("replay of %s dropped the terminal step: %+v", s, next.History)
		case !After(next, from):
			t.Fatalf("the replayed record does not order after the %s one", s)
		}
		if _, err := Apply(next, Change{To: Processing, At: t0, Attempt: 3}); err != nil {
			t.Fatalf("the replayed record cannot be processed again: %v", err)
		}
	}
	for _, s := range []State{Accepted, Processing, Retrying} {
		if _, err := Replay(at(s, 1), t0); !errors.Is(err, ErrTransition) {
			t.Fatalf("replay of %s: err %v, want ErrTransition", s, err)
		}
	}
}
