package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
)

// FuzzDecodeEnvelope feeds the envelope decoder anything a stream could
// hold: it never panics, every error wraps ErrInvalidEnvelope (so the
// worker dead-letters the payload), and an envelope it accepts has a UUID,
// a body, and survives Encode and a second decode unchanged.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"message_id":"0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0","body":{"a":1},"entity_type":"orders","received_at":"2026-01-02T03:04:05Z","retry_count":0,"source":null}`))
	f.Add([]byte(`{"message_id":"0b0e7a3c-58a4-4a8e-9a43-7d29f6b2e1d0","body":"{\"a\":1}"}`))
	f.Add([]byte(`{"message_id":"x","body":null}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := DecodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidEnvelope) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidEnvelope", data, err)
			}
			return
		}
		if _, err := uuid.Parse(env.MessageID); err != nil || len(env.Body) == 0 {
			t.Fatalf("%q: accepted without an id or a body: %+v", data, env)
		}
		again, err := env.Encode()
		if err != nil {
			t.Fatalf("%q: encode: %v", data, err)
		}
		back, err := DecodeEnvelope(again)
		if err != nil {
			t.Fatalf("%q: re-encoded envelope does not decode: %v", data, err)
		}
		var a, b bytes.Buffer
		_ = json.Compact(&a, env.Body)
		_ = json.Compact(&b, back.Body)
		if back.MessageID != env.MessageID || a.String() != b.String() {
			t.Fatalf("%q: round trip changed the envelope: %+v", data, back)
		}
	})
}
