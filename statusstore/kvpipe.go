package statusstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pipeReaders bounds the concurrent reads of one UpdateMany call.
const pipeReaders = 64

// NewKVPipelined returns a store on the bucket whose CreateMany and
// UpdateMany publish their writes through js asynchronously and wait for all
// acknowledgements at once, so a batch of N records costs about two round
// trips rather than 2N. The bucket must be one of js's own account and
// domain and not a mirror (as wire.Ensure makes it): the writes go straight
// to its subjects, $KV.<bucket>.<key>.
//
// The store is otherwise the one NewKV returns. js should have a publish-
// async timeout (jetstream.WithPublishAsyncTimeout) or the callers' contexts
// a deadline, so that a lost acknowledgement cannot hold a caller forever.
func NewKVPipelined(js jetstream.JetStream, kv jetstream.KeyValue) *KV {
	return &KV{kv: kv, js: js}
}

// Write is one compare-and-swap of UpdateMany.
type Write struct {
	// MessageID is the key.
	MessageID string
	// Fn computes the next record as for Update. It may be called more than
	// once when another writer gets there first.
	Fn func(cur Record, found bool) (Record, error)
	// Known and Revision, when Revision is not zero, are the record the key
	// holds and its revision, as an earlier Written reported: the write then
	// skips reading the key. When the key has moved on since, the write falls
	// back to a read and a fresh compare-and-swap, so a stale Known costs a
	// round trip, never a lost update.
	Known    Record
	Revision uint64
}

// Written is the result of one Write.
type Written struct {
	// Record is the record written; the current one when Fn refused.
	Record Record
	// Revision is the key's revision after the write (the current one when
	// Fn refused); give it with Record as Known and Revision to the next
	// write of the key. Zero when unknown.
	Revision uint64
	// Err is Fn's error when it refused (nothing was written), or why the
	// write failed.
	Err error
}

// UpdateMany applies each write as Update would, pipelined: the reads of
// the keys whose revision is not known are issued concurrently, then every
// compare-and-swap is published asynchronously with the header
// Nats-Expected-Last-Subject-Sequence (0 for a key with no record), and the
// acknowledgements are awaited together. The sequence of an acknowledgement
// is the key's new revision, returned in Written so that a following write
// of the same key needs no read. A write that loses its compare-and-swap
// (another writer, a stale read from a replica, a deleted key) falls back to
// Update's read-and-retry loop, so the outcome is the one Update would have
// had. Results are in the order of ws.
//
// A key given more than once is written in the order given: its later
// writes wait for the earlier ones. When ctx ends first, the writes not yet
// acknowledged get ctx's error and may or may not have been stored. Without
// a JetStream context (a store made by NewKV) the writes run one after the
// other through Update.
func (s *KV) UpdateMany(ctx context.Context, ws []Write) []Written {
	res := make([]Written, len(ws))
	if s.js == nil {
		for i, w := range ws {
			res[i].Record, res[i].Revision, res[i].Err = s.update(ctx, w.MessageID, w.Fn)
		}
		return res
	}
	// Keys seen earlier in ws go after the pipelined first writes, in order.
	var later []int
	first := make([]int, 0, len(ws))
	seen := make(map[string]bool, len(ws))
	for i, w := range ws {
		if seen[w.MessageID] {
			later = append(later, i)
			continue
		}
		seen[w.MessageID] = true
		first = append(first, i)
	}

	reads := s.readMany(ctx, ws, first)
	type pending struct {
		i    int
		next Record
		f    jetstream.PubAckFuture
	}
	inflight := make([]pending, 0, len(first))
	var retry []int
	for j, i := range first {
		w, rd := ws[i], reads[j]
		if rd.err != nil {
			res[i].Err = rd.err
			continue
		}
		next, err := w.Fn(rd.cur, rd.found)
		if err != nil {
			res[i] = Written{Record: rd.cur, Revision: rd.rev, Err: err}
			continue
		}
		next.MessageID = w.MessageID
		f, err := s.publishCAS(w.MessageID, next, rd.rev)
		if err != nil {
			// Not published (a stalled connection, say): the plain path
			// reports what is wrong, or succeeds.
			retry = append(retry, i)
			continue
		}
		inflight = append(inflight, pending{i: i, next: next, f: f})
	}
	for k, p := range inflight {
		select {
		case ack := <-p.f.Ok():
			res[p.i] = Written{Record: p.next, Revision: ack.Sequence}
		case err := <-p.f.Err():
			if casConflict(err) {
				retry = append(retry, p.i)
				continue
			}
			res[p.i].Err = fmt.Errorf("statusstore: update %s: %w", ws[p.i].MessageID, err)
		case <-ctx.Done():
			for _, q := range inflight[k:] {
				res[q.i].Err = fmt.Errorf("statusstore: update %s: %w", ws[q.i].MessageID, ctx.Err())
			}
			for _, i := range append(retry, later...) {
				res[i].Err = fmt.Errorf("statusstore: update %s: %w", ws[i].MessageID, ctx.Err())
			}
			return res
		}
	}
	// retry holds first writes only, so each key once: they go concurrently
	// (on a replicated bucket a read served by a lagging replica makes many
	// conflicts at once). Later writes follow them, in the order given.
	s.updateEach(ctx, ws, retry, res)
	for _, i := range later {
		res[i].Record, res[i].Revision, res[i].Err = s.update(ctx, ws[i].MessageID, ws[i].Fn)
	}
	return res
}

