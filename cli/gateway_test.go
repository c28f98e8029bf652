package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

func TestGatewayAPIKeysFromListAndFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# ops\nglobex:k2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gs := gatewaySettings{apiKeys: "acme:k1", apiKeysFile: file}
	keys, err := gs.loadAPIKeys()
	if err != nil || !reflect.DeepEqual(keys, map[string]string{"k1": "acme", "k2": "globex"}) {
		t.Fatalf("keys %v, %v", keys, err)
	}
	gs.apiKeysFile = filepath.Join(t.TempDir(), "missing")
	if _, err := gs.loadAPIKeys(); err == nil {
		t.Fatal("missing keys file accepted")
	}
}

// lockedBuffer is a log sink the gateway writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestGatewayRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	ns := testsvc.NATS(t)
	top := testsvc.Topology(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runGateway(ctx, []string{"-port", "0", "-nats-url", ns.ClientURL(), "-stream", top.Stream,
			"-subject-prefix", top.SubjectPrefix, "-status-bucket", top.StatusBucket}, nil, &logs)
	}()
	addr := regexp.MustCompile(`msg="gateway listening" addr=(\S+)`)
	var m []string
	deadline := time.Now().Add(20 * time.Second)
	for m = addr.FindStringSubmatch(logs.String()); m == nil; m = addr.FindStringSubmatch(logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no listen address logged: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, port, err := net.SplitHostPort(m[1])
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://127.0.0.1:" + port + "/health")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("health %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runGateway: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runGateway did not return after cancel")
	}
}
