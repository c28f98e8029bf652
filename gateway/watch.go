package gateway

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/statusstore"
)

// waitBuffer is the buffer of a ?wait= subscription: a message's record
// changes a handful of times, and a wait that falls behind reads again.
const waitBuffer = 8

// startWatcher starts the gateway's one watcher of the status bucket, the
// first time the bucket is ensured; it runs until Stop.
func (s *Server) startWatcher(kv jetstream.KeyValue) {
	w := statusstore.NewWatcher(kv, s.log)
	if !s.watcher.CompareAndSwap(nil, w) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = w.Run(s.life.Context())
	}()
}

// waitTerminal follows the record on the shared watcher until it is
// terminal, the wait ends, the client goes away or the gateway stops, and
// returns the latest record seen.
func (s *Server) waitTerminal(ctx context.Context, rec statusstore.Record, wait time.Duration) statusstore.Record {
	w, store := s.watcher.Load(), s.store.Load()
	if w == nil || store == nil {
		return rec
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	defer context.AfterFunc(s.life.Context(), cancel)()
	for {
		sub, err := w.SubscribeKey(ctx, rec.MessageID, waitBuffer)
		if err != nil {
			return rec // the wait ended before a watch was live
		}
		// Read again once subscribed, so a change between the first read
		// and the subscription is not missed.
		if cur, err := store.Get(ctx, rec.MessageID); err == nil && s.visible(ctx, cur) && statusstore.After(cur, rec) {
			rec = cur
		}
		var again bool
		if !rec.Status.Terminal() {
			rec, again = s.follow(ctx, sub, rec)
		}
		sub.Close()
		if !again {
			return rec
		}
	}
}

// follow reads the subscription until the record is terminal or ctx ends;
// again is true when the subscription fell behind and must start over.
func (s *Server) follow(ctx context.Context, sub *statusstore.Subscription, rec statusstore.Record) (_ statusstore.Record, again bool) {
	for {
		select {
		case <-ctx.Done():
			return rec, false
		case c, ok := <-sub.C():
			if !ok {
				return rec, sub.Overflowed()
			}
			if s.visible(ctx, c.Record) {
				rec = c.Record
			}
			if rec.Status.Terminal() {
				return rec, false
			}
		}
	}
}