// updateEach runs Update's loop for the writes ws[idx], whose keys are
// distinct, concurrently.
func (s *KV) updateEach(ctx context.Context, ws []Write, idx []int, res []Written) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(len(idx), pipeReaders) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res[i].Record, res[i].Revision, res[i].Err = s.update(ctx, ws[i].MessageID, ws[i].Fn)
			}
		}()
	}
	for _, i := range idx {
		work <- i
	}
	close(work)
	wg.Wait()
}

// read is the state of one key before a pipelined write.
type read struct {
	cur   Record
	rev   uint64
	found bool
	err   error
}

// readMany returns the state of the keys ws[idx], reading concurrently
// those whose revision the caller does not know.
func (s *KV) readMany(ctx context.Context, ws []Write, idx []int) []read {
	out := make([]read, len(idx))
	var todo []int
	for j, i := range idx {
		if ws[i].Revision != 0 {
			out[j] = read{cur: ws[i].Known, rev: ws[i].Revision, found: true}
			continue
		}
		todo = append(todo, j)
	}
	if len(todo) == 0 {
		return out
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(len(todo), pipeReaders) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				cur, rev, err := s.get(ctx, ws[idx[j]].MessageID)
				switch {
				case err == nil:
					out[j] = read{cur: cur, rev: rev, found: true}
				case errors.Is(err, ErrNotFound):
					// A deleted key has a revision the create does not
					// expect; its conflict sends it to Update's create.
					out[j] = read{}
				default:
					out[j] = read{err: err}
				}
			}
		}()
	}
	for _, j := range todo {
		work <- j
	}
	close(work)
	wg.Wait()
	return out
}

// CreateMany creates the records as Create would, pipelined: every create
// is published asynchronously with Nats-Expected-Last-Subject-Sequence 0 and
// the acknowledgements are awaited together, so a batch costs about one
// round trip. It returns one error per record, in the order of recs: nil
// when created, one wrapping ErrExists when the message already had a record
// (nothing was written), or why the write failed. A record whose key was
// deleted (the gateway's Delete after a failed publish) is created over the
// delete marker, as Create does. Without a JetStream context (a store made
// by NewKV) the records are created one after the other through Create.
// When ctx ends first, the creates not yet acknowledged get ctx's error and
// may or may not have been stored.
func (s *KV) CreateMany(ctx context.Context, recs []Record) []error {
	errs := make([]error, len(recs))
	if s.js == nil {
		for i, r := range recs {
			errs[i] = s.Create(ctx, r)
		}
		return errs
	}
	futures := make([]jetstream.PubAckFuture, len(recs))
	var retry []int
	for i, r := range recs {
		f, err := s.publishCAS(r.MessageID, r, 0)
		if err != nil {
			retry = append(retry, i)
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if casConflict(err) {
				// A record there, or a delete marker: Create tells which.
				retry = append(retry, i)
				continue
			}
			errs[i] = fmt.Errorf("statusstore: create %s: %w", recs[i].MessageID, err)
		case <-ctx.Done():
			for j := i; j < len(recs); j++ {
				if futures[j] != nil {
					errs[j] = fmt.Errorf("statusstore: create %s: %w", recs[j].MessageID, ctx.Err())
				}
			}
			for _, j := range retry {
				errs[j] = fmt.Errorf("statusstore: create %s: %w", recs[j].MessageID, ctx.Err())
			}
			return errs
		}
	}
	// In index order, so that of one message given twice the first wins.
	slices.Sort(retry)
	for _, i := range retry {
		errs[i] = s.Create(ctx, recs[i])
	}
	return errs
}

// publishCAS publishes r as the value of key id, to be stored only when the
// key's last revision is rev (0: the key has never had a value, or only
// ever been purged).
func (s *KV) publishCAS(id string, r Record, rev uint64) (jetstream.PubAckFuture, error) {
	if !validKey(id) {
		return nil, fmt.Errorf("statusstore: %w: %q", jetstream.ErrInvalidKey, id)
	}
	m := nats.NewMsg("$KV." + s.kv.Bucket() + "." + id)
	m.Data = encodeRecord(&r)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	return s.js.PublishMsgAsync(m)
}

// validKey is nats.go's rule for KV keys, checked here because the
// pipelined writes publish to the key's subject directly.
func validKey(k string) bool {
	if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") {
		return false
	}
	for _, c := range k {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '/' || c == '_' || c == '=' || c == '.':
		default:
			return false
		}
	}
	return true
}
