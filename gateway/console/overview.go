package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The overview's windows: counts cover a day, throughput the last half
// hour by minute. Both read an index range (received_at, or status and
// updated_at), never the whole table.
const (
	countWindow      = 24 * time.Hour
	throughputWindow = 30 * time.Minute
)

// overview is the answer of GET /ui/api/overview.
type overview struct {
	// Window is the span of Counts, e.g. "24h0m0s".
	Window string `json:"window"`
	// Counts are the caller's messages received within Window, by status
	// and entity type ("" for none); null without a database.
	Counts []count `json:"counts"`
	// Throughput is messages received and completed per minute, oldest
	// first, over the last half hour.
	Throughput []minute `json:"throughput"`
	// Stream, Consumers and DeadLetters are JetStream's view of the
	// deployment, shared by every tenant: counts only, no data.
	Stream      *streamState `json:"stream"`
	Consumers   []consumer   `json:"consumers"`
	DeadLetters *streamState `json:"dead_letters"`
	// Problems name what could not be read, the rest being answered.
	Problems []string `json:"problems"`
}

type count struct {
	Status string `json:"status"`
	Entity string `json:"entity"`
	Count  int64  `json:"count"`
}

type minute struct {
	At        time.Time `json:"at"`
	Received  int64     `json:"received"`
	Completed int64     `json:"completed"`
}

type streamState struct {
	Name     string `json:"name"`
	Messages uint64 `json:"messages"`
	Bytes    uint64 `json:"bytes"`
}

type consumer struct {
	Name string `json:"name"`
	// Pending is the consumer's lag: stream messages it has not been
	// delivered yet.
	Pending uint64 `json:"pending"`
	// AckPending are delivered and not yet acknowledged.
	AckPending  int `json:"ack_pending"`
	Redelivered int `json:"redelivered"`
	Waiting     int `json:"waiting"`
}

const countsSQL = `SELECT status, coalesce(entity_type, ''), count(*)
FROM message_status
WHERE received_at >= $1 AND ($2::text IS NULL OR tenant = $2)
GROUP BY 1, 2
ORDER BY 1, 2`

const receivedSQL = `SELECT date_trunc('minute', received_at), count(*)
FROM message_status
WHERE received_at >= $1 AND ($2::text IS NULL OR tenant = $2)
GROUP BY 1`

const completedSQL = `SELECT date_trunc('minute', updated_at), count(*)
FROM message_status
WHERE status = 'completed' AND updated_at >= $1 AND ($2::text IS NULL OR tenant = $2)
GROUP BY 1`

func (c *Console) handleOverview(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	ov := overview{Window: countWindow.String(), Consumers: []consumer{}, Problems: []string{}}
	problem := func(what string, err error) {
		c.log.Warn("console overview", "part", what, "err", err)
		ov.Problems = append(ov.Problems, what+" could not be read")
	}
	if db := c.cfg.Database; db != nil {
		var tenant *string
		if t, scoped := c.cfg.Tenant(ctx); scoped {
			tenant = &t
		}
		now := time.Now().UTC()
		var err error
		if ov.Counts, err = c.counts(ctx, now.Add(-countWindow), tenant); err != nil {
			problem("message counts", err)
		}
		if ov.Throughput, err = c.throughput(ctx, now, tenant); err != nil {
			problem("throughput", err)
		}
	} else {
		ov.Problems = append(ov.Problems, "the gateway has no database (DATABASE_URL): no counts")
	}
	c.jetStream(ctx, &ov, problem)
	writeJSON(w, http.StatusOK, ov)
	return nil
}

func (c *Console) counts(ctx context.Context, since time.Time, tenant *string) ([]count, error) {
	rows, err := c.cfg.Database.Query(ctx, countsSQL, since, tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []count{}
	for rows.Next() {
		var n count
		if err := rows.Scan(&n.Status, &n.Entity, &n.Count); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// throughput returns one entry per minute of the window, zeros included,
// so a chart of it has no gaps.
func (c *Console) throughput(ctx context.Context, now time.Time, tenant *string) ([]minute, error) {
	first := now.Truncate(time.Minute).Add(-throughputWindow + time.Minute)
	out := make([]minute, int(throughputWindow/time.Minute))
	for i := range out {
		out[i].At = first.Add(time.Duration(i) * time.Minute)
	}
	for _, q := range []struct {
		sql string
		add func(*minute, int64)
	}{
		{receivedSQL, func(m *minute, n int64) { m.Received += n }},
		{completedSQL, func(m *minute, n int64) { m.Completed += n }},
	} {
		rows, err := c.cfg.Database.Query(ctx, q.sql, first, tenant)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				at time.Time
				n  int64
			)
			if err := rows.Scan(&at, &n); err != nil {
				rows.Close()
				return nil, err
			}
			if i := int(at.Sub(first) / time.Minute); i >= 0 && i < len(out) {
				q.add(&out[i], n)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// jetStream fills in the streams' sizes and the durable consumers' lag.
func (c *Console) jetStream(ctx context.Context, ov *overview, problem func(string, error)) {
	top := c.cfg.Topology
	if st, err := c.streamState(ctx, top.Stream); err != nil {
		problem("stream "+top.Stream, err)
	} else {
		ov.Stream = st
	}
	if st, err := c.streamState(ctx, top.DLQStream()); err != nil {
		problem("stream "+top.DLQStream(), err)
	} else {
		ov.DeadLetters = st
	}
	stream, err := c.cfg.JetStream.Stream(ctx, top.Stream)
	if err != nil {
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			problem("consumers", err)
		}
		return
	}
	lister := stream.ListConsumers(ctx)
	for info := range lister.Info() {
		if info.Config.Durable == "" {
			continue // an ordered consumer of a read, not a worker
		}
		ov.Consumers = append(ov.Consumers, consumer{
			Name: info.Name, Pending: info.NumPending, AckPending: info.NumAckPending,
			Redelivered: info.NumRedelivered, Waiting: info.NumWaiting,
		})
	}
	if err := lister.Err(); err != nil {
		problem("consumers", err)
	}
	sort.Slice(ov.Consumers, func(i, j int) bool { return ov.Consumers[i].Name < ov.Consumers[j].Name })
}

func (c *Console) streamState(ctx context.Context, name string) (*streamState, error) {
	stream, err := c.cfg.JetStream.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	return &streamState{Name: name, Messages: info.State.Msgs, Bytes: info.State.Bytes}, nil
}
