package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsNode is one nats-server process of a three-node JetStream cluster:
// its ports and store survive a restart, as a node rebooting would.
type natsNode struct {
	*proc
	name       string
	URL        string
	monitorURL string
}

// startNATSCluster starts three nats-server processes routed to each other
// on loopback, named n1 to n3, with a store each.
func startNATSCluster(t testing.TB, logs *logBook) []*natsNode {
	t.Helper()
	const size = 3
	cports := make([]int, size)
	for i := range cports {
		cports[i] = freePort(t)
	}
	nodes := make([]*natsNode, size)
	for i := range nodes {
		var routes []string
		for j, p := range cports {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
			}
		}
		port, mport := freePort(t), freePort(t)
		name := fmt.Sprintf("n%d", i+1)
		p := startProc(t, logs, "nats-"+name, bin(t, "nats-server"), nil,
			"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport),
			"-js", "-sd", t.TempDir(), "-n", name,
			"--cluster_name", "nomnom", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cports[i]),
			"--routes", strings.Join(routes, ","))
		nodes[i] = &natsNode{proc: p, name: name,
			URL:        fmt.Sprintf("nats://127.0.0.1:%d", port),
			monitorURL: fmt.Sprintf("http://127.0.0.1:%d", mport)}
	}
	for _, n := range nodes {
		n.waitReady()
	}
	return nodes
}

func (n *natsNode) waitReady() {
	n.t.Helper()
	waitHTTP(n.t, n.name, n.monitorURL+"/healthz?js-enabled-only=true", 30*time.Second)
}

// seeds is the NATS_URL of the whole cluster.
func seeds(nodes []*natsNode) string {
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// streamLeader asks the cluster which node leads stream.
func streamLeader(t testing.TB, nodes []*natsNode, stream string) *natsNode {
	t.Helper()
	nc, err := nats.Connect(seeds(nodes))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var leader *natsNode
	waitFor(t, "a leader for "+stream, time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		for _, n := range nodes {
			if n.name == info.Cluster.Leader {
				leader = n
				return true
			}
		}
		return false
	})
	return leader
}

// newClusterStack starts gateway and workers on a NATS cluster with R3
// streams, bucket and consumer.
func newClusterStack(t *testing.T, nodes []*natsNode, logs *logBook, workers int, dbURL string) *stack {
	t.Helper()
	s := &stack{t: t, logs: logs, dbURL: dbURL}
	s.topo = clusterTopology(seeds(nodes), 3)
	if dbURL != "" {
		s.migrate()
	}
	s.startGateway()
	for range workers {
		s.startWorker()
	}
	return s
}

// clusterTopology is the NATS_* environment of a stack of its own.
func clusterTopology(natsURL string, replicas int) []string {
	id := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", "")[:10])
	return []string{
		"NATS_URL=" + natsURL,
		"NATS_REPLICAS=" + strconv.Itoa(replicas),
		"NATS_STREAM=C" + id,
		"NATS_SUBJECT_PREFIX=c" + strings.ToLower(id),
		"NATS_STATUS_BUCKET=CS" + id,
		"NATS_CONSUMER=tpch-" + strings.ToLower(id),
		"LOG_LEVEL=info",
	}
}

