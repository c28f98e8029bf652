package statusstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ErrTransition is wrapped by every refused transition: the record is already
// at or past the requested step, so the writer must not overwrite it.
var ErrTransition = errors.New("status transition not allowed")

// Change is one requested step of the lifecycle.
type Change struct {
	To State
	At time.Time
	// Attempt is the delivery attempt that makes the change (1 for the first).
	// A processing change with an attempt not above the record's is a stale
	// redelivery and is refused.
	Attempt int
	// Error says why, for retrying and failed.
	Error string
	// Entities is the rows written per table, for completed.
	Entities map[string]int
}

// allowed maps each state to the states it may move to. Processing may
// follow itself: a worker that crashed before committing leaves a record in
// processing, and the redelivery starts a new attempt.
var allowed = map[State][]State{
	Accepted:   {Processing, Completed, Failed},
	Processing: {Processing, Retrying, Completed, Failed},
	Retrying:   {Processing, Failed},
	Completed:  nil,
	Failed:     nil,
}

// Apply returns the record after the change, or an error wrapping
// ErrTransition when the change would move it backwards or sideways. It never
// modifies r.
func Apply(r Record, c Change) (Record, error) {
	if !c.To.Valid() {
		return r, fmt.Errorf("%w: unknown state %q", ErrTransition, c.To)
	}
	if !slices.Contains(allowed[r.Status], c.To) {
		return r, fmt.Errorf("%w: %s -> %s", ErrTransition, r.Status, c.To)
	}
	if c.Attempt < r.Attempts || (c.To == Processing && c.Attempt <= r.Attempts) {
		return r, fmt.Errorf("%w: %s -> %s at attempt %d, record is at attempt %d", ErrTransition, r.Status, c.To, c.Attempt, r.Attempts)
	}
	return advance(r, c.To, c.At, c.Attempt, c.Error, c.Entities), nil
}

// Redrive moves a failed record back to accepted for an explicit redrive.
// Attempts and history are kept; the next processing attempt continues the
// count.
func Redrive(r Record, at time.Time) (Record, error) {
	if r.Status != Failed {
		return r, fmt.Errorf("%w: redrive of a %s record", ErrTransition, r.Status)
	}
	next := advance(r, Accepted, at, r.Attempts, "", nil)
	next.Redrives++
	next.CompletedAt = nil
	return next, nil
}

// ViaReplay is the Via of the history entry a replay adds.
const ViaReplay = "replay"

// Replay moves a terminal record, completed or failed, back to accepted so
// that its message is processed again from its stream copy. The earlier
// steps, the completion included, stay in the history; the new entry says it
// came from a replay. Redrives counts the replay, which orders the accepted
// record after the terminal one in every store.
func Replay(r Record, at time.Time) (Record, error) {
	if r.Status != Completed && r.Status != Failed {
		return r, fmt.Errorf("%w: replay of a %s record", ErrTransition, r.Status)
	}
	next := advance(r, Accepted, at, r.Attempts, "", nil)
	next.History[len(next.History)-1].Via = ViaReplay
	next.Redrives++
	next.CompletedAt = nil
	return next, nil
}

func advance(r Record, to State, at time.Time, attempt int, errMsg string, entities map[string]int) Record {
	at = at.UTC()
	next := r
	next.Status = to
	next.Attempts = attempt
	next.Error = errMsg
	next.UpdatedAt = at
	next.History = append(slices.Clip(r.History), Event{Status: to, At: at, Attempt: attempt, Error: errMsg})
	if to == Completed {
		next.CompletedAt = &at
		next.Entities = maps.Clone(entities)
	}
	return next
}

// After reports whether a is strictly further along the lifecycle than b, the
// order a store uses to refuse a stale whole-record write.
func After(a, b Record) bool {
	if a.Redrives != b.Redrives {
		return a.Redrives > b.Redrives
	}
	if a.Attempts != b.Attempts {
		return a.Attempts > b.Attempts
	}
	return rank(a.Status) > rank(b.Status)
}

func rank(s State) int {
	switch s {
	case Accepted:
		return 0
	case Processing:
		return 1
	case Retrying:
		return 2
	default:
		return 3
	}
}
