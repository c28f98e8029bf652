package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runner is the state of one Run shared by its connections.
type runner struct {
	cfg      Config
	client   *http.Client
	bodies   *bodySource
	endpoint string
	start    time.Time
	deadline time.Time // zero when the run is bounded by Count
	perMsg   time.Duration
	follow   *follower // nil unless e2e

	claimed   atomic.Int64 // messages handed to connections so far
	requests  atomic.Int64
	sent      atomic.Int64
	accepted  atomic.Int64
	rejected  atomic.Int64
	failures  atomic.Int64
	bodyBytes atomic.Int64
}

// conn is one connection's own state, merged into the report at the end, so
// that the hot path takes no lock.
type conn struct {
	hist  *Histogram
	codes map[string]int64
	body  []byte
	resp  bytes.Buffer
}

// Run drives the gateway at cfg.URL as cfg says and returns what it
// measured. When ctx ends early, Run stops at once and returns the report of
// what it measured so far along with ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Report{}, fmt.Errorf("bench config: %w", err)
	}
	r := newRunner(cfg)
	defer r.client.CloseIdleConnections()

	followCtx, stopFollowing := context.WithCancel(ctx)
	defer stopFollowing()
	if cfg.Mode == ModeE2E {
		r.follow = newFollower(cfg)
		r.follow.start(followCtx)
	}
	stopProgress := startProgress(cfg.Progress, r)

	r.start = time.Now()
	if cfg.Count == 0 {
		r.deadline = r.start.Add(cfg.Duration)
	}
	conns := make([]*conn, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range conns {
		conns[i] = &conn{hist: NewHistogram(), codes: map[string]int64{}}
		wg.Go(func() { r.post(ctx, conns[i]) })
	}
	wg.Wait()
	elapsed := time.Since(r.start)

	var e2e *E2E
	if r.follow != nil {
		timer := time.AfterFunc(cfg.FollowTimeout, stopFollowing)
		e2e = r.follow.wait()
		timer.Stop()
	}
	stopProgress()
	return r.report(conns, elapsed, e2e), ctx.Err()
}

func newRunner(cfg Config) *runner {
	transport := &http.Transport{
		Proxy:               nil, // a benchmark measures the gateway, never a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	path := "/ingest/message"
	if cfg.BatchSize > 1 {
		path = "/ingest/batch"
	}
	r := &runner{
		cfg:      cfg,
		client:   &http.Client{Transport: transport, Timeout: cfg.RequestTimeout},
		bodies:   newBodySource(cfg.BodySize, cfg.Bodies),
		endpoint: strings.TrimRight(cfg.URL, "/") + path,
	}
	if cfg.Rate > 0 {
		r.perMsg = time.Second / time.Duration(cfg.Rate)
	}
	return r
}

// claim hands out the next n messages (fewer at the end of a counted run),
// numbered from seq; ok is false when the run has no more to post.
func (r *runner) claim() (seq int64, n int, ok bool) {
	size := int64(r.cfg.BatchSize)
	seq = r.claimed.Add(size) - size
	if r.cfg.Count > 0 {
		if seq >= r.cfg.Count {
			return 0, 0, false
		}
		size = min(size, r.cfg.Count-seq)
	}
	return seq, int(size), true
}

// post is one connection's loop: claim, wait for the scheduled time when
// there is a rate, send, record.
func (r *runner) post(ctx context.Context, c *conn) {
	for ctx.Err() == nil {
		seq, n, ok := r.claim()
		if !ok {
			return
		}
		scheduled := time.Now()
		if r.perMsg > 0 {
			scheduled = r.start.Add(time.Duration(seq) * r.perMsg)
		}
		if !r.deadline.IsZero() && !scheduled.Before(r.deadline) {
			return
		}
		start, ok := startAt(ctx, scheduled)
		if !ok {
			return
		}
		if pause := r.send(ctx, c, seq, n, start); pause > 0 && !sleepUntil(ctx, time.Now().Add(pause)) {
			return
		}
	}
}

// startAt waits for a request's scheduled time and returns the time its
// latency counts from: the scheduled time when the connection is late for
// it (still busy with its last request, which is the server's doing), or
// the moment it woke when it had to sleep. A Go timer wakes up to a
// millisecond late on Linux; counting from the scheduled time would add
// that lateness, a property of the load generator, to every request.
func startAt(ctx context.Context, scheduled time.Time) (time.Time, bool) {
	if !time.Now().Before(scheduled) {
		return scheduled, ctx.Err() == nil
	}
	if !sleepUntil(ctx, scheduled) {
		return time.Time{}, false
	}
	return time.Now(), true
}

// send posts messages seq..seq+n-1 and records the outcome; it returns how
// long the connection should pause (a 429 or 503's Retry-After).
func (r *runner) send(ctx context.Context, c *conn, seq int64, n int, scheduled time.Time) time.Duration {
	c.body = c.body[:0]
	if r.cfg.BatchSize > 1 {
		c.body = r.bodies.appendBatch(c.body, seq, n)
	} else {
		c.body = r.bodies.appendBody(c.body, seq)
	}
	req, err := r.newRequest(ctx, c.body)
	if err != nil {
		panic(err) // the URL was validated; nothing else can fail here
	}
	r.requests.Add(1)
	r.sent.Add(int64(n))
	bodyBytes := len(c.body)
	if r.cfg.BatchSize > 1 {
		bodyBytes -= n // the newlines are framing, not message
	}
	r.bodyBytes.Add(int64(bodyBytes))
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.fail(c, "transport")
		}
		return 0
	}
	c.resp.Reset()
	_, err = c.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	latency := time.Since(scheduled)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			r.fail(c, "transport")
		}
	case resp.StatusCode != http.StatusAccepted:
		r.fail(c, strconv.Itoa(resp.StatusCode))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			return retryAfter(resp.Header.Get("Retry-After"))
		}
	default:
		c.hist.Record(latency)
		r.accept(c.resp.Bytes(), n)
	}
	return 0
}

