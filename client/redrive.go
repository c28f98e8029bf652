package client

import (
	"context"
	"net/http"
)

// Filter selects messages of a redrive or replay by their record.
type Filter struct {
	Status string `json:"status,omitempty"`
	Entity string `json:"entity,omitempty"`
	Source string `json:"source,omitempty"`
	Since  string `json:"since,omitempty"`
	Until  string `json:"until,omitempty"`
}

// Selection names the messages of a Redrive or Replay: IDs, or a Filter
// (which needs the gateway's database). DryRun reports what would happen.
type Selection struct {
	IDs    []string `json:"ids,omitempty"`
	Filter *Filter  `json:"filter,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
}

// Outcome is what happened, or would happen, to one message.
type Outcome struct {
	MessageID string `json:"message_id"`
	// Outcome is, for a redrive, redriven, would_redrive, not_found,
	// not_failed, not_in_dlq or capped; for a replay, replayed,
	// would_replay, not_found, not_in_stream, in_progress or capped.
	Outcome  string `json:"outcome"`
	Redrives int    `json:"redrives,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Outcomes is the answer of a redrive or replay.
type Outcomes struct {
	DryRun  bool           `json:"dry_run"`
	Results []Outcome      `json:"results"`
	Counts  map[string]int `json:"counts"`
	// More is true when the filter selected more messages than one request
	// handles (1,000): call again for the rest.
	More bool `json:"more"`
}

// Redrive moves failed messages back to work from the dead-letter queue
// (POST /ingest/dlq/redrive).
func (c *Client) Redrive(ctx context.Context, sel Selection) (*Outcomes, error) {
	var out Outcomes
	return &out, c.postJSON(ctx, "/ingest/dlq/redrive", sel, &out, http.StatusOK)
}

// Replay moves completed or failed messages back to accepted, redelivering
// their original stream copy under the same id (POST /ingest/replay).
func (c *Client) Replay(ctx context.Context, sel Selection) (*Outcomes, error) {
	var out Outcomes
	return &out, c.postJSON(ctx, "/ingest/replay", sel, &out, http.StatusOK)
}
