package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// harness is a started gateway on its own embedded NATS server and topology.
type harness struct {
	t      *testing.T
	srv    *Server
	base   string
	ns     *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	top    wire.Topology
	client *http.Client
}

// setup starts a gateway on a NATS server of its own; opts adjust its Config.
func setup(t *testing.T, opts ...func(*Config)) *harness {
	t.Helper()
	ns := testsvc.NATS(t)
	return setupOn(t, ns, testsvc.Connect(t, ns), opts...)
}

// setupOn starts a gateway on nc; it is stopped when the test ends.
func setupOn(t *testing.T, ns *server.Server, nc *nats.Conn, opts ...func(*Config)) *harness {
	t.Helper()
	cfg := Config{
		Topology:       testsvc.Topology(t),
		Addr:           "127.0.0.1:0",
		Logger:         testsvc.Logger(t),
		Version:        "test",
		PublishTimeout: 2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg, nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Every exchange of the suite is checked against openapi.json.
	client := &http.Client{Timeout: 60 * time.Second, Transport: newOpenAPICheck(t, &http.Transport{MaxIdleConnsPerHost: 1000})}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		client.CloseIdleConnections()
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, base: "http://" + srv.Addr().String(), ns: ns, nc: nc, js: js, top: cfg.Topology, client: client}
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; headers are name, value pairs.
func (h *harness) do(method, path string, body io.Reader, headers ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

func (h *harness) post(path, body string, headers ...string) response {
	h.t.Helper()
	return h.do(http.MethodPost, path, strings.NewReader(body), headers...)
}

func (h *harness) get(path string, headers ...string) response {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil, headers...)
}

// accepted posts a message and returns its id, failing unless it is 202.
func (h *harness) accepted(body string, headers ...string) acceptedResponse {
	h.t.Helper()
	res := h.post("/ingest/message", body, headers...)
	if res.status != http.StatusAccepted {
		h.t.Fatalf("POST /ingest/message: %d %s", res.status, res.body)
	}
	return decode[acceptedResponse](h.t, res.body)
}

// record reads a status record through the API.
func (h *harness) record(id string, headers ...string) statusstore.Record {
	h.t.Helper()
	res := h.get("/ingest/status/"+id, headers...)
	if res.status != http.StatusOK {
		h.t.Fatalf("GET status %s: %d %s", id, res.status, res.body)
	}
	return decode[statusstore.Record](h.t, res.body)
}

func decode[T any](t testing.TB, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

// errorCode returns the code of an error body.
func errorCode(t testing.TB, data []byte) string {
	t.Helper()
	return decode[errorBody](t, data).Error.Code
}

// store returns the gateway's status store, failing when it is not ready.
func (h *harness) store() *statusstore.KV {
	h.t.Helper()
	s := h.srv.store.Load()
	if s == nil {
		h.t.Fatal("status bucket not ensured")
	}
	return s
}

// streamMessages returns every message of the main stream, in order.
func (h *harness) streamMessages() []*jetstream.RawStreamMsg {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := h.js.Stream(ctx, h.top.Stream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatalf("get message %d: %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// streamIDs returns the Nats-Msg-Id of every message of the main stream.
func (h *harness) streamIDs() []string {
	h.t.Helper()
	var ids []string
	for _, m := range h.streamMessages() {
		ids = append(ids, m.Header.Get(wire.HeaderMsgID))
	}
	return ids
}

func ndjson(lines ...string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
