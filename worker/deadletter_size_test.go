package worker

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/dlq"
	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

const smallMaxPayload = 32 << 10

// TestLargestBodyDeadLettersWhole fails a message whose body is the largest
// the gateway accepts, with the longest reason: its dead-letter copy is
// stored whole, and KV and message_status both say failed.
func TestLargestBodyDeadLettersWhole(t *testing.T) {
	t.Parallel()
	f := setupOn(t, testsvc.NATSWith(t, func(o *server.Options) { o.MaxPayload = smallMaxPayload }))
	pad := int(wire.MaxBodyBytes(smallMaxPayload)) - len(`{"n":1,"tag":""}`)
	id := f.publish(testBody{N: 1, Tag: strings.Repeat("x", pad)})
	h := newTestHandler()
	h.reject[id] = true
	h.rejectWith = strings.Repeat("why ", 1000)
	f.start(f.config(), h)
	if r := f.waitTerminal(id); r.Status != statusstore.Failed {
		t.Fatalf("KV record %s, want failed", r.Status)
	}
	if r := f.pgStatus(id); r.Status != statusstore.Failed {
		t.Fatalf("message_status %s, want failed", r.Status)
	}
	dls := f.deadLetters()
	if len(dls) != 1 || dls[0].Truncated != 0 {
		t.Fatalf("dead letters %+v, want one whole copy", dls)
	}
	env, err := wire.DecodeEnvelope(dls[0].Data)
	if err != nil || env.MessageID != id {
		t.Fatalf("copy: %v", err)
	}
}

// TestOversizedDeadLetterIsCut puts on the stream a payload the gateway
// would never publish, just under max_payload: its dead-letter copy, with
// its extra headers, would not fit, so it is cut and says so, and the
// message still reaches failed.
func TestOversizedDeadLetterIsCut(t *testing.T) {
	t.Parallel()
	f := setupOn(t, testsvc.NATSWith(t, func(o *server.Options) { o.MaxPayload = smallMaxPayload }))
	id := uuid.NewString()
	m := nats.NewMsg(f.top.IngestSubject(""))
	m.Header.Set(wire.HeaderMsgID, id)
	m.Data = []byte(strings.Repeat("z", smallMaxPayload-100))
	if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	f.start(f.config(), newTestHandler())
	if r := f.waitTerminal(id); r.Status != statusstore.Failed {
		t.Fatalf("KV record %s, want failed", r.Status)
	}
	if r := f.pgStatus(id); r.Status != statusstore.Failed {
		t.Fatalf("message_status %s, want failed", r.Status)
	}
	dls := f.deadLetters()
	if len(dls) != 1 || dls[0].Truncated != len(m.Data) || len(dls[0].Data) >= len(m.Data) {
		t.Fatalf("dead letters %+v, want one copy cut from %d bytes", dls, len(m.Data))
	}
	out, err := f.dlq(nil).Redrive(context.Background(), dlq.RedriveOptions{IDs: []string{id}})
	if err != nil || len(out) != 1 || out[0].Outcome != dlq.OutcomeSkipped || !strings.Contains(out[0].Err.Error(), "holds") {
		t.Fatalf("redrive of a cut copy: %+v, %v", out, err)
	}
}

// TestFitPayload checks the arithmetic of the cut on its own.
func TestFitPayload(t *testing.T) {
	t.Parallel()
	m := nats.NewMsg("s")
	m.Header.Set(wire.HeaderDLQReason, "r")
	m.Data = make([]byte, 1000)
	fitPayload(m, 2000)
	if len(m.Data) != 1000 || m.Header.Get(wire.HeaderDLQTruncated) != "" {
		t.Fatalf("a fitting payload was cut to %d", len(m.Data))
	}
	fitPayload(m, 500)
	if got := headerSize(m.Header) + int64(len(m.Data)); got > 500 || m.Header.Get(wire.HeaderDLQTruncated) != "1000" {
		t.Fatalf("cut message is %d bytes, header %q", got, m.Header.Get(wire.HeaderDLQTruncated))
	}
}
