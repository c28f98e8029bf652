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
// The consumer exists only while someone is subscribed, and for Linger
// after the last one leaves: every status write of a deployment would
// otherwise be delivered to every gateway, which costs NATS and the gateway
// about a third of their work on a batch. A subscription made while no
// watch runs waits until one is live.
//
// It never blocks on a subscriber: a subscriber whose buffer is full is
// dropped (its channel closed, Overflowed true) and resumes by itself.
type Watcher struct {
	kv  jetstream.KeyValue
	log *slog.Logger
	// Linger is how long the consumer outlives the last subscription
	// (default DefaultLinger); set it before Run.
	Linger time.Duration

	mu     sync.Mutex
	last   uint64 // the last revision seen
	keys   map[string]map[*Subscription]struct{}
	all    map[*Subscription]struct{}
	gen    *generation // the watch serving subscriptions now; nil when none is wanted
	idle   time.Time   // when the last subscription left
	wanted chan struct{}
}

// DefaultLinger is how long a watcher's consumer outlives its last
// subscription.
const DefaultLinger = 30 * time.Second

// generation is one run of the watch's consumer, from the demand that
// starts it to the idle spell that ends it. A watch restarted after an
// error within a live generation resumes after the last revision seen.
type generation struct {
	live  chan struct{} // closed once the consumer exists
	start uint64        // the revision it delivers every change after
}

// isLive reports whether the generation's consumer has existed.
func (g *generation) isLive() bool {
	select {
	case <-g.live:
		return true
	default:
		return false
	}
}

// NewWatcher returns a watcher of the bucket; Run starts it.
func NewWatcher(kv jetstream.KeyValue, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{kv: kv, log: log, Linger: DefaultLinger, keys: map[string]map[*Subscription]struct{}{},
		all: map[*Subscription]struct{}{}, wanted: make(chan struct{}, 1)}
}

// Run serves subscriptions until ctx ends: it starts the watch when the
// first one comes, ends it when none has been left for Linger, and, when
// the watch ends early (NATS went away) while subscriptions remain, starts
// it again after the last revision it saw, so they miss nothing but the
// intermediate values a key's history no longer holds.
func (w *Watcher) Run(ctx context.Context) error {
	retry := backoff.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.wanted:
		}
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			n = 0
			continue // idle: wait for the next subscription
		}
		w.log.Warn("status watch ended; starting again", "err", err, "after_revision", w.Last())
		if backoff.Sleep(ctx, retry.Delay(n)) != nil {
			return ctx.Err()
		}
		n++
		w.want()
	}
}

// want asks Run for a watch. w.mu need not be held.
func (w *Watcher) want() {
	select {
	case w.wanted <- struct{}{}:
	default:
	}
}

// watch runs one consumer until ctx ends, it fails, or the watcher has
// been idle for Linger (it then returns nil).
func (w *Watcher) watch(ctx context.Context) error {
	w.mu.Lock()
	g, last := w.gen, w.last
	w.mu.Unlock()
	if g == nil {
		return nil // every subscription left before the watch started
	}
	if !g.isLive() {
		// A new watch starts after the bucket's last revision, named
		// explicitly rather than "updates only": the server then delivers
		// every later write whenever its consumer is created, so nothing
		// written after live is closed can be missed.
		st, err := w.kv.Status(ctx)
		if err != nil {
			return fmt.Errorf("statusstore: watch bucket: %w", err)
		}
		bs, ok := st.(*jetstream.KeyValueBucketStatus)
		if !ok {
			return fmt.Errorf("statusstore: watch bucket: no stream state in %T", st)
		}
		last = bs.StreamInfo().State.LastSeq
	}
	kw, err := w.kv.WatchAll(ctx, jetstream.IncludeHistory(), jetstream.ResumeFromRevision(last+1))
	if err != nil {
		return fmt.Errorf("statusstore: watch bucket: %w", err)
	}
	defer kw.Stop()
	w.mu.Lock()
	w.last = max(w.last, last)
	if !g.isLive() {
		g.start = w.last
		close(g.live)
	}
	w.mu.Unlock()
	tick := time.NewTicker(max(w.Linger/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if w.retire() {
				return nil
			}
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

// retire ends the generation when no subscription has been left for
// Linger: the next subscription starts a new one, from the bucket's last
// revision then.
func (w *Watcher) retire() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.keys) > 0 || len(w.all) > 0 || time.Since(w.idle) < w.Linger {
		return false
	}
	w.gen = nil
	return true
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
		return // nobody waits for this one
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
	} else if subs := w.keys[s.key]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(w.keys, s.key)
		}
	}
	if len(w.keys) == 0 && len(w.all) == 0 {
		w.idle = time.Now()
	}
}

// SubscribeKey subscribes to the changes of one message's record,
// buffering up to buf of them. It returns once a watch is live: every
// change after the return is delivered, so a caller that reads the record
// then misses nothing. It fails only when ctx ends first.
func (w *Watcher) SubscribeKey(ctx context.Context, id string, buf int) (*Subscription, error) {
	s := &Subscription{w: w, key: id, c: make(chan Watched, max(buf, 1))}
	_, err := w.subscribe(ctx, s)
	return s, err
}

// SubscribeAll subscribes to every change, buffering up to buf of them, and
// returns the revision it starts after: every change after it is
// delivered. Like SubscribeKey, it returns once a watch is live.
func (w *Watcher) SubscribeAll(ctx context.Context, buf int) (*Subscription, uint64, error) {
	s := &Subscription{w: w, c: make(chan Watched, max(buf, 1))}
	after, err := w.subscribe(ctx, s)
	return s, after, err
}

// subscribe registers s, asks for a watch when none is wanted yet, and
// waits until it is live.
func (w *Watcher) subscribe(ctx context.Context, s *Subscription) (after uint64, err error) {
	w.mu.Lock()
	if s.key == "" {
		w.all[s] = struct{}{}
	} else {
		if w.keys[s.key] == nil {
			w.keys[s.key] = map[*Subscription]struct{}{}
		}
		w.keys[s.key][s] = struct{}{}
	}
	g := w.gen
	if g == nil {
		g = &generation{live: make(chan struct{})}
		w.gen = g
		w.want()
	}
	if g.isLive() {
		// The watch delivers every change after the last one it
		// dispatched before s was registered.
		after = w.last
		w.mu.Unlock()
		return after, nil
	}
	w.mu.Unlock()
	select {
	case <-g.live:
		w.mu.Lock()
		defer w.mu.Unlock()
		return g.start, nil
	case <-ctx.Done():
		s.Close()
		return 0, ctx.Err()
	}
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
