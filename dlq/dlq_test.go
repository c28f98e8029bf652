package dlq

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func TestNewRejectsIncompleteConfig(t *testing.T) {
	t.Parallel()
	js, err := jetstream.New(testsvc.Connect(t, testsvc.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	bad := wire.DefaultTopology()
	bad.Stream = "a b"
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Topology: wire.DefaultTopology()}, "JetStream"},
		{Config{JetStream: js, Topology: bad}, "Topology"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want an error naming %s", err, tc.want)
		}
	}
}

func TestRedriveNeedsKVAndSelection(t *testing.T) {
	t.Parallel()
	srv := testsvc.NATS(t)
	top := testsvc.Topology(t)
	js, err := jetstream.New(testsvc.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := wire.Ensure(context.Background(), js, top)
	if err != nil {
		t.Fatal(err)
	}
	noKV, err := New(Config{JetStream: js, Topology: top})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noKV.Redrive(context.Background(), RedriveOptions{All: true}); err == nil || !strings.Contains(err.Error(), "KV") {
		t.Errorf("redrive without a KV store: %v, want an error naming it", err)
	}
	a, err := New(Config{JetStream: js, Topology: top, KV: statusstore.NewKV(kv)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Redrive(context.Background(), RedriveOptions{}); err == nil {
		t.Error("redrive of nothing selected: no error")
	}
	if _, err := a.Redrive(context.Background(), RedriveOptions{IDs: []string{"not-a-uuid"}}); err == nil || !strings.Contains(err.Error(), "not-a-uuid") {
		t.Errorf("redrive of a bad id: %v, want an error naming it", err)
	}
	dls, err := a.List(context.Background(), ListOptions{})
	if err != nil || len(dls) != 0 {
		t.Errorf("list of an empty DLQ: %v, %v", dls, err)
	}
}
