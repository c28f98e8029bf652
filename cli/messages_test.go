package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nomnom-io/nomnom/gateway"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/migrations"
	"github.com/nomnom-io/nomnom/statusstore"
)

// TestStatusAndMessages runs `nomnom status` and `nomnom messages` against
// a gateway with API keys and a database.
func TestStatusAndMessages(t *testing.T) {
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
	srv, err := gateway.New(gateway.Config{Topology: testsvc.Topology(t), Addr: "127.0.0.1:0",
		APIKeys: map[string]string{"k1": "acme"}, StatusFallback: pg, StatusDatabase: pg},
		testsvc.Connect(t, testsvc.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	base := "http://" + srv.Addr().String()

	req, _ := http.NewRequest(http.MethodPost, base+"/ingest/message", strings.NewReader(`{"n":1}`))
	req.Header.Set("X-API-Key", "k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var acc struct {
		MessageID string `json:"message_id"`
	}
	_ = json.NewDecoder(res.Body).Decode(&acc)
	res.Body.Close()
	now := time.Now().UTC()
	if err := statusstore.UpsertBatch(ctx, pool, []statusstore.Record{{MessageID: acc.MessageID, Status: statusstore.Failed,
		Tenant: "acme", Error: "quantity: expected integer", ReceivedAt: now, UpdatedAt: now}}); err != nil {
		t.Fatal(err)
	}
	common := []string{"--gateway-url", base, "--api-key", "k1"}

	var stdout, stderr bytes.Buffer
	if code := run(ctx, append([]string{"status", acc.MessageID, "--json"}, common...), &stdout, &stderr); code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr.String())
	}
	if rec := decodeJSON[statusstore.Record](t, stdout.Bytes()); rec.MessageID != acc.MessageID || rec.Status != statusstore.Accepted {
		t.Fatalf("status printed %s", stdout.String())
	}

	stdout.Reset()
	if code := run(ctx, append([]string{"messages", "--status", "failed", "--error", "QUANTITY", "--json"}, common...), &stdout, &stderr); code != 0 {
		t.Fatalf("messages: exit %d: %s", code, stderr.String())
	}
	if recs := decodeJSON[[]statusstore.Record](t, stdout.Bytes()); len(recs) != 1 || recs[0].MessageID != acc.MessageID {
		t.Fatalf("messages printed %s", stdout.String())
	}
	stdout.Reset()
	if code := run(ctx, append([]string{"messages", "--all"}, common...), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "1 message(s)") {
		t.Fatalf("messages table: exit %d: %s %s", code, stdout.String(), stderr.String())
	}

	stderr.Reset()
	if code := run(ctx, append([]string{"messages", "--status", "lost"}, common...), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "status:") {
		t.Fatalf("a bad filter: exit %d, stderr %q; want 1 naming status", code, stderr.String())
	}
	stderr.Reset()
	if code := run(ctx, []string{"status", acc.MessageID, "--gateway-url", base}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "401") {
		t.Fatalf("without a key: exit %d, stderr %q", code, stderr.String())
	}
}

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != 0 || stdout.String() != "nomnom "+Version+"\n" {
		t.Fatalf("--version: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
}

// TestEverySubcommandListsItsFlags runs each subcommand with -h.
func TestEverySubcommandListsItsFlags(t *testing.T) {
	t.Parallel()
	for name := range commands {
		var stdout, stderr bytes.Buffer
		run(context.Background(), []string{name, "-h"}, &stdout, &stderr)
		if !strings.Contains(strings.ToLower(stderr.String()), "usage") {
			t.Errorf("%s -h printed no usage: %q", name, stderr.String())
		}
	}
}

func decodeJSON[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}