func (r *runner) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if r.cfg.BatchSize > 1 {
		req.Header.Set("Content-Type", "application/x-ndjson")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.cfg.EntityType != "" {
		req.Header.Set("X-Entity-Type", r.cfg.EntityType)
	}
	if r.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	}
	return req, nil
}

func (r *runner) fail(c *conn, code string) {
	c.codes[code]++
	r.failures.Add(1)
}

// acceptedBody is the part of a 202 the runner reads: the message_id of a
// single message, or the counts and per-line results of a batch.
type acceptedBody struct {
	MessageID string `json:"message_id"`
	Inserted  int64  `json:"inserted"`
	Failed    int64  `json:"failed"`
	Results   []struct {
		MessageID string `json:"message_id"`
	} `json:"results"`
}

// countsOnly is a batch 202 read without its results, which a run that
// follows nothing has no use for: the cheaper the client, the more of the
// machine is left to the gateway it measures.
type countsOnly struct {
	Inserted int64 `json:"inserted"`
	Failed   int64 `json:"failed"`
}

// accept counts a 202 for n messages and, in e2e mode, queues their ids
// for the followers.
func (r *runner) accept(body []byte, n int) {
	switch {
	case r.follow == nil && r.cfg.BatchSize == 1:
		r.accepted.Add(1)
	case r.follow == nil:
		var b countsOnly
		if json.Unmarshal(body, &b) != nil {
			r.accepted.Add(int64(n)) // a 202 accepts the lines; only the detail is unreadable
			return
		}
		r.accepted.Add(b.Inserted)
		r.rejected.Add(b.Failed)
	default:
		var b acceptedBody
		_ = json.Unmarshal(body, &b)
		ids := make([]string, 0, n)
		if b.MessageID != "" {
			ids = append(ids, b.MessageID)
		}
		for _, res := range b.Results {
			if res.MessageID != "" {
				ids = append(ids, res.MessageID)
			}
		}
		r.accepted.Add(int64(len(ids)))
		r.rejected.Add(int64(n - len(ids)))
		r.follow.queue.push(ids...)
	}
}

// report assembles the Report from the shared counters and every
// connection's histogram and error codes.
func (r *runner) report(conns []*conn, elapsed time.Duration, e2e *E2E) Report {
	hist := NewHistogram()
	codes := map[string]int64{}
	for _, c := range conns {
		hist.Merge(c.hist)
		for code, n := range c.codes {
			codes[code] += n
		}
	}
	rep := Report{
		Mode: r.cfg.Mode, URL: r.cfg.URL, Concurrency: r.cfg.Concurrency, Rate: r.cfg.Rate,
		BatchSize: r.cfg.BatchSize, Duration: elapsed,
		Requests: r.requests.Load(), Sent: r.sent.Load(), Accepted: r.accepted.Load(), Rejected: r.rejected.Load(),
		Errors: codes, Latency: hist.Summary(), E2E: e2e,
	}
	if rep.Sent > 0 {
		rep.BodyBytes = int(r.bodyBytes.Load() / rep.Sent)
	}
	if s := elapsed.Seconds(); s > 0 {
		rep.MsgsPerSec = float64(rep.Accepted) / s
		rep.RequestsPerSec = float64(rep.Requests) / s
	}
	return rep
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), taking
// one second when it is missing or unreadable and at most maxRetryAfter.
func retryAfter(h string) time.Duration {
	d := time.Second
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = time.Until(t)
	}
	return min(max(d, 0), maxRetryAfter)
}

// sleepUntil waits for t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// drain reads and closes a body so the connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, body)
	_ = body.Close()
}
