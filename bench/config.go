package bench

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"
)

// Mode is what a run measures.
type Mode string

const (
	// ModeMessage posts one JSON object per request to /ingest/message and
	// measures the time to its 202.
	ModeMessage Mode = "message"
	// ModeBatch posts BatchSize NDJSON lines per request to /ingest/batch and
	// measures the time to its 202 and the messages accepted per second.
	ModeBatch Mode = "batch"
	// ModeE2E posts like ModeMessage (or ModeBatch when BatchSize > 1), then
	// follows every accepted message to a terminal status and measures
	// accepted→completed from the status record's own timestamps.
	ModeE2E Mode = "e2e"
)

// Defaults of Config; a zero field takes its default.
const (
	DefaultURL           = "http://localhost:8080"
	DefaultConcurrency   = 64
	DefaultDuration      = 10 * time.Second
	DefaultBatchSize     = 100
	DefaultBodySize      = 256
	DefaultFollowWait    = 30 * time.Second
	DefaultFollowTimeout = 60 * time.Second
	DefaultRequestTimout = 30 * time.Second
	// MinBodySize is the smallest generated body: the JSON object around the
	// sequence number and the padding.
	MinBodySize = 32
)

// maxRetryAfter caps a server's Retry-After, so a misconfigured server
// cannot park the run for longer than it lasts.
const maxRetryAfter = 5 * time.Second

// Config is one run of the load generator. Only URL is needed in practice;
// every zero field takes the default named in its comment.
type Config struct {
	// URL is the gateway's base URL (default http://localhost:8080).
	URL string
	// Mode is message, batch or e2e (default message).
	Mode Mode
	// Concurrency is the number of connections posting at once (default 64).
	Concurrency int
	// Rate is the fixed number of messages per second across all connections;
	// 0 posts as fast as the gateway answers. With a rate, latency is measured
	// from each request's scheduled start (as wrk2 does), so a server that
	// falls behind shows it in the percentiles instead of hiding it by
	// slowing the client down; a connection that slept until its start
	// counts from the moment it woke, so the timer's own lateness is not
	// counted.
	Rate int
	// Duration bounds the posting phase (default 10s when Count is 0).
	Duration time.Duration
	// Count, when set, posts exactly this many messages instead of running
	// for Duration.
	Count int64
	// BatchSize is the number of NDJSON lines per request in batch mode
	// (default 100), and in e2e mode when above 1 (default 1 there).
	BatchSize int
	// BodySize is the size in bytes of each generated JSON body (default
	// 256, at least MinBodySize). Each body carries a unique sequence number.
	BodySize int
	// Bodies, when set, are the message bodies to cycle through instead of
	// generated ones: one JSON object each, as read by ReadBodies.
	Bodies [][]byte
	// EntityType, when set, is sent as X-Entity-Type.
	EntityType string
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string

	// Followers is the number of concurrent status long-polls in e2e mode
	// (default Concurrency).
	Followers int
	// FollowWait is the ?wait= of each status read (default 30s).
	FollowWait time.Duration
	// FollowTimeout bounds how long after the posting phase the run waits
	// for messages still in flight; those not terminal by then count as
	// lost (default 60s).
	FollowTimeout time.Duration
	// RequestTimeout bounds one POST (default 30s).
	RequestTimeout time.Duration

	// Progress, when it is a terminal, gets a one-line progress bar updated
	// four times a second. Anything else (a file, a pipe, nil) gets nothing,
	// so logs and CI output stay clean.
	Progress io.Writer
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Mode == "" {
		c.Mode = ModeMessage
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Duration == 0 && c.Count == 0 {
		c.Duration = DefaultDuration
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1
		if c.Mode == ModeBatch {
			c.BatchSize = DefaultBatchSize
		}
	}
	if c.Mode == ModeMessage {
		c.BatchSize = 1
	}
	if c.BodySize == 0 {
		c.BodySize = DefaultBodySize
	}
	if c.Followers == 0 {
		c.Followers = c.Concurrency
	}
	if c.FollowWait == 0 {
		c.FollowWait = DefaultFollowWait
	}
	if c.FollowTimeout == 0 {
		c.FollowTimeout = DefaultFollowTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimout
	}
	return c
}

// validate reports the first setting that cannot be run.
func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return fmt.Errorf("url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("url %q: want http(s)://host:port", c.URL)
	case c.Mode != ModeMessage && c.Mode != ModeBatch && c.Mode != ModeE2E:
		return fmt.Errorf("mode %q: want message, batch or e2e", c.Mode)
	case c.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	case c.Duration < 0 || c.Count < 0:
		return errors.New("duration and count must not be negative")
	case c.BatchSize < 1:
		return errors.New("batch size must be at least 1")
	case len(c.Bodies) == 0 && c.BodySize < MinBodySize:
		return fmt.Errorf("body size must be at least %d bytes", MinBodySize)
	case c.Followers < 1:
		return errors.New("followers must be at least 1")
	}
	return nil
}
