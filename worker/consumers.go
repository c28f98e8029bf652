package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/wire"
)

// Untyped says whether a worker takes the messages without entity type
// (subject <prefix>.ingest.default). Exactly one worker of the stream's
// feeds should.
type Untyped string

// The choices of Config.Untyped.
const (
	// UntypedAuto takes them unless another durable consumer of the stream
	// already does (or takes every subject): the first feed to start keeps
	// them. Set UntypedTake or UntypedLeave when several feeds share a
	// stream, so that the choice does not depend on which started first.
	UntypedAuto Untyped = "auto"
	// UntypedTake always takes them.
	UntypedTake Untyped = "true"
	// UntypedLeave never takes them.
	UntypedLeave Untyped = "false"
)

// source is what the fetch loops and the lag poller need of the stream: one
// consumer, or several on a server without multi-subject filters.
type source interface {
	Info(ctx context.Context) (*jetstream.ConsumerInfo, error)
}

// fetcher is one consumer, fetched by a loop of its own.
type fetcher interface {
	Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error)
}

// fetchers lists the consumers of src. Each gets a fetch loop of its own:
// fetched in turn, an idle consumer's fetch would wait out BatchWait while
// a busy one's backlog waited behind it.
func fetchers(src source) []fetcher {
	set, ok := src.(*consumerSet)
	if !ok {
		return []fetcher{src.(fetcher)}
	}
	out := make([]fetcher, len(set.consumers))
	for i, c := range set.consumers {
		out[i] = c
	}
	return out
}

// subjects lists the subjects this worker consumes: its entities' and,
// when it takes them, the untyped messages'. None: every ingest subject.
func (w *Worker) subjects(ctx context.Context) ([]string, error) {
	top := w.cfg.Topology
	if len(w.cfg.Entities) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []string
	for _, e := range w.cfg.Entities {
		if s := top.IngestSubject(e); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	take := w.cfg.Untyped == UntypedTake
	if w.cfg.Untyped == UntypedAuto {
		other, err := w.untypedTakenBy(ctx)
		if err != nil {
			return nil, err
		}
		take = other == ""
		if other != "" {
			w.log.Info("untyped messages are left to another consumer", "consumer", other)
		}
	}
	if take {
		out = append(out, top.IngestSubject(""))
	}
	return out, nil
}

// untypedTakenBy names another durable consumer of the stream that takes
// the untyped messages, or "".
func (w *Worker) untypedTakenBy(ctx context.Context) (string, error) {
	top := w.cfg.Topology
	stream, err := w.js.Stream(ctx, top.Stream)
	if err != nil {
		return "", err
	}
	untyped, all := top.IngestSubject(""), top.SubjectPrefix+".ingest.>"
	lister := stream.ListConsumers(ctx)
	for info := range lister.Info() {
		if info.Name == w.cfg.Consumer || strings.HasPrefix(info.Name, w.cfg.Consumer+"-") || info.Config.Durable == "" {
			continue
		}
		filters := append([]string{info.Config.FilterSubject}, info.Config.FilterSubjects...)
		for _, f := range filters {
			if f == untyped || f == all || (f == "" && len(info.Config.FilterSubjects) == 0) {
				return info.Name, nil
			}
		}
	}
	return "", lister.Err()
}

// openConsumers creates or updates the durable consumer of subjects. A
// server older than 2.10 filters one subject per consumer: there, each
// subject gets a consumer of its own, <Consumer>-<token>, each fetched by a
// loop of its own.
func (w *Worker) openConsumers(ctx context.Context, subjects []string) (source, error) {
	top := w.cfg.Topology
	opts := func(durable string, subjects []string) jetstream.ConsumerConfig {
		return top.ConsumerConfig(wire.ConsumerOptions{
			Durable: durable, AckWait: w.cfg.AckWait, MaxAckPending: w.cfg.MaxAckPending, Subjects: subjects,
		})
	}
	if len(subjects) <= 1 || multiFilter(w.nc.ConnectedServerVersion()) {
		c, err := w.js.CreateOrUpdateConsumer(ctx, top.Stream, opts(w.cfg.Consumer, subjects))
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", w.cfg.Consumer, err)
		}
		return c, nil
	}
	set := &consumerSet{}
	for _, s := range subjects {
		name := w.cfg.Consumer + "-" + s[strings.LastIndexByte(s, '.')+1:]
		c, err := w.js.CreateOrUpdateConsumer(ctx, top.Stream, opts(name, []string{s}))
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", name, err)
		}
		set.consumers = append(set.consumers, c)
	}
	return set, nil
}

// multiFilter reports whether a server version (e.g. "2.10.4") accepts
// several filter subjects on one consumer.
func multiFilter(version string) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 2 || (major == 2 && minor >= 10)
}

// consumerSet is the consumers of a worker on a server without
// multi-subject filters, one per subject.
type consumerSet struct {
	consumers []jetstream.Consumer
}

// Info sums the pending counts of the consumers.
func (s *consumerSet) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	var sum jetstream.ConsumerInfo
	var errs []error
	for _, c := range s.consumers {
		info, err := c.Info(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sum.NumPending += info.NumPending
		sum.NumAckPending += info.NumAckPending
	}
	return &sum, errors.Join(errs...)
}

// subjectList is for the start log: the subjects, or every subject.
func subjectList(subjects []string, top wire.Topology) string {
	if len(subjects) == 0 {
		return top.SubjectPrefix + ".ingest.>"
	}
	return strings.Join(subjects, ",")
}
