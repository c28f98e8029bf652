package gateway

import (
	"context"
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
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
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
	return c
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
	if !c.servers[i].ReadyForConnections(10 * time.Second) {
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
// configuration, and concurrent compare-and-swap updates of one record on an
// R3 bucket (whose conflicts carry error code 10164, not 10071) all land.
func TestClusterReplicatedConsumerAndCAS(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	js := jsOn(t, c.servers[2])
	kv, _ := ensureReplicated(t, js, top)
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

	store := statusstore.NewKV(kv)
	id := uuid.NewString()
	if err := store.Create(ctx, statusstore.Record{MessageID: id, Status: statusstore.Accepted}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 10
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := store.Update(ctx, id, func(cur statusstore.Record, found bool) (statusstore.Record, error) {
					cur.Attempts++
					return cur, nil
				})
				if err != nil {
					t.Errorf("update: %v", err)
				}
			}
		})
	}
	wg.Wait()
	eventually(t, "every update applied", func() bool {
		rec, err := freshGet(ctx, js, top, id)
		return err == nil && rec.Attempts == writers*each
	})
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
