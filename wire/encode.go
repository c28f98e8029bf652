package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// The envelope is encoded on the gateway's hot path by appending to a byte
// slice rather than with encoding/json: its shape is fixed, the client's
// body has been validated (and compacted when it had white space) already
// and is embedded as it is, and reflection-driven encoding, which validated
// and compacted the body a second time, was the largest cost of accepting a
// message after the network. The output is what json.Marshal produces for
// the same values (tests compare them byte for byte), except that the
// body's <, > and & are not escaped as \u003c, \u003e and \u0026.

// Msg returns the stream message of the envelope: subject, the envelope's
// JSON (see AppendJSON) and its headers (Nats-Msg-Id = message_id, so that
// JetStream stores it once; the entity type when there is one). The body
// must be valid JSON.
func (e *Envelope) Msg(subject string) *nats.Msg {
	h := nats.Header{HeaderMsgID: {e.MessageID}}
	if t := e.EntityTypeOrEmpty(); t != "" {
		h[HeaderEntityType] = []string{t}
	}
	return &nats.Msg{
		Subject: subject,
		Header:  h,
		Data:    e.AppendJSON(make([]byte, 0, e.encodedSize())),
	}
}

// encodedSize is a close upper bound of the encoded envelope's length, so
// that it is encoded into one allocation.
func (e *Envelope) encodedSize() int {
	n := 200 + len(e.MessageID) + len(e.Body) + len(e.IdempotencyKey) + len(e.Tenant)
	if e.EntityType != nil {
		n += len(*e.EntityType)
	}
	if e.Source != nil {
		n += len(*e.Source)
	}
	return n
}

// AppendJSON appends the envelope's JSON as json.Marshal writes it, with
// the body as it is: the caller must have checked that it is valid JSON.
func (e *Envelope) AppendJSON(b []byte) []byte {
	b = append(b, `{"message_id":`...)
	b = AppendJSONString(b, e.MessageID)
	b = append(b, `,"body":`...)
	b = append(b, e.Body...)
	b = append(b, `,"entity_type":`...)
	b = AppendJSONOptional(b, e.EntityType)
	b = append(b, `,"received_at":`...)
	b = AppendJSONTime(b, e.ReceivedAt)
	b = append(b, `,"retry_count":`...)
	b = strconv.AppendInt(b, int64(e.RetryCount), 10)
	b = append(b, `,"source":`...)
	b = AppendJSONOptional(b, e.Source)
	if e.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":`...)
		b = AppendJSONString(b, e.IdempotencyKey)
	}
	if e.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = AppendJSONString(b, e.Tenant)
	}
	return append(b, '}')
}

// AppendJSONOptional appends s as a JSON string, or null when s is nil.
func AppendJSONOptional(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return AppendJSONString(b, *s)
}

// AppendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it but for '<', '>' and '&', which stay as they are (as
// Envelope.Encode writes them). Strings with nothing to escape (ids, entity
// types, most sources) are copied; any other goes through quote. The
// gateway writes its 202 answer with it too.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return append(b, quote(s)...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// quote is s as a JSON string the way Envelope.Encode writes it: escaped as
// encoding/json escapes, but for '<', '>' and '&', which stay as they are.
func quote(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// AppendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted).
func AppendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
