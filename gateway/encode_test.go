package gateway

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nomnom-io/nomnom/wire"
)

// encodeCases cover every optional field and strings that need escaping.
var encodeCases = []struct {
	name string
	meta ingestMeta
	body string
}{
	{name: "bare", body: `{}`},
	{name: "everything", meta: ingestMeta{entityType: "orders", source: "shop", tenant: "acme", idempotencyKey: "k-1"}, body: `{"a":[1,2,{"b":null}]}`},
	{name: "escaped source", meta: ingestMeta{source: "a \"quoted\" \\ <source> & \x01 café \u2028"}, body: `{"x":"y"}`},
	{name: "escaped key and tenant", meta: ingestMeta{tenant: "t\n", idempotencyKey: "é\t"}, body: `{"x":1}`},
	{name: "invalid UTF-8 source", meta: ingestMeta{source: "a\xffb"}, body: `{"x":1}`},
}

// TestNatsMsgMatchesMarshal checks the gateway's envelopes as they go to
// the stream: the JSON json.Marshal writes (wire tests the encoding itself),
// on the entity's ingest subject.
func TestNatsMsgMatchesMarshal(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{Topology: wire.DefaultTopology()}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600))
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.meta.envelope("0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", []byte(tt.body), now)
			want, err := env.Encode()
			if err != nil {
				t.Fatal(err)
			}
			m := s.natsMsg(env)
			if !bytes.Equal(m.Data, want) {
				t.Errorf("envelope\n got %s\nwant %s", m.Data, want)
			}
			if subject := s.cfg.Topology.IngestSubject(tt.meta.entityType); m.Subject != subject {
				t.Errorf("subject %q, want %q", m.Subject, subject)
			}
			if _, err := wire.DecodeEnvelope(m.Data); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestAppendAcceptedResponseMatchesEncoder(t *testing.T) {
	t.Parallel()
	for _, res := range []acceptedResponse{
		{MessageID: "0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", Status: "accepted", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{MessageID: "0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", Status: "accepted", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duplicate: true},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(res); err != nil {
			t.Fatal(err)
		}
		if got := appendAcceptedResponse(nil, res); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("answer\n got %s\nwant %s", got, want.Bytes())
		}
	}
}

// FuzzEnvelopeOfAcceptedBody checks that every body the gateway accepts
// makes an envelope the workers decode, with the body unchanged: no body
// is accepted only to fail later for its depth, its encoding or its
// escaping.
func FuzzEnvelopeOfAcceptedBody(f *testing.F) {
	for _, tt := range encodeCases {
		f.Add([]byte(tt.body), tt.meta.source)
	}
	f.Add([]byte(`{"a":[[[[1]]]], "<>": "\u2028 é"}`), "src")
	f.Fuzz(func(t *testing.T, data []byte, source string) {
		body, e := checkObject(data)
		if e != nil || checkSource(source) != nil {
			return
		}
		env := ingestMeta{source: source}.envelope("0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", body, time.Now())
		got, err := wire.DecodeEnvelope(env.AppendJSON(nil))
		if err != nil {
			t.Fatalf("accepted body %q: envelope does not decode: %v", data, err)
		}
		gotSource := ""
		if got.Source != nil {
			gotSource = *got.Source
		}
		if !bytes.Equal(got.Body, body) || got.EntityTypeOrEmpty() != "" || gotSource != source {
			t.Fatalf("accepted body %q: decoded as %q, source %q", data, got.Body, gotSource)
		}
	})
}