// topoValue returns a NATS_* setting of the stack.
func (s *stack) topoValue(key string) string {
	for _, kv := range s.topo {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// manyOrders returns n orders made from the example data: copies beyond
// the first get order keys of their own (the key plus a multiple of a
// million), so each copy writes rows of its own.
func manyOrders(t testing.TB, n int) []order {
	t.Helper()
	base := loadOrders(t)
	out := make([]order, 0, n)
	for i := 0; len(out) < n; i++ {
		o := base[i%len(base)]
		if round := i / len(base); round > 0 {
			o = rekey(t, o, round*1_000_000)
		}
		out = append(out, o)
	}
	return out
}

// rekey returns the order with its order key moved by offset.
func rekey(t testing.TB, o order, offset int) order {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(o.raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("order %s: %v", o.key, err)
	}
	k, err := strconv.Atoi(o.key)
	if err != nil {
		t.Fatalf("order key %q: %v", o.key, err)
	}
	key := strconv.Itoa(k + offset)
	m["order_key"] = json.Number(key)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := order{raw: raw, key: key}
	for _, lk := range o.lineKeys {
		_, line, _ := strings.Cut(lk, ":")
		out.lineKeys = append(out.lineKeys, key+":"+line)
	}
	return out
}

// steadyLoad posts orders at a fixed rate, each from its own request, and
// retries a refused post (503/429, or a connection error) after its
// Retry-After as a real client would, until the gateway answers 202.
type steadyLoad struct {
	mu       sync.Mutex
	ids      []string
	acceptAt []time.Time // when each 202 arrived, in arrival order
	sentAt   []time.Time // when the request answered 202 at acceptAt[i] was sent
	retried  int         // refused attempts that were retried
	refusals map[string]int
	gaveUp   int
	done     chan struct{}
}

func postSteadily(c *client, orders []order, rate int) *steadyLoad {
	l := &steadyLoad{done: make(chan struct{}), refusals: map[string]int{}}
	queue := make(chan order)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for o := range queue {
				l.post(c, o)
			}
		})
	}
	go func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for _, o := range orders {
			<-tick.C
			queue <- o
		}
		close(queue)
		wg.Wait()
		close(l.done)
	}()
	return l
}

// post sends one order until it is accepted, for at most two minutes.
func (l *steadyLoad) post(c *client, o order) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		sent := time.Now()
		a, err := c.post(o.raw)
		if err == nil && a.code == http.StatusAccepted {
			var acc accepted
			if json.Unmarshal(a.body, &acc) == nil && acc.MessageID != "" {
				l.mu.Lock()
				l.ids = append(l.ids, acc.MessageID)
				l.acceptAt = append(l.acceptAt, time.Now())
				l.sentAt = append(l.sentAt, sent)
				l.mu.Unlock()
				return
			}
		}
		wait := 200 * time.Millisecond
		reason := "connection error"
		if err == nil {
			reason = strconv.Itoa(a.code)
			if s, e := strconv.Atoi(a.header.Get("Retry-After")); e == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, 2*time.Second)
			}
		}
		l.mu.Lock()
		l.retried++
		l.refusals[reason]++
		l.mu.Unlock()
		time.Sleep(wait)
	}
	l.mu.Lock()
	l.gaveUp++
	l.mu.Unlock()
}

func (l *steadyLoad) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// pause measures the ingest pause around at: the longest gap between two
// consecutive 202s, and the time from at to the first 202 of a request sent
// after it.
func (l *steadyLoad) pause(at time.Time) (gap, firstAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := slices.Clone(l.acceptAt)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if times[i].After(at) || times[i-1].After(at) {
			gap = max(gap, times[i].Sub(times[i-1]))
		}
	}
	firstAfter = -1
	for i, sent := range l.sentAt {
		if sent.After(at) && (firstAfter < 0 || l.acceptAt[i].Sub(at) < firstAfter) {
			firstAfter = l.acceptAt[i].Sub(at)
		}
	}
	return gap, firstAfter
}

// TestClusterLeaderStopped runs the platform on a three-node JetStream
// cluster with R3 streams, bucket and consumer, stops the node leading the
// message stream under a steady load (SIGKILL, as a crashed node; SIGTERM,
// as an orderly shutdown) and brings it back later on the same store and
// ports: every message answered 202 completes, each row is written exactly
// once, and the ingest pause is measured (logged, never asserted).
func TestClusterLeaderStopped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sig  syscall.Signal
	}{
		{"killed", syscall.SIGKILL},
		{"terminated", syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			leaderStopped(t, tt.sig)
		})
	}
}

