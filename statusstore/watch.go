package statusstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/backoff"
)

// Watched is one write of a status record, as a Watcher saw it.
type Watched struct {
	// Revision is the write's revision: the sequence of the bucket's stream,
	// so it orders every change of every key and is a resumable position.
	Revision uint64
	Record   Record
}

// Watcher watches the whole status bucket with one consumer and fans its
// changes out to any number of subscribers: every ?wait= and every event
// stream of a gateway shares it, so a reader costs a channel, not a
// JetStream consumer of its own.
//
// It never blocks on a subscriber: a subscriber whose buffer is full is
// dropped (its channel closed, Overflowed true) and resumes by itself.
type Watcher struct {
	kv  jetstream.KeyValue
	log *slog.Logger

	mu   sync.Mutex
	last uint64
	keys map[string]map[*Subscription]struct{}
	all  map[*Subscription]struct{}
	live chan struct{}
}

// NewWatcher returns a watcher of the bucket; Run starts it.
func NewWatcher(kv jetstream.KeyValue, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{kv: kv, log: log, keys: map[string]map[*Subscription]struct{}{},
		all: map[*Subscription]struct{}{}, live: make(chan struct{})}
}

// Live is closed once the watcher's consumer exists: from then on, no
// change is missed, even across reconnects.
func (w *Watcher) Live() <-chan struct{} { return w.live }

// Run watches until ctx ends. When the watch ends early (NATS went away),
// it starts again after the last revision it saw, so subscribers miss
// nothing but the intermediate values a key's history no longer holds.
func (w *Watcher) Run(ctx context.Context) error {
	retry := backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}
	for n := 0; ; n++ {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("status watch ended; starting again", "err", err, "after_revision", w.Last())
		if backoff.Sleep(ctx, retry.Delay(n)) != nil {
			return ctx.Err()
		}
	}
}

func (w *Watcher) watch(ctx context.Context) error {
	last := w.Last()
	if last == 0 {
		// The first watch starts after the bucket's last revision, named
		// explicitly rather than "updates only": the server then delivers
		// every later write whenever its consumer is created, so nothing
		// written after Live is closed can be missed.
		st, err := w.kv.Status(ctx)
		if err != nil {
			return fmt.Errorf("statusstore: watch bucket: %w", err)
		}
		if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
			last = bs.StreamInfo().State.LastSeq
			w.mu.Lock()
			w.last = max(w.last, last)
			w.mu.Unlock()
		}
	}
	kw, err := w.kv.WatchAll(ctx, jetstream.IncludeHistory(), jetstream.ResumeFromRevision(last+1))
	if err != nil {
		return fmt.Errorf("statusstore: watch bucket: %w", err)
	}
	defer kw.Stop()
	w.mu.Lock()
	select {
	case <-w.live:
	default:
		close(w.live)
	}
	w.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-kw.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e != nil {
				w.dispatch(e)
			}
		}
	}
}

// dispatch hands a put to the subscribers of its key and of every key.
func (w *Watcher) dispatch(e jetstream.KeyValueEntry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.Revision() <= w.last {
		return // replayed after a restart
	}
	w.last = e.Revision()
	if e.Operation() != jetstream.KeyValuePut {
		return
	}
	subs := w.keys[e.Key()]
	if len(subs) == 0 && len(w.all) == 0 {
		return // nobody waits for it: most writes, on a busy gateway
	}
	var r Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		w.log.Warn("status watch: undecodable record", "key", e.Key(), "revision", e.Revision(), "err", err)
		return
	}
	c := Watched{Revision: e.Revision(), Record: r}
	for s := range subs {
		w.send(s, c)
	}
	for s := range w.all {
		w.send(s, c)
	}
}

// send delivers c to s, or drops s when its buffer is full. w.mu is held.
func (w *Watcher) send(s *Subscription, c Watched) {
	select {
	case s.c <- c:
	default:
		s.overflowed = true
		w.remove(s)
	}
}

// Last is the revision of the last change the watcher saw.
func (w *Watcher) Last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Subscription receives changes until Close, or until it falls behind.
type Subscription struct {
	w   *Watcher
	key string
	c   chan Watched
	// overflowed and closed are guarded by w.mu.
	overflowed, closed bool
}

// C delivers the changes. It is closed when the subscriber fell behind
// (Overflowed then reports true) or was closed.
func (s *Subscription) C() <-chan Watched { return s.c }

// Overflowed reports whether changes were dropped because the buffer was
// full; the subscriber then reads the state again or resumes from its last
// revision.
func (s *Subscription) Overflowed() bool {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.overflowed
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	s.w.remove(s)
}

// remove unregisters s and closes its channel once. w.mu is held.
func (w *Watcher) remove(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	if s.key == "" {
		delete(w.all, s)
		return
	}
	if subs := w.keys[s.key]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(w.keys, s.key)
		}
	}
}

// SubscribeKey subscribes to the changes of one message's record, buffering
// up to buf of them.
func (w *Watcher) SubscribeKey(id string, buf int) *Subscription {
	s := &Subscription{w: w, key: id, c: make(chan Watched, max(buf, 1))}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.keys[id] == nil {
		w.keys[id] = map[*Subscription]struct{}{}
	}
	w.keys[id][s] = struct{}{}
	return s
}

// SubscribeAll subscribes to every change, buffering up to buf of them, and
// returns the revision it starts after: every change after it is delivered.
func (w *Watcher) SubscribeAll(buf int) (*Subscription, uint64) {
	s := &Subscription{w: w, c: make(chan Watched, max(buf, 1))}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all[s] = struct{}{}
	return s, w.last
}

// Replay calls fn with the current record of every key written after the
// revision after, up to the bucket's last write when Replay starts, in
// revision order. The bucket keeps one value per key, so a key written
// several times since is replayed once, with its latest record. fn's error
// ends the replay. It uses a consumer of its own while it replays.
func (w *Watcher) Replay(ctx context.Context, after uint64, fn func(Watched) error) error {
	kw, err := w.kv.WatchAll(ctx, jetstream.IncludeHistory(), jetstream.ResumeFromRevision(after+1))
	if err != nil {
		return fmt.Errorf("statusstore: replay after %d: %w", after, err)
	}
	defer kw.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-kw.Updates():
			if !ok {
				return fmt.Errorf("statusstore: replay after %d: watch closed", after)
			}
			if e == nil {
				return nil // caught up
			}
			if e.Operation() != jetstream.KeyValuePut || e.Revision() <= after {
				continue
			}
			r, err := decode(e)
			if err != nil {
				return err
			}
			if err := fn(Watched{Revision: e.Revision(), Record: r}); err != nil {
				return err
			}
		}
	}
}
