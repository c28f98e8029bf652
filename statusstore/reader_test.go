package statusstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

// TestReaderGet reads through KV, the fallback store and "fresher wins",
// on a real bucket and a real message_status table.
func TestReaderGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := testsvc.NATS(t)
	nc := testsvc.Connect(t, ns)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	top := testsvc.Topology(t)
	bucket, err := wire.Ensure(ctx, js, top)
	if err != nil {
		t.Fatal(err)
	}
	kv := NewKV(bucket)
	pool, _ := testsvc.MigratedPool(t)
	pg := NewPostgres(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := now.Add(-time.Minute)
	completed := func(id string) Record {
		return Record{
			MessageID: id, Status: Completed, Attempts: 1, ReceivedAt: old, UpdatedAt: now, CompletedAt: &now,
			History: []Event{{Status: Completed, At: now, Attempt: 1}},
		}
	}
	tests := []struct {
		name       string
		inKV       *Record // MessageID is filled in
		inDB       bool    // a completed record in message_status
		noKV       bool    // the bucket is not ensured yet
		noFallback bool
		want       State
		wantErr    error  // errors.Is
		wantInErr  string // for a failure
	}{
		{name: "in KV", inKV: &Record{Status: Accepted, ReceivedAt: now, UpdatedAt: now}, want: Accepted},
		{name: "KV miss, in the database", inDB: true, want: Completed},
		{name: "nowhere", wantErr: ErrNotFound},
		{name: "nowhere, no fallback", noFallback: true, wantErr: ErrNotFound},
		{name: "stale in KV, completed in the database", inKV: &Record{Status: Accepted, ReceivedAt: old, UpdatedAt: old}, inDB: true, want: Completed},
		{name: "recent in KV, completed in the database: KV only", inKV: &Record{Status: Processing, Attempts: 1, ReceivedAt: now, UpdatedAt: now}, inDB: true, want: Processing},
		{name: "stale in KV, not in the database", inKV: &Record{Status: Accepted, ReceivedAt: old, UpdatedAt: old}, want: Accepted},
		{name: "stale in KV, no fallback", inKV: &Record{Status: Accepted, ReceivedAt: old, UpdatedAt: old}, noFallback: true, want: Accepted},
		{name: "bucket not ensured, in the database", noKV: true, inDB: true, want: Completed},
		{name: "bucket not ensured, nowhere", noKV: true, wantInErr: "status bucket: NATS is not reachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := uuid.NewString()
			if tt.inKV != nil {
				r := *tt.inKV
				r.MessageID = id
				if r.UpdatedAt.Equal(now) { // recent: as of this subtest, which may start late
					r.ReceivedAt, r.UpdatedAt = time.Now().UTC(), time.Now().UTC()
				}
				if err := kv.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if tt.inDB {
				if err := pg.Create(ctx, completed(id)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := ReaderConfig{Conn: nc, Bucket: top.StatusBucket, Replicas: 1, Fallback: pg, Logger: testsvc.Logger(t)}
			if tt.noFallback {
				cfg.Fallback = nil
			}
			store := kv
			if tt.noKV {
				store = nil
			}
			got, err := NewReader(cfg).Get(ctx, store, id)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get = %+v, %v; want %v", got, err, tt.wantErr)
				}
			case tt.wantInErr != "":
				if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.wantInErr) {
					t.Fatalf("Get = %+v, %v; want a failure naming %q", got, err, tt.wantInErr)
				}
			case err != nil:
				t.Fatalf("Get: %v", err)
			case got.MessageID != id || got.Status != tt.want:
				t.Fatalf("Get = %s %s, want %s %s", got.MessageID, got.Status, id, tt.want)
			}
		})
	}
}

// TestReaderLeaderGet checks the leader read on a replicated bucket: a
// record, a key never written, and a deleted key.
func TestReaderLeaderGet(t *testing.T) {
	t.Parallel()
	c := testsvc.StartCluster(t)
	top := testsvc.Topology(t)
	top.Replicas = 3
	kv, _ := testsvc.EnsureReplicated(t, testsvc.JetStream(t, c.Servers[0]), top)
	nc := testsvc.Connect(t, c.Servers[1])
	ctx := context.Background()
	store := NewKV(kv)
	present, deleted := uuid.NewString(), uuid.NewString()
	for _, id := range []string{present, deleted} {
		if err := store.Create(ctx, Record{MessageID: id, Status: Accepted}); err != nil {
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
			rec, err := leaderGet(ctx, nc, top.StatusBucket, tt.id)
			if tt.notFound {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("leaderGet: %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.MessageID != tt.id || rec.Status != Accepted {
				t.Fatalf("leaderGet: %+v", rec)
			}
		})
	}
}

// TestDecodeMsgGet reads the STREAM.MSG.GET answers the server can give.
func TestDecodeMsgGet(t *testing.T) {
	t.Parallel()
	id := "3f1c2d9e-0000-4000-8000-000000000001"
	tests := []struct {
		name      string
		answer    string
		want      State
		notFound  bool
		wantInErr string
	}{
		{"record", `{"message":{"data":"eyJtZXNzYWdlX2lkIjoiM2YxYzJkOWUtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAxIiwic3RhdHVzIjoiYWNjZXB0ZWQifQ=="}}`, Accepted, false, ""},
		{"no message", `{"error":{"code":404,"err_code":10037,"description":"no message found"}}`, "", true, ""},
		{"deleted", `{"message":{"hdrs":"TkFUUy8xLjANCktWLU9wZXJhdGlvbjogREVMDQoNCg==","data":""}}`, "", true, ""},
		{"other error", `{"error":{"code":503,"err_code":10008,"description":"jetstream not enabled"}}`, "", false, "jetstream not enabled (10008)"},
		{"empty answer", `{}`, "", false, "empty answer"},
		{"not JSON", `nope`, "", false, "leader get"},
		{"record not JSON", `{"message":{"data":"bm9wZQ=="}}`, "", false, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeMsgGet(id, []byte(tt.answer))
			switch {
			case tt.notFound:
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("decodeMsgGet = %+v, %v; want ErrNotFound", got, err)
				}
			case tt.wantInErr != "":
				if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.wantInErr) {
					t.Fatalf("decodeMsgGet = %+v, %v; want an error naming %q", got, err, tt.wantInErr)
				}
			case err != nil || got.Status != tt.want || got.MessageID != id:
				t.Fatalf("decodeMsgGet = %+v, %v; want %s", got, err, tt.want)
			}
		})
	}
}
