package statusstore

import (
	"time"

	"github.com/nomnom-io/nomnom/wire"
)

// State is one step of the lifecycle.
type State string

// The states of the lifecycle (docs/architecture.md).
const (
	Accepted   State = "accepted"
	Processing State = "processing"
	Retrying   State = "retrying"
	Completed  State = "completed"
	Failed     State = "failed"
)

// States lists every state, in lifecycle order.
var States = []State{Accepted, Processing, Retrying, Completed, Failed}

// Terminal reports whether no further transition is expected (a failed
// record leaves only through an explicit redrive).
func (s State) Terminal() bool { return s == Completed || s == Failed }

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Event is one entry of a record's history.
type Event struct {
	Status  State     `json:"status"`
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error,omitempty"`
	// Via names the explicit action that made the step ("replay"), empty
	// for the steps of the ordinary lifecycle.
	Via string `json:"via,omitempty"`
}

// Record is a message's status: the KV value and the API response alike.
type Record struct {
	MessageID   string         `json:"message_id"`
	Status      State          `json:"status"`
	EntityType  *string        `json:"entity_type"`
	Source      *string        `json:"source"`
	Tenant      string         `json:"tenant,omitempty"`
	Attempts    int            `json:"attempts"`
	Error       string         `json:"error,omitempty"`
	ReceivedAt  time.Time      `json:"received_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	CompletedAt *time.Time     `json:"completed_at"`
	Entities    map[string]int `json:"entities,omitempty"`
	History     []Event        `json:"history"`
	// Redrives counts explicit moves back to accepted, redrives and replays
	// alike; it orders such a record after the terminal one it replaces, and
	// bounds how often a message is sent through again.
	Redrives int `json:"redrives,omitempty"`
}

// NewAccepted is the first record of a message, as the gateway writes it.
func NewAccepted(env *wire.Envelope, now time.Time) Record {
	now = now.UTC()
	return Record{
		MessageID:  env.MessageID,
		Status:     Accepted,
		EntityType: env.EntityType,
		Source:     env.Source,
		Tenant:     env.Tenant,
		ReceivedAt: env.ReceivedAt.UTC(),
		UpdatedAt:  now,
		History:    []Event{{Status: Accepted, At: now}},
	}
}
