package natsconn

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// TestClosedForGood shows the failure the long-running commands exit on: a
// protocol error the server answers with -ERR (here a control line longer
// than the server allows) makes nats.go close the connection without
// reconnecting, however many reconnects it was given.
func TestClosedForGood(t *testing.T) {
	t.Parallel()
	ns := testsvc.NATS(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	closed := ClosedForGood(nc)
	if err := nc.Publish(strings.Repeat("A", 5000), []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatalf("connection not closed; status %s", nc.Status())
	}
	err = ClosedError(nc, slog.New(slog.DiscardHandler))
	if !strings.Contains(err.Error(), "control line") {
		t.Fatalf("error %q does not say why the connection closed", err)
	}
	if !nc.IsClosed() {
		t.Fatalf("status %s, want closed", nc.Status())
	}
}
