package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

// encodeCases cover every optional field and strings that need escaping.
var encodeCases = []struct {
	name string
	env  Envelope // MessageID and ReceivedAt are filled in
}{
	{name: "bare", env: Envelope{Body: json.RawMessage(`{}`)}},
	{name: "everything", env: Envelope{Body: json.RawMessage(`{"a":[1,2,{"b":null}]}`), EntityType: ptr("orders"), Source: ptr("shop"), Tenant: "acme", IdempotencyKey: "k-1", RetryCount: 3}},
	{name: "escaped source", env: Envelope{Body: json.RawMessage(`{"x":"y"}`), Source: ptr("a \"quoted\" \\ <source> & \x01 café \u2028")}},
	{name: "escaped key and tenant", env: Envelope{Body: json.RawMessage(`{"x":1}`), Tenant: "t\n", IdempotencyKey: "é\t"}},
	{name: "invalid UTF-8 source", env: Envelope{Body: json.RawMessage(`{"x":1}`), Source: ptr("a\xffb")}},
}

func TestAppendJSONMatchesMarshal(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("X", 3600)).UTC()
	for _, tt := range encodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.env
			env.MessageID, env.ReceivedAt = "0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", now
			want, err := env.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if got := env.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Errorf("envelope\n got %s\nwant %s", got, want)
			}
			if n := env.encodedSize(); n < len(want) {
				t.Errorf("encodedSize %d is below the encoded %d bytes", n, len(want))
			}
			m := env.Msg("messages.ingest.x")
			if !bytes.Equal(m.Data, want) || m.Subject != "messages.ingest.x" {
				t.Errorf("Msg: subject %q data %s", m.Subject, m.Data)
			}
			if m.Header.Get(HeaderMsgID) != env.MessageID || m.Header.Get(HeaderEntityType) != env.EntityTypeOrEmpty() {
				t.Errorf("Msg headers %v, want those of Headers %v", m.Header, env.Headers())
			}
			back, err := DecodeEnvelope(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			if back.MessageID != env.MessageID || !bytes.Equal(back.Body, env.Body) || back.Tenant != env.Tenant {
				t.Errorf("decoded %+v, want %+v", back, env)
			}
		})
	}
}

// TestAppendJSONStringMatchesMarshal: every string is escaped as
// encoding/json escapes it, but for '<', '>' and '&', which stay as they are
// (the envelope's text is never HTML-escaped), and it decodes back to
// itself (invalid UTF-8 as U+FFFD, as encoding/json reads it).
func TestAppendJSONStringMatchesMarshal(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"q"`, `\`, "<&>", "a<b>&c\x01", "\x00\x1f", "é", "\u2028", "a\xffb"} {
		want, _ := json.Marshal(s)
		want = bytes.ReplaceAll(want, []byte(`\u003c`), []byte("<"))
		want = bytes.ReplaceAll(want, []byte(`\u003e`), []byte(">"))
		want = bytes.ReplaceAll(want, []byte(`\u0026`), []byte("&"))
		got := AppendJSONString(nil, s)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendJSONString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != strings.ToValidUTF8(s, "\uFFFD") {
			t.Errorf("AppendJSONString(%q) = %s decodes to %q (%v)", s, got, back, err)
		}
	}
}

var benchBody = []byte(`{"order_id":123456,"customer":"c-000042","status":"O","total":1234.56,"placed_at":"2026-01-02T03:04:05Z","priority":"1-URGENT","clerk":"Clerk#000000951","items":[{"sku":"p-1","qty":2,"price":10.5},{"sku":"p-2","qty":1,"price":99.99}],"note":"leave at door"}`)

func BenchmarkEnvelope(b *testing.B) {
	env := &Envelope{
		MessageID: "0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0", Body: benchBody,
		EntityType: ptr("orders"), Source: ptr("shop"), ReceivedAt: time.Now().UTC(),
	}
	subject := DefaultTopology().IngestSubject("orders")
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = env.Msg(subject)
		}
	})
	// marshal is what append replaced, for comparison.
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := env.Encode(); err != nil {
				b.Fatal(err)
			}
			_ = env.Headers()
		}
	})
}
