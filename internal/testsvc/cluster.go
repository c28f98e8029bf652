package testsvc

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/wire"
)

// Cluster is three embedded JetStream servers routed to each other on
// loopback, each with a store of its own, for the tests of replicated
// streams and buckets.
type Cluster struct {
	t testing.TB
	// Servers are the cluster's servers, in start order.
	Servers []*server.Server
	opts    []*server.Options
}

// StartCluster starts a cluster; its servers are shut down when the test
// ends.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	const n = 3
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	c := &Cluster{t: t, Servers: make([]*server.Server, n), opts: make([]*server.Options, n)}
	for i := range c.Servers {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		c.opts[i] = &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       FreePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "nomnom", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		c.start(i)
	}
	for i := range c.Servers {
		if !c.Servers[i].ReadyForConnections(30 * time.Second) {
			t.Fatalf("nats server %d not ready", i+1)
		}
	}
	// Registered after the servers' cleanups, so it runs before them.
	t.Cleanup(c.settle)
	return c
}

// settle waits, for a few seconds at most, until every running server hosts
// the same number of streams and consumers: a server shut down while it is
// still creating a replica leaves that replica's store goroutines behind.
func (c *Cluster) settle() {
	deadline := time.Now().Add(10 * time.Second)
	for !c.settled() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) settled() bool {
	var counts []int
	for _, s := range c.Servers {
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

// start starts server i on its options.
func (c *Cluster) start(i int) {
	c.t.Helper()
	s, err := server.NewServer(c.opts[i].Clone())
	if err != nil {
		c.t.Fatalf("nats server %d: %v", i+1, err)
	}
	go s.Start()
	c.Servers[i] = s
	c.t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
}

// Leader returns the index of the server leading stream, waiting for an
// election when there is none yet.
func (c *Cluster) Leader(stream string) int {
	c.t.Helper()
	l := -1
	Eventually(c.t, 20*time.Second, "a leader for "+stream, func() bool {
		for i, s := range c.Servers {
			if s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				l = i
				return true
			}
		}
		return false
	})
	return l
}

// Follower returns the index of a server that replicates stream but does
// not lead it.
func (c *Cluster) Follower(stream string) int {
	return (c.Leader(stream) + 1) % len(c.Servers)
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// JetStream returns a JetStream context on a connection of its own to s.
func JetStream(t testing.TB, s *server.Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// EnsureReplicated applies the topology (as its one owner would) on a cluster that may still be
// electing its meta leader, retrying as the gateway and the worker do, and
// returns the bucket and how many attempts failed first.
func EnsureReplicated(t testing.TB, js jetstream.JetStream, top wire.Topology) (jetstream.KeyValue, int) {
	t.Helper()
	var kv jetstream.KeyValue
	failed := 0
	Eventually(t, 30*time.Second, "the topology applied on the cluster", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if kv, err = wire.Apply(ctx, js, top, wire.ApplyOptions{}); err != nil {
			failed++
			t.Logf("apply on the cluster (attempt %d): %v", failed, err)
		}
		return err
	})
	return kv, failed
}