func leaderStopped(t *testing.T, sig syscall.Signal) {
	logs := newLogBook(t)
	nodes := startNATSCluster(t, logs)
	s := newClusterStack(t, nodes, logs, 2, sharedPostgres(t))
	const total, rate = 1200, 100 // twelve seconds of load
	orders := manyOrders(t, total)
	load := postSteadily(s.client, orders, rate)

	waitFor(t, "a third of the load to be accepted", completionDeadline, func() bool { return load.accepted() >= total/3 })
	stream := s.topoValue("NATS_STREAM")
	leader := streamLeader(t, nodes, stream)
	stoppedAt := time.Now()
	leader.Signal(sig)
	if err := leader.Wait(time.Minute); err != nil && sig != syscall.SIGKILL {
		t.Logf("%s after %s: %v", leader.name, sig, err)
	}
	t.Logf("e2e: cluster: %s %s, the leader of %s, after %d accepted", sig, leader.name, stream, load.accepted())
	waitFor(t, "two thirds of the load to be accepted", completionDeadline, func() bool { return load.accepted() >= 2*total/3 })
	leader.Restart()
	leader.waitReady()
	t.Logf("e2e: cluster: restarted %s after %d accepted; new leader %s", leader.name, load.accepted(), streamLeader(t, nodes, stream).name)
	<-load.done

	recs := s.client.awaitTerminal(t, load.ids, completionDeadline)
	rc := checkRows(t, s.dbURL, orders)
	completed := 0
	var bad []string
	for _, id := range load.ids {
		if r := recs[id]; r.Status == "completed" {
			completed++
		} else if len(bad) < 10 {
			bad = append(bad, fmt.Sprintf("%s: %q attempts=%d error=%q history=%v", id, r.Status, r.Attempts, r.Error, r.statuses()))
		}
	}
	gap, first := load.pause(stoppedAt)
	lost := len(load.ids) - completed + rc.missing()
	t.Logf("e2e: cluster: sent=%d accepted=%d completed=%d rows=%d duplicates=%d lost=%d pause=%s first_202_after_stop=%s retried=%d %v gave_up=%d signal=%s",
		len(orders), len(load.ids), completed, rc.rows(), rc.duplicates(), lost,
		gap.Round(time.Millisecond), first.Round(time.Millisecond), load.retried, load.refusals, load.gaveUp, sig)
	if load.gaveUp > 0 {
		t.Errorf("%d orders were never accepted within two minutes of retries", load.gaveUp)
	}
	if completed != len(load.ids) {
		t.Errorf("%d of %d accepted messages did not complete, e.g.:\n%s", len(load.ids)-completed, len(load.ids), strings.Join(bad, "\n"))
	}
	if rc.missing() > 0 {
		t.Errorf("rows missing: %d orders, %d line items", rc.orders.missing, rc.lines.missing)
	}
	if rc.duplicates() > 0 {
		t.Errorf("duplicate rows: %d orders, %d line items", rc.orders.duplicates, rc.lines.duplicates)
	}
	statuses := statusCounts(t, s.dbURL, load.ids)
	if statuses["completed"] != len(load.ids) {
		t.Errorf("message_status: %v, want %d completed", statuses, len(load.ids))
	}
}

// TestClusterBucketLeaderKilled SIGKILLs the node that leads the status
// bucket's stream, and only that stream, while a worker works through a
// backlog. For the seconds of the election the worker's KV writes fail and
// it gives up on them, after committing the messages to PostgreSQL, so some
// KV records stay accepted or processing. Every message must still read
// completed through the gateway, which answers a KV record that has not
// moved for a while from message_status.
func TestClusterBucketLeaderKilled(t *testing.T) {
	t.Parallel()
	logs := newLogBook(t)
	nodes := startNATSCluster(t, logs)
	s := &stack{t: t, logs: logs, dbURL: sharedPostgres(t), workerEnv: []string{"NOMNOM_BATCH_SIZE=1"}}
	s.topo = clusterTopology(seeds(nodes), 3)
	s.migrate()
	s.startGateway()
	orders := manyOrders(t, 3000)
	ids := postBatches(t, s.client, orders, 100)
	s.startWorker()
	bucket := "KV_" + s.topoValue("NATS_STATUS_BUCKET")
	leader := streamLeader(t, nodes, bucket)
	moveLeadersOff(t, nodes, leader, s.topoValue("NATS_STREAM"), s.topoValue("NATS_CONSUMER"))
	waitFor(t, "the worker to be under way", completionDeadline, func() bool { return statusCounts(t, s.dbURL, ids)["completed"] >= 50 })
	leader.Kill()
	atKill := statusCounts(t, s.dbURL, ids)["completed"]
	waitFor(t, "every message committed", completionDeadline, func() bool { return statusCounts(t, s.dbURL, ids)["completed"] == len(ids) })
	leader.Restart()
	leader.waitReady()
	failedKV := strings.Count(logText(logs), "status update in KV failed")
	recs := s.client.awaitTerminal(t, ids, completionDeadline)
	rc := checkRows(t, s.dbURL, orders)
	completed, notCompleted := 0, map[string]int{}
	for _, id := range ids {
		if r := recs[id]; r.Status == "completed" {
			completed++
		} else {
			notCompleted[r.Status]++
		}
	}
	t.Logf("e2e: cluster: bucket leader %s killed at completed=%d: sent=%d completed=%d rows=%d duplicates=%d lost=%d failed KV writes=%d",
		leader.name, atKill, len(ids), completed, rc.rows(), rc.duplicates(), len(ids)-completed+rc.missing(), failedKV)
	if completed != len(ids) {
		t.Errorf("%d of %d messages do not read completed: %v", len(ids)-completed, len(ids), notCompleted)
	}
	if rc.missing() > 0 || rc.duplicates() > 0 {
		t.Errorf("rows: %d missing, %d duplicates", rc.missing(), rc.duplicates())
	}
}

