package gateway

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/wire"
)

// The gateway writes the two JSON documents of its hot path (the envelope
// and the 202 answer) by appending to a byte slice rather than with
// encoding/json: their shapes are fixed, the client's body has been
// validated (and compacted when it had white space) already and is embedded
// as it is, and reflection-driven encoding, which validated and compacted
// the body a second time, was the largest cost of accepting a message after
// the network. The output is what json.Marshal produces for the same values
// (tests compare them byte for byte), except that the body's <, > and & are
// not escaped as \u003c, \u003e and \u0026.

// envelope wraps one body for the stream.
func (m ingestMeta) envelope(id string, body []byte, now time.Time) *wire.Envelope {
	return &wire.Envelope{
		MessageID:      id,
		Body:           json.RawMessage(body),
		EntityType:     optional(m.entityType),
		ReceivedAt:     now.UTC(),
		Source:         optional(m.source),
		IdempotencyKey: m.idempotencyKey,
		Tenant:         m.tenant,
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// natsMsg is the stream message of an envelope: its subject, its JSON and
// its headers (Nats-Msg-Id = message_id, so JetStream stores it once).
func (s *Server) natsMsg(env *wire.Envelope) *nats.Msg {
	h := nats.Header{wire.HeaderMsgID: {env.MessageID}}
	if t := env.EntityTypeOrEmpty(); t != "" {
		h[wire.HeaderEntityType] = []string{t}
	}
	return &nats.Msg{
		Subject: s.cfg.Topology.IngestSubject(env.EntityTypeOrEmpty()),
		Header:  h,
		Data:    appendEnvelope(make([]byte, 0, envelopeSize(env)), env),
	}
}

// envelopeSize is a close upper bound of the encoded envelope's length,
// so that it is encoded into one allocation.
func envelopeSize(env *wire.Envelope) int {
	n := 200 + len(env.MessageID) + len(env.Body) + len(env.IdempotencyKey) + len(env.Tenant)
	if env.EntityType != nil {
		n += len(*env.EntityType)
	}
	if env.Source != nil {
		n += len(*env.Source)
	}
	return n
}

// appendEnvelope appends env's JSON as json.Marshal writes it, with the body
// as it is (it must be valid JSON, which checkObject has established).
func appendEnvelope(b []byte, env *wire.Envelope) []byte {
	b = append(b, `{"message_id":`...)
	b = appendString(b, env.MessageID)
	b = append(b, `,"body":`...)
	b = append(b, env.Body...)
	b = append(b, `,"entity_type":`...)
	b = appendOptional(b, env.EntityType)
	b = append(b, `,"received_at":`...)
	b = appendTime(b, env.ReceivedAt)
	b = append(b, `,"retry_count":`...)
	b = appendInt(b, env.RetryCount)
	b = append(b, `,"source":`...)
	b = appendOptional(b, env.Source)
	if env.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = appendString(b, env.IdempotencyKey)
	}
	if env.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = appendString(b, env.Tenant)
	}
	return append(b, '}')
}

// appendAcceptedResponse appends the 202 answer with the newline
// json.Encoder ends it with.
func appendAcceptedResponse(b []byte, res acceptedResponse) []byte {
	b = append(b, `{"message_id":`...)
	b = appendString(b, res.MessageID)
	b = append(b, `,"status":`...)
	b = appendString(b, res.Status)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, res.Timestamp)
	if res.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}\n"...)
}

func appendOptional(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendString appends s as a JSON string. Strings with nothing to escape
// (ids, entity types, most sources) are copied; any other goes through
// json.Marshal, so the escaping is exactly encoding/json's.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendInt(b []byte, n int) []byte {
	return strconv.AppendInt(b, int64(n), 10)
}
