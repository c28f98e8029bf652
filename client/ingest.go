package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// SendOptions are the optional parts of Send and SendBatch.
type SendOptions struct {
	// EntityType names the root entity the message is for (X-Entity-Type).
	EntityType string
	// Source names where the message came from (X-Source).
	Source string
	// IdempotencyKey makes a Send accepted at most once: a repeat (a retry
	// included) answers the first message_id with Duplicate set. On
	// SendBatch it keys the whole batch, when the gateway accepts it there.
	IdempotencyKey string
}

func (o SendOptions) header(contentType string) http.Header {
	h := http.Header{"Content-Type": {contentType}}
	if o.EntityType != "" {
		h.Set("X-Entity-Type", o.EntityType)
	}
	if o.Source != "" {
		h.Set("X-Source", o.Source)
	}
	if o.IdempotencyKey != "" {
		h.Set("Idempotency-Key", o.IdempotencyKey)
	}
	return h
}

// Accepted is the gateway's answer to a message it made durable.
type Accepted struct {
	MessageID string    `json:"message_id"`
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
	// Duplicate is true when the Idempotency-Key was seen before: nothing
	// new was published.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Send posts one message to /ingest/message. msg is a JSON object: a
// []byte or json.RawMessage is sent as it is, anything else is encoded
// with encoding/json.
func (c *Client) Send(ctx context.Context, msg any, opts SendOptions) (Accepted, error) {
	body, err := messageBytes(msg)
	if err != nil {
		return Accepted{}, err
	}
	req := request{method: http.MethodPost, path: "/ingest/message", body: bytes.NewReader(body), header: opts.header("application/json")}
	res, err := c.do(ctx, req, http.StatusAccepted)
	if err != nil {
		return Accepted{}, err
	}
	var acc Accepted
	return acc, decode(res, &acc)
}

func messageBytes(msg any) ([]byte, error) {
	switch m := msg.(type) {
	case []byte:
		return m, nil
	case json.RawMessage:
		return m, nil
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("nomnom: encode the message: %w", err)
	}
	return data, nil
}

// BatchResult is the answer of /ingest/batch: counts, and one LineResult
// a non-blank line, in order.
type BatchResult struct {
	// Status is "success" when every line was accepted, "partial" when
	// some were, "rejected" when none was.
	Status     string       `json:"status"`
	Processed  int          `json:"processed"`
	Inserted   int          `json:"inserted"`
	Failed     int          `json:"failed"`
	Errors     []string     `json:"errors"`
	DurationMS int64        `json:"duration_ms"`
	Results    []LineResult `json:"results"`
}

// LineResult is one line's outcome: its message_id or why it was refused.
type LineResult struct {
	Line      int    `json:"line"`
	MessageID string `json:"message_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Accepted reports whether the line was made durable.
func (r LineResult) Accepted() bool { return r.MessageID != "" }

// BatchOptions are the optional parts of SendBatch.
type BatchOptions struct {
	SendOptions
	// JSONArray says the body is a JSON array of objects, not NDJSON.
	JSONArray bool
}

// SendBatch streams body, NDJSON (one JSON object a line) or a JSON array,
// to /ingest/batch and returns every line's result. A batch of which no
// line is valid answers 400 with its results: SendBatch then returns both
// the result and an *Error. Body is retried on 429 and 503 only when it is
// an io.ReadSeeker (a *bytes.Reader, an *os.File).
func (c *Client) SendBatch(ctx context.Context, body io.Reader, opts BatchOptions) (*BatchResult, error) {
	ct := "application/x-ndjson"
	if opts.JSONArray {
		ct = "application/json"
	}
	req := request{method: http.MethodPost, path: "/ingest/batch", body: body, header: opts.header(ct)}
	res, err := c.do(ctx, req, http.StatusAccepted, http.StatusBadRequest)
	if err != nil {
		return nil, err
	}
	if res.StatusCode == http.StatusAccepted {
		var out BatchResult
		return &out, decode(res, &out)
	}
	return rejectedBatch(req, res)
}

// rejectedBatch reads a 400 answer of /ingest/batch: the results of a
// batch without a valid line, or a plain error body.
func rejectedBatch(req request, res *http.Response) (*BatchResult, error) {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(data))
	var out BatchResult
	hasResults := json.Unmarshal(data, &out) == nil && out.Results != nil
	apiErr := readError(req, res)
	if !hasResults {
		return nil, apiErr
	}
	return &out, apiErr
}

// query builds "?a=b" from pairs of name and value, leaving empty values out.
func query(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}
