package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/client"
	"github.com/nomnom-io/nomnom/gateway"
	"github.com/nomnom-io/nomnom/internal/testsvc"
)

// startGateway starts a gateway on its own embedded NATS server and
// returns its base URL; adjust changes its Config.
func startGateway(t testing.TB, adjust ...func(*gateway.Config)) string {
	t.Helper()
	cfg := gateway.Config{Topology: testsvc.Topology(t), Addr: "127.0.0.1:0", APIKeys: map[string]string{"k1": "acme"}}
	for _, a := range adjust {
		a(&cfg)
	}
	srv, err := gateway.New(cfg, testsvc.Connect(t, testsvc.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return "http://" + srv.Addr().String()
}

func newClient(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(base, client.WithAPIKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSendStatusAndIdempotency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, startGateway(t))
	first, err := c.Send(ctx, map[string]int{"n": 1}, client.SendOptions{IdempotencyKey: "order-1", Source: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Send(ctx, []byte(`{"n":1}`), client.SendOptions{IdempotencyKey: "order-1"})
	if err != nil {
		t.Fatal(err)
	}
	if again.MessageID != first.MessageID || !again.Duplicate || first.Duplicate {
		t.Fatalf("repeat of a key: first %+v, again %+v; want the same id, the repeat a duplicate", first, again)
	}
	rec, err := c.Status(ctx, first.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.MessageID != first.MessageID || rec.Status != "accepted" || rec.Source == nil || *rec.Source != "shop" || rec.Terminal() {
		t.Fatalf("status: %+v", rec)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := startGateway(t, func(c *gateway.Config) { c.MaxBodyBytes = 1024 })
	c := newClient(t, base)
	_, err := c.Status(ctx, "6f1c1d7e-4b7a-4c39-9d0e-2c0f4f6e0a11")
	var apiErr *client.Error
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Code != "not_found" {
		t.Fatalf("unknown id: %v; want ErrNotFound with code not_found", err)
	}
	if _, err := c.Send(ctx, []byte(`{"s":"`+strings.Repeat("x", 4096)+`"}`), client.SendOptions{}); !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("large message: %v; want ErrTooLarge", err)
	}
	if _, err := c.Send(ctx, []byte(`[1]`), client.SendOptions{}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("not an object: %v; want ErrInvalid", err)
	}
	anon, _ := client.New(base)
	if _, err := anon.Send(ctx, []byte(`{}`), client.SendOptions{}); !errors.Is(err, client.ErrUnauthorized) || errors.Is(err, client.ErrInvalid) {
		t.Fatalf("without a key: %v; want ErrUnauthorized only", err)
	}
	if _, err := client.New("localhost:8080"); err == nil {
		t.Fatal("a URL without a scheme was taken")
	}
}

func TestSendBatchReportsEveryLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, startGateway(t))
	res, err := c.SendBatch(ctx, strings.NewReader("{\"n\":1}\nnot json\n\n{\"n\":3}\n"), client.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "partial" || res.Inserted != 2 || res.Failed != 1 || len(res.Results) != 3 {
		t.Fatalf("batch: %+v", res)
	}
	if !res.Results[0].Accepted() || res.Results[1].Accepted() || res.Results[1].Line != 2 || res.Results[2].Line != 4 {
		t.Fatalf("results: %+v", res.Results)
	}
	for _, r := range []client.LineResult{res.Results[0], res.Results[2]} {
		if _, err := c.Status(ctx, r.MessageID); err != nil {
			t.Fatalf("line %d: %v", r.Line, err)
		}
	}
	res, err = c.SendBatch(ctx, strings.NewReader(`[{"a":1},{"b":2}]`), client.BatchOptions{JSONArray: true})
	if err != nil || res.Inserted != 2 {
		t.Fatalf("JSON array: %+v, %v", res, err)
	}
	res, err = c.SendBatch(ctx, strings.NewReader("nope\n"), client.BatchOptions{})
	if !errors.Is(err, client.ErrInvalid) || res == nil || res.Status != "rejected" || len(res.Results) != 1 {
		t.Fatalf("no valid line: %+v, %v; want the results and ErrInvalid", res, err)
	}
}

// TestWaitEndsWithTheContext waits for a message no worker takes: Wait
// returns its last record with the context's error.
func TestWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	c := newClient(t, startGateway(t, func(c *gateway.Config) { c.MaxWait = 200 * time.Millisecond }))
	acc, err := c.Send(context.Background(), []byte(`{"n":1}`), client.SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rec, err := c.Wait(ctx, acc.MessageID)
	if !errors.Is(err, context.DeadlineExceeded) || rec.MessageID != acc.MessageID || rec.Status != "accepted" {
		t.Fatalf("wait: %+v, %v", rec, err)
	}
}

// TestMessagesWithoutADatabase: search needs the gateway's database; the
// iterator yields the error once and stops.
func TestMessagesWithoutADatabase(t *testing.T) {
	t.Parallel()
	c := newClient(t, startGateway(t))
	n := 0
	for _, err := range c.Messages(context.Background(), client.Query{}) {
		n++
		if !errors.Is(err, client.ErrNotConfigured) {
			t.Fatalf("messages: %v; want ErrNotConfigured", err)
		}
	}
	if n != 1 {
		t.Fatalf("the iterator yielded %d times; want once", n)
	}
}