// logText returns the lines the book holds.
func logText(b *logBook) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// moveLeadersOff asks the stream and the consumer to elect another leader
// until neither is led by node, so that node leads only what the test
// means to kill.
func moveLeadersOff(t testing.TB, nodes []*natsNode, node *natsNode, stream, consumer string) {
	t.Helper()
	nc, err := nats.Connect(seeds(nodes))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream and consumer leaders on other nodes", time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		si, err := st.Info(ctx)
		if err != nil || si.Cluster == nil {
			return false
		}
		c, err := st.Consumer(ctx, consumer)
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		if err != nil || ci.Cluster == nil {
			return false
		}
		moved := true
		if si.Cluster.Leader == node.name {
			_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 5*time.Second)
			moved = false
		}
		if ci.Cluster.Leader == node.name {
			_, _ = nc.Request("$JS.API.CONSUMER.LEADER.STEPDOWN."+stream+"."+consumer, nil, 5*time.Second)
			moved = false
		}
		return moved
	})
}

// TestClusterThroughput measures, one after the other on the same machine,
// a single R1 node against the R3 cluster: what one gateway accepts per
// second (`nomnom bench`, POST /ingest/message at 64 connections, no
// workers), and what one worker completes end to end (example orders in
// NDJSON batches), with the CPU time each process spent, so that sizing can
// be done per core. It runs alone (not in parallel) so the runs compete
// with nothing else of the suite; it asserts that every run was accepted
// and completed without errors, never a rate.
func TestClusterThroughput(t *testing.T) {
	logs := newLogBook(t)
	single := startNATS(t, logs)
	r1 := measureThroughput(t, logs, single.URL, []*proc{single.proc}, 1)
	single.Term()
	nodes := startNATSCluster(t, logs)
	procs := make([]*proc, len(nodes))
	for i, n := range nodes {
		procs[i] = n.proc
	}
	r3 := measureThroughput(t, logs, seeds(nodes), procs, 3)
	t.Logf("e2e: cluster: R3/R1 gateway msgs/s=%.2f end-to-end orders/s=%.2f NATS CPU per message=%.2f",
		r3.ingest.MsgsPerSec/r1.ingest.MsgsPerSec, r3.e2e.E2E.PerSec/r1.e2e.E2E.PerSec,
		(r3.ingestNATSCPU.Seconds()/float64(r3.ingest.Accepted))/(r1.ingestNATSCPU.Seconds()/float64(r1.ingest.Accepted)))
}

// throughput is what measureThroughput measured.
type throughput struct {
	ingest, e2e                     benchReport
	ingestGatewayCPU, ingestNATSCPU time.Duration
	e2eWorkerCPU, e2eGatewayCPU     time.Duration
	e2eNATSCPU                      time.Duration
}

