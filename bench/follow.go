package bench

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// follower follows accepted messages to a terminal status with a pool of
// long-polling readers. The latency it reports comes from each record's
// received_at and completed_at, not from when a reader happened to look, so
// a few readers taking the oldest message first measure exactly, without a
// connection held open per message in flight.
type follower struct {
	cfg    Config
	client *http.Client
	base   string
	queue  *idQueue
	wg     sync.WaitGroup

	completed atomic.Int64
	failed    atomic.Int64
	mu        sync.Mutex
	hist      *Histogram
	rows      int64
	first     time.Time // earliest received_at of a completed record
	last      time.Time // latest completed_at
}

func newFollower(cfg Config) *follower {
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        cfg.Followers,
		MaxIdleConnsPerHost: cfg.Followers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &follower{
		cfg:    cfg,
		client: &http.Client{Transport: transport, Timeout: cfg.FollowWait + 10*time.Second},
		base:   strings.TrimRight(cfg.URL, "/") + "/ingest/status/",
		queue:  newIDQueue(),
		hist:   NewHistogram(),
	}
}

// start starts the readers; they stop when ctx ends or when the queue is
// closed and empty.
func (f *follower) start(ctx context.Context) {
	for range f.cfg.Followers {
		f.wg.Go(func() { f.read(ctx) })
	}
}

// wait closes the queue, waits for the readers and returns the outcome:
// whatever was accepted and is neither completed nor failed is lost.
func (f *follower) wait() *E2E {
	f.queue.close()
	f.wg.Wait()
	defer f.client.CloseIdleConnections()
	f.mu.Lock()
	defer f.mu.Unlock()
	e := &E2E{
		Completed: f.completed.Load(),
		Failed:    f.failed.Load(),
		Latency:   f.hist.Summary(),
		Rows:      f.rows,
	}
	e.Lost = f.queue.pushed() - e.Completed - e.Failed
	if e.Completed > 0 {
		e.Span = f.last.Sub(f.first)
		if s := e.Span.Seconds(); s > 0 {
			e.PerSec = float64(e.Completed) / s
			e.RowsPerSec = float64(e.Rows) / s
		}
	}
	return e
}

// statusRecord is the part of a status record a reader needs.
type statusRecord struct {
	Status      string         `json:"status"`
	ReceivedAt  time.Time      `json:"received_at"`
	CompletedAt *time.Time     `json:"completed_at"`
	Entities    map[string]int `json:"entities"`
}

// read is one reader's loop. A message not terminal when its long poll
// ends, or not found yet, goes back to the end of the queue.
func (f *follower) read(ctx context.Context) {
	for {
		id, ok := f.queue.pop(ctx)
		if !ok {
			return
		}
		rec, found := f.get(ctx, id)
		switch {
		case ctx.Err() != nil:
			return
		case rec.Status == "completed":
			f.complete(rec)
			f.queue.done()
		case rec.Status == "failed":
			f.failed.Add(1)
			f.queue.done()
		default:
			if !found && !sleepUntil(ctx, time.Now().Add(50*time.Millisecond)) {
				return
			}
			f.queue.requeue(id)
		}
	}
}

// get reads id's status with a long poll; found is false for a 404 or no
// answer.
func (f *follower) get(ctx context.Context, id string) (rec statusRecord, found bool) {
	url := f.base + id + "?wait=" + f.cfg.FollowWait.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return rec, false
	}
	if f.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+f.cfg.APIKey)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return rec, false
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return rec, false
	}
	if json.NewDecoder(resp.Body).Decode(&rec) != nil {
		return statusRecord{}, false
	}
	return rec, true
}

func (f *follower) complete(rec statusRecord) {
	f.completed.Add(1)
	if rec.CompletedAt == nil {
		return // a completed record always has completed_at; without it there is no latency to record
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hist.Record(rec.CompletedAt.Sub(rec.ReceivedAt))
	for _, n := range rec.Entities {
		f.rows += int64(n)
	}
	if f.first.IsZero() || rec.ReceivedAt.Before(f.first) {
		f.first = rec.ReceivedAt
	}
	if rec.CompletedAt.After(f.last) {
		f.last = *rec.CompletedAt
	}
}

// idQueue is an unbounded FIFO of message ids: posting connections must
// never block on slow readers, or the readers would throttle the load. It
// also counts the ids readers hold, so that once posting is over the
// readers stop exactly when nothing is left to follow.
type idQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	ids    []string
	head   int
	held   int   // popped and neither requeued nor done
	total  int64 // ever pushed
	closed bool
}

func newIDQueue() *idQueue {
	q := &idQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push adds newly accepted ids.
func (q *idQueue) push(ids ...string) {
	if len(ids) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.total += int64(len(ids))
	q.ids = append(q.ids, ids...)
	q.cond.Broadcast()
}

// requeue gives back a popped id to be read again later.
func (q *idQueue) requeue(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held--
	q.ids = append(q.ids, id)
	q.cond.Broadcast()
}

// done says a popped id has reached its end.
func (q *idQueue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held--
	if q.held == 0 {
		q.cond.Broadcast()
	}
}

// close says no more ids will be pushed.
func (q *idQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// pushed is the number of ids ever pushed.
func (q *idQueue) pushed() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// pop takes the oldest id, waiting for one. ok is false when ctx ends, or
// when the queue is closed, empty, and no reader holds an id it could give
// back.
func (q *idQueue) pop(ctx context.Context) (id string, ok bool) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.cond.Broadcast()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == len(q.ids) {
		if ctx.Err() != nil || q.closed && q.held == 0 {
			return "", false
		}
		q.cond.Wait()
	}
	id = q.ids[q.head]
	q.ids[q.head] = ""
	q.head++
	if q.head > 1024 && q.head*2 > len(q.ids) {
		q.ids = append(q.ids[:0], q.ids[q.head:]...)
		q.head = 0
	}
	q.held++
	return id, true
}
