package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

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

// originEnvelope is a stream payload byte for byte as the origin project's
// gateway (src/bin/nats-api.rs) writes it: serde_json of its
// MessageEnvelope, fields in declaration order, the body a JSON string of
// the request's text as received, chrono's timestamp with as many
// fractional digits as it needs (0, 3, 6 or 9) and Z.
const originEnvelope = `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":"{\n  \"order_key\": \"O12345\",\n  \"comment\": \"caf\u00e9\\tdesk\",\n  \"total_price\": 1234.56\n}","entity_type":null,"received_at":"2025-01-15T10:30:00.123456789Z","retry_count":0,"source":null}`

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		data       string
		body       string
		entityType string
		retries    int
		at         time.Time
		err        string
	}{
		{name: "origin: body as a JSON string", data: originEnvelope,
			body: "{\n  \"order_key\": \"O12345\",\n  \"comment\": \"café\\tdesk\",\n  \"total_price\": 1234.56\n}",
			at:   time.Date(2025, 1, 15, 10, 30, 0, 123456789, time.UTC)},
		{name: "origin: entity type, retries, microseconds",
			data:       `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":"{\"entity_type\":\"order\"}","entity_type":"order","received_at":"2025-01-15T10:30:00.123456Z","retry_count":3,"source":null}`,
			body:       `{"entity_type":"order"}`,
			entityType: "order", retries: 3, at: time.Date(2025, 1, 15, 10, 30, 0, 123456000, time.UTC)},
		{name: "origin: whole seconds, no retry_count (serde default)",
			data: `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":" [1, 2] ","entity_type":null,"received_at":"2025-01-15T10:30:00Z","source":"10.0.0.1"}`,
			body: `[1, 2]`, at: time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC)},
		{name: "nomnom: body embedded",
			data: `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":{"a":"x"},"entity_type":"t","received_at":"2026-01-02T03:04:05.5Z","retry_count":1,"source":null}`,
			body: `{"a":"x"}`, entityType: "t", retries: 1, at: time.Date(2026, 1, 2, 3, 4, 5, 500000000, time.UTC)},
		{name: "string that is not JSON",
			data: `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":"order 42","received_at":"2025-01-15T10:30:00Z"}`,
			err:  "body is a string that does not hold JSON"},
		{name: "empty string",
			data: `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b","body":"","received_at":"2025-01-15T10:30:00Z"}`,
			err:  "body is a string that does not hold JSON"},
		{name: "no body", data: `{"message_id":"6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"}`, err: "body is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := DecodeEnvelope([]byte(tt.data))
			if tt.err != "" {
				if !errors.Is(err, ErrInvalidEnvelope) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(env.Body) != tt.body || env.EntityTypeOrEmpty() != tt.entityType || env.RetryCount != tt.retries || !env.ReceivedAt.Equal(tt.at) {
				t.Fatalf("decoded %+v body %s", env, env.Body)
			}
			// Re-encoded, as a redrive does, the body is embedded JSON.
			data, err := env.Encode()
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			again, err := DecodeEnvelope(data)
			if err != nil || !bytes.Equal(again.Body, compact.Bytes()) {
				t.Fatalf("re-encoded %s: %v", data, err)
			}
		})
	}
}
