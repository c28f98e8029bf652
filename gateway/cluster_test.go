package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// TestClusterStatusReadAfterWrite reads every message's status right after
// its 202 through a gateway connected to a follower of the status bucket's
// stream, whose direct gets may not have applied the create yet: the read
// must never be 404.
func TestClusterStatusReadAfterWrite(t *testing.T) {
	t.Parallel()
	c := testsvc.StartCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	kv, failed := testsvc.EnsureReplicated(t, testsvc.JetStream(t, c.Servers[0]), top)
	t.Logf("cluster: ensure succeeded after %d failed attempts", failed)
	if got := kvReplicas(t, kv); got != 3 {
		t.Fatalf("bucket has %d replicas, want 3", got)
	}
	f := c.Servers[c.Follower("KV_"+top.StatusBucket)]
	h := setupOn(t, f, testsvc.Connect(t, f), func(c *Config) { c.Topology = top })
	<-h.srv.Ready()

	const workers, each = 16, 40
	var notFound, other atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				id := h.accepted(`{"order_id":1}`).MessageID
				res := h.get("/ingest/status/" + id)
				switch res.status {
				case http.StatusOK:
				case http.StatusNotFound:
					notFound.Add(1)
				default:
					other.Add(1)
					t.Errorf("GET status %s: %d %s", id, res.status, res.body)
				}
			}
		})
	}
	wg.Wait()
	if n := notFound.Load(); n > 0 {
		t.Errorf("%d of %d reads right after 202 answered 404", n, workers*each)
	}
}

// TestClusterReplicatedConsumerAndCAS checks the two other replicated
// pieces: the workers' durable consumer is created R3 from its one
// configuration, and a compare-and-swap update of a record on an R3 bucket
// that loses to another write (error code 10164 on a replicated stream, not
// 10071) is retried rather than failed.
//
// Concurrent writers are not tested here: statusstore.KV.Update retries at
// once, and on R3 a conditional write is refused while another write of the
// same key is still being replicated, so a few writers can use up its 64
// attempts within the milliseconds of one commit.
func TestClusterReplicatedConsumerAndCAS(t *testing.T) {
	t.Parallel()
	c := testsvc.StartCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	js := testsvc.JetStream(t, c.Servers[2])
	testsvc.EnsureReplicated(t, js, top)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cons, err := js.CreateOrUpdateConsumer(ctx, top.Stream, top.ConsumerConfig(wire.ConsumerOptions{
		Durable: "workers", AckWait: 30 * time.Second, MaxAckPending: 1000,
	}))
	if err != nil {
		t.Fatalf("R3 consumer: %v", err)
	}
	testsvc.Eventually(t, 20*time.Second, "consumer replicas", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
	})

	// The store talks to the bucket leader's server, whose own replica
	// answers its direct gets, so its reads see every acknowledged write.
	onLeader, err := testsvc.JetStream(t, c.Servers[c.Leader("KV_"+top.StatusBucket)]).KeyValue(ctx, top.StatusBucket)
	if err != nil {
		t.Fatal(err)
	}
	store := statusstore.NewKV(onLeader)
	id := uuid.NewString()
	if err := store.Create(ctx, statusstore.Record{MessageID: id, Status: statusstore.Accepted}); err != nil {
		t.Fatal(err)
	}
	// The first round's write loses to a competing write made between its
	// read and its compare-and-swap; the second round applies on top of it.
	calls := 0
	got, err := store.Update(ctx, id, func(cur statusstore.Record, found bool) (statusstore.Record, error) {
		calls++
		if calls == 1 {
			competing := cur
			competing.Attempts = 10
			val, err := json.Marshal(competing)
			if err != nil {
				return cur, err
			}
			if _, err := onLeader.Put(ctx, id, val); err != nil {
				return cur, err
			}
		}
		cur.Attempts++
		return cur, nil
	})
	if err != nil {
		t.Fatalf("update after a lost compare-and-swap: %v", err)
	}
	if calls != 2 || got.Attempts != 11 {
		t.Fatalf("update: %d rounds, attempts %d; want 2 rounds and 11", calls, got.Attempts)
	}
	if rec, err := freshGet(ctx, js, top, id); err != nil || rec.Attempts != 11 {
		t.Fatalf("stored record: %+v, %v", rec, err)
	}
}

// freshGet reads a record through a fresh bucket handle.
func freshGet(ctx context.Context, js jetstream.JetStream, top wire.Topology, id string) (statusstore.Record, error) {
	kv, err := js.KeyValue(ctx, top.StatusBucket)
	if err != nil {
		return statusstore.Record{}, err
	}
	return statusstore.NewKV(kv).Get(ctx, id)
}