// measureThroughput runs the two phases against NATS at natsURL (whose
// server processes are nats) with the given replicas, and logs them.
func measureThroughput(t *testing.T, logs *logBook, natsURL string, nats []*proc, replicas int) throughput {
	t.Helper()
	var m throughput
	in := &stack{t: t, logs: logs, topo: clusterTopology(natsURL, replicas)}
	in.startGateway()
	gw0, n0 := cpuTime(t, in.gateway.proc), cpuTime(t, nats...)
	m.ingest = benchRun(t, logs, in.gateway.url, "--mode", "message", "-c", "64", "--size", "256", "--duration", "10s")
	m.ingestGatewayCPU, m.ingestNATSCPU = cpuTime(t, in.gateway.proc)-gw0, cpuTime(t, nats...)-n0
	in.gateway.Term()

	e := &stack{t: t, logs: logs, dbURL: sharedPostgres(t), topo: clusterTopology(natsURL, replicas)}
	e.migrate()
	e.startGateway()
	w := e.startWorker()
	gw0, n0, w0 := cpuTime(t, e.gateway.proc), cpuTime(t, nats...), cpuTime(t, w.proc)
	m.e2e = benchRun(t, logs, e.gateway.url, "--mode", "e2e", "-c", "16", "--batch-size", "100", "-n", "30000",
		"--file", repoRoot+"/examples/tpch/testdata/orders.ndjson", "--follow-timeout", "300s")
	m.e2eGatewayCPU, m.e2eNATSCPU, m.e2eWorkerCPU = cpuTime(t, e.gateway.proc)-gw0, cpuTime(t, nats...)-n0, cpuTime(t, w.proc)-w0
	if m.e2e.E2E == nil || m.e2e.E2E.Completed != m.e2e.Accepted {
		t.Errorf("R%d end to end: %+v", replicas, m.e2e.E2E)
	}
	perCPU := func(n float64, d time.Duration) float64 { return n / d.Seconds() }
	t.Logf("e2e: cluster: R%d ingest: %.0f msgs/s p99=%.1fms; per CPU-second: gateway %.0f msgs, NATS %.0f msgs",
		replicas, m.ingest.MsgsPerSec, m.ingest.Latency.P99,
		perCPU(float64(m.ingest.Accepted), m.ingestGatewayCPU), perCPU(float64(m.ingest.Accepted), m.ingestNATSCPU))
	if m.e2e.E2E != nil {
		t.Logf("e2e: cluster: R%d end to end, one worker, batches of 100: %.0f orders/s %.0f rows/s p99=%.0fms; per CPU-second: worker %.0f orders, gateway %.0f, NATS %.0f",
			replicas, m.e2e.E2E.PerSec, m.e2e.E2E.RowsPerSec, m.e2e.E2E.Latency.P99,
			perCPU(float64(m.e2e.E2E.Completed), m.e2eWorkerCPU), perCPU(float64(m.e2e.E2E.Completed), m.e2eGatewayCPU),
			perCPU(float64(m.e2e.E2E.Completed), m.e2eNATSCPU))
	}
	e.workers[0].Term()
	e.gateway.Term()
	return m
}

// cpuTime sums the user and system CPU time the processes have used so
// far, from /proc/<pid>/stat (in USER_HZ ticks, 100 a second on Linux).
func cpuTime(t testing.TB, procs ...*proc) time.Duration {
	t.Helper()
	var total time.Duration
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			t.Fatalf("CPU time of %s: %v", p.name, err)
		}
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return total
}

// benchReport is the part of `nomnom bench --json` the throughput test reads.
type benchReport struct {
	Sent       int64            `json:"sent"`
	Accepted   int64            `json:"accepted"`
	Errors     map[string]int64 `json:"errors"`
	MsgsPerSec float64          `json:"msgs_per_s"`
	Latency    struct {
		P99 float64 `json:"p99_ms"`
	} `json:"latency"`
	E2E *struct {
		Completed  int64   `json:"completed"`
		PerSec     float64 `json:"completed_per_s"`
		RowsPerSec float64 `json:"rows_per_s"`
		Latency    struct {
			P99 float64 `json:"p99_ms"`
		} `json:"latency"`
	} `json:"e2e"`
}

// benchRun runs `nomnom bench --json` against the gateway at url.
func benchRun(t *testing.T, logs *logBook, url string, args ...string) benchReport {
	t.Helper()
	cmd := exec.Command(bin(t, "nomnom"), append([]string{"bench", "--url", url, "--json"}, args...)...)
	cmd.Env = baseEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr := logs.writer("bench")
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nomnom bench: %v\n%s", err, out.String())
	}
	var r benchReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("nomnom bench --json: %v\n%s", err, out.String())
	}
	if r.Accepted == 0 || r.Accepted != r.Sent || len(r.Errors) > 0 {
		t.Errorf("nomnom bench %v against %s: sent=%d accepted=%d errors=%v", args, url, r.Sent, r.Accepted, r.Errors)
	}
	return r
}
