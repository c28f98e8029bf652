package dlqcmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/dlq/dlqtest"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func TestRedriveMaxRedrives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testsvc.NATS(t)
	top := testsvc.Topology(t)
	js, err := jetstream.New(testsvc.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	bucket, err := wire.Ensure(ctx, js, top)
	if err != nil {
		t.Fatal(err)
	}
	kv := statusstore.NewKV(bucket)
	atCap := dlqtest.DeadLetter(t, js, top, kv, 3)
	below := dlqtest.DeadLetter(t, js, top, kv, 2)

	var stdout, stderr bytes.Buffer
	err = Run(ctx, "nomnom", []string{"redrive", "--all", "--max-redrives", "3",
		"--nats-url", srv.ClientURL(), "--stream", top.Stream, "--subject-prefix", top.SubjectPrefix,
		"--status-bucket", top.StatusBucket}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "1 message(s) not redriven") {
		t.Errorf("redrive: %v, want 1 message not redriven", err)
	}
	out := stdout.String()
	if !strings.Contains(out, "capped\t"+atCap) || !strings.Contains(out, "limit is 3") {
		t.Errorf("output %q: want %s capped with the limit named", out, atCap)
	}
	if !strings.Contains(out, "redriven\t"+below) {
		t.Errorf("output %q: want %s redriven", out, below)
	}
	if r, err := kv.Get(ctx, atCap); err != nil || r.Status != statusstore.Failed || r.Redrives != 3 {
		t.Errorf("capped record: %s with %d redrives (%v), want failed with 3", r.Status, r.Redrives, err)
	}
	if r, err := kv.Get(ctx, below); err != nil || r.Status != statusstore.Accepted || r.Redrives != 3 {
		t.Errorf("redriven record: %s with %d redrives (%v), want accepted with 3", r.Status, r.Redrives, err)
	}
}

func TestRedriveRejectsNegativeMaxRedrives(t *testing.T) {
	t.Setenv("NOMNOM_MAX_REDRIVES", "-1")
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), "nomnom", []string{"redrive", "--all", "--nats-url", "nats://127.0.0.1:1"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "NOMNOM_MAX_REDRIVES") || !strings.Contains(err.Error(), "-1") {
		t.Errorf("redrive with NOMNOM_MAX_REDRIVES=-1: %v, want an error naming it", err)
	}
}