func kvReplicas(t *testing.T, kv jetstream.KeyValue) int {
	t.Helper()
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas
}

// TestClusterReplicasRaised ensures a topology and the workers' consumer at
// R1 and then at R3, as an operator raising NATS_REPLICAS on a running
// deployment would: the same create-or-update calls move the streams, the
// bucket and the consumer to three replicas.
func TestClusterReplicasRaised(t *testing.T) {
	t.Parallel()
	c := testsvc.StartCluster(t)
	top := testsvc.Topology(t)
	js := testsvc.JetStream(t, c.Servers[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testsvc.EnsureReplicated(t, js, top)
	opts := wire.ConsumerOptions{Durable: "workers", AckWait: 30 * time.Second, MaxAckPending: 1000}
	if _, err := js.CreateOrUpdateConsumer(ctx, top.Stream, top.ConsumerConfig(opts)); err != nil {
		t.Fatalf("R1 consumer: %v", err)
	}
	top.Replicas = 3
	kv, _ := testsvc.EnsureReplicated(t, js, top)
	if got := kvReplicas(t, kv); got != 3 {
		t.Errorf("bucket has %d replicas after the update, want 3", got)
	}
	// Right after the stream's update the server may still refuse an R3
	// consumer ("replica count exceeds parent stream", 10126) until the new
	// peers are in place; the worker's start is retried the same way.
	var cons jetstream.Consumer
	refused := 0
	testsvc.Eventually(t, 20*time.Second, "the consumer at R3", func() bool {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, top.Stream, top.ConsumerConfig(opts))
		if err != nil {
			refused++
			t.Logf("consumer to R3: %v", err)
		}
		return err == nil
	})
	t.Logf("consumer to R3: refused %d times first", refused)
	if got := cons.CachedInfo().Config.Replicas; got != 3 {
		t.Errorf("consumer has %d replicas after the update, want 3", got)
	}
	for _, name := range []string{top.Stream, top.DLQStream()} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas after the update, want 3", name, got)
		}
	}
}

// TestStatusStaleKVRecord covers a KV record that a worker could not move
// on (its writes failed while the bucket's stream elected a leader) although
// message_status has the message completed: once the KV record has not
// changed for statusstore.StaleAfter, the read answers PostgreSQL's record.
func TestStatusStaleKVRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testsvc.MigratedPool(t)
	pg := statusstore.NewPostgres(pool)
	h := setup(t, func(c *Config) { c.StatusFallback, c.Database = pg, pool })
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := now.Add(-time.Minute)
	completed := func(id string) statusstore.Record {
		return statusstore.Record{
			MessageID: id, Status: statusstore.Completed, Attempts: 1,
			ReceivedAt: old, UpdatedAt: now, CompletedAt: &now,
			History: []statusstore.Event{{Status: statusstore.Completed, At: now, Attempt: 1}},
		}
	}
	tests := []struct {
		name      string
		kv        statusstore.Record // MessageID is filled in
		inDB      bool
		wantState statusstore.State
		query     string
	}{
		{"stale accepted, completed in the database", statusstore.Record{Status: statusstore.Accepted, ReceivedAt: old, UpdatedAt: old}, true, statusstore.Completed, ""},
		{"stale processing, completed in the database, with wait", statusstore.Record{Status: statusstore.Processing, Attempts: 1, ReceivedAt: old, UpdatedAt: old}, true, statusstore.Completed, "?wait=100ms"},
		{"recent accepted: KV only", statusstore.Record{Status: statusstore.Accepted, ReceivedAt: now, UpdatedAt: now}, true, statusstore.Accepted, ""},
		{"stale accepted, not in the database", statusstore.Record{Status: statusstore.Accepted, ReceivedAt: old, UpdatedAt: old}, false, statusstore.Accepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uuid.NewString()
			kv := tt.kv
			kv.MessageID = id
			if err := h.store().Create(ctx, kv); err != nil {
				t.Fatal(err)
			}
			if tt.inDB {
				if err := pg.Create(ctx, completed(id)); err != nil {
					t.Fatal(err)
				}
			}
			res := h.get("/ingest/status/" + id + tt.query)
			if res.status != http.StatusOK {
				t.Fatalf("GET status: %d %s", res.status, res.body)
			}
			if got := decode[statusstore.Record](t, res.body).Status; got != tt.wantState {
				t.Fatalf("status %s, want %s", got, tt.wantState)
			}
		})
	}
}
