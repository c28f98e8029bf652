package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// cluster is three embedded JetStream servers routed to each other on
// loopback, each with a store of its own.
type cluster struct {
	t       *testing.T
	servers []*server.Server
	opts    []*server.Options
}

// startCluster starts a cluster; its servers are shut down when the test
// ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	const n = 3
	ports := make([]int, n)
	for i := range ports {
		ports[i] = freePort(t)
	}
	c := &cluster{t: t, servers: make([]*server.Server, n), opts: make([]*server.Options, n)}
	for i := range c.servers {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		c.opts[i] = &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       freePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "nomnom", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		c.start(i)
	}
	for i := range c.servers {
		c.ready(i)
	}
	// Registered after the servers' cleanups, so it runs before them.
	t.Cleanup(c.settle)
	return c
}

// settle waits, for a few seconds at most, until every running server hosts
// the same number of streams and consumers: a server shut down while it is
// still creating a replica leaves that replica's store goroutines behind.
func (c *cluster) settle() {
	deadline := time.Now().Add(10 * time.Second)
	for !c.settled() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cluster) settled() bool {
	var counts []int
	for _, s := range c.servers {
		if !s.Running() {
			continue
		}
		info, err := s.Jsz(&server.JSzOptions{})
		if err != nil {
			return false
		}
		counts = append(counts, info.Streams, info.Consumers)
	}
	for i := 2; i < len(counts); i++ {
		if counts[i] != counts[i%2] {
			return false
		}
	}
	return true
}

// start starts server i (again) on its options: same ports, same store.
func (c *cluster) start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i].Clone())
	if err != nil {
		c.t.Fatalf("nats server %d: %v", i+1, err)
	}
	go s.Start()
	c.servers[i] = s
	c.t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
}

func (c *cluster) ready(i int) {
	c.t.Helper()
	if !c.servers[i].ReadyForConnections(30 * time.Second) {
		c.t.Fatalf("nats server %d not ready", i+1)
	}
}

// stop shuts server i down.
func (c *cluster) stop(i int) {
	c.servers[i].Shutdown()
	c.servers[i].WaitForShutdown()
}

// leader returns the index of the server leading stream.
func (c *cluster) leader(stream string) int {
	c.t.Helper()
	l := -1
	eventually(c.t, "a leader for "+stream, func() bool {
		for i, s := range c.servers {
			if s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

// follower returns the index of a server that replicates stream but does
// not lead it.
func (c *cluster) follower(stream string) int {
	return (c.leader(stream) + 1) % len(c.servers)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ensureReplicated ensures the topology on a cluster that may still be
// electing its meta leader, retrying as the gateway and the worker do, and
// returns the bucket and how many attempts failed first.
func ensureReplicated(t *testing.T, js jetstream.JetStream, top wire.Topology) (jetstream.KeyValue, int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for failed := 0; ; failed++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		kv, err := wire.Ensure(ctx, js, top)
		cancel()
		if err == nil {
			return kv, failed
		}
		if time.Now().After(deadline) {
			t.Fatalf("ensure on the cluster: %v", err)
		}
		t.Logf("ensure on the cluster (attempt %d): %v", failed+1, err)
		time.Sleep(250 * time.Millisecond)
	}
}

// TestClusterStatusReadAfterWrite reads every message's status right after
// its 202 through a gateway connected to a follower of the status bucket's
// stream, whose direct gets may not have applied the create yet: the read
// must never be 404.
func TestClusterStatusReadAfterWrite(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	kv, failed := ensureReplicated(t, jsOn(t, c.servers[0]), top)
	t.Logf("cluster: ensure succeeded after %d failed attempts", failed)
	if got := kvReplicas(t, kv); got != 3 {
		t.Fatalf("bucket has %d replicas, want 3", got)
	}
	f := c.servers[c.follower("KV_"+top.StatusBucket)]
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

// TestClusterLeaderGet checks the leader read on a replicated bucket: a
// record, a key never written, and a deleted key.
func TestClusterLeaderGet(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	kv, _ := ensureReplicated(t, jsOn(t, c.servers[0]), top)
	h := setupOn(t, c.servers[1], testsvc.Connect(t, c.servers[1]), func(c *Config) { c.Topology = top })
	<-h.srv.Ready()
	ctx := context.Background()
	store := statusstore.NewKV(kv)
	present, deleted := uuid.NewString(), uuid.NewString()
	for _, id := range []string{present, deleted} {
		if err := store.Create(ctx, statusstore.Record{MessageID: id, Status: statusstore.Accepted}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		id       string
		notFound bool
	}{
		{"record", present, false},
		{"never written", uuid.NewString(), true},
		{"deleted", deleted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := h.srv.leaderGet(ctx, tt.id)
			if tt.notFound {
				if !errors.Is(err, statusstore.ErrNotFound) {
					t.Fatalf("leaderGet: %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.MessageID != tt.id || rec.Status != statusstore.Accepted {
				t.Fatalf("leaderGet: %+v", rec)
			}
		})
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
	c := startCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	js := jsOn(t, c.servers[2])
	ensureReplicated(t, js, top)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cons, err := js.CreateOrUpdateConsumer(ctx, top.Stream, top.ConsumerConfig(wire.ConsumerOptions{
		Durable: "workers", AckWait: 30 * time.Second, MaxAckPending: 1000,
	}))
	if err != nil {
		t.Fatalf("R3 consumer: %v", err)
	}
	eventually(t, "consumer replicas", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2
	})

	// The store talks to the bucket leader's server, whose own replica
	// answers its direct gets, so its reads see every acknowledged write.
	onLeader, err := jsOn(t, c.servers[c.leader("KV_"+top.StatusBucket)]).KeyValue(ctx, top.StatusBucket)
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

func jsOn(t *testing.T, s *server.Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(testsvc.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return js
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
	c := startCluster(t)
	top := testsvc.Topology(t)
	js := jsOn(t, c.servers[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ensureReplicated(t, js, top)
	opts := wire.ConsumerOptions{Durable: "workers", AckWait: 30 * time.Second, MaxAckPending: 1000}
	if _, err := js.CreateOrUpdateConsumer(ctx, top.Stream, top.ConsumerConfig(opts)); err != nil {
		t.Fatalf("R1 consumer: %v", err)
	}
	top.Replicas = 3
	kv, _ := ensureReplicated(t, js, top)
	if got := kvReplicas(t, kv); got != 3 {
		t.Errorf("bucket has %d replicas after the update, want 3", got)
	}
	// Right after the stream's update the server may still refuse an R3
	// consumer ("replica count exceeds parent stream", 10126) until the new
	// peers are in place; the worker's start is retried the same way.
	var cons jetstream.Consumer
	refused := 0
	eventually(t, "the consumer at R3", func() bool {
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
// changed for kvStaleAfter, the read answers PostgreSQL's record.
func TestStatusStaleKVRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testsvc.Postgres(t)
	if err := migrations.Up(ctx, db, migrations.Platform, migrations.PlatformTable); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
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
