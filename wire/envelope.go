package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// NATS headers set on every published envelope.
const (
	// HeaderMsgID is JetStream's de-duplication header; it carries the
	// message_id so that a retried publish is stored once.
	HeaderMsgID = "Nats-Msg-Id"
	// HeaderEntityType carries the envelope's entity type (empty when none),
	// so that consumers and operators can route without decoding the body.
	HeaderEntityType = "Nomnom-Entity-Type"
	// HeaderDLQReason, HeaderDLQAttempts and HeaderDLQFailedAt are set on a
	// message copied to the dead-letter stream.
	HeaderDLQReason   = "Nomnom-Dlq-Reason"
	HeaderDLQAttempts = "Nomnom-Dlq-Attempts"
	HeaderDLQFailedAt = "Nomnom-Dlq-Failed-At"
	// HeaderDLQMessageID names the message of a dead-lettered payload even
	// when that payload cannot be decoded.
	HeaderDLQMessageID = "Nomnom-Dlq-Message-Id"
	// HeaderDLQTruncated is set on a dead-letter copy whose payload was cut
	// to fit the server's max_payload; it holds the original size in bytes.
	// The gateway's body limit keeps the envelopes it publishes from ever
	// needing it; it bounds the copy of anything else found on the stream.
	HeaderDLQTruncated = "Nomnom-Dlq-Truncated"
)

// EnvelopeReserve is what a stream message needs at most beside its body:
// the envelope's other fields (each bounded by the gateway, JSON escaping
// included), the NATS headers of the message, and the headers its
// dead-letter copy adds (a reason of at most 1 KiB among them). A body of
// MaxBodyBytes(max_payload) therefore always fits in the stream and in the
// dead-letter stream.
const EnvelopeReserve = 8 << 10

// MaxBodyBytes is the largest client body whose envelope, and whose
// dead-letter copy, a NATS server with this max_payload stores.
func MaxBodyBytes(maxPayload int64) int64 {
	return max(maxPayload-EnvelopeReserve, 0)
}

// Envelope is the payload of every stream message. Body is the client's JSON
// value embedded as JSON, never re-escaped into a string. DecodeEnvelope
// also reads the origin project's envelopes, whose body is a JSON string
// holding the JSON text: Body is then that text.
type Envelope struct {
	MessageID      string          `json:"message_id"`
	Body           json.RawMessage `json:"body"`
	EntityType     *string         `json:"entity_type"`
	ReceivedAt     time.Time       `json:"received_at"`
	RetryCount     int             `json:"retry_count"`
	Source         *string         `json:"source"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Tenant         string          `json:"tenant,omitempty"`
}

// ErrInvalidEnvelope is wrapped by every error of DecodeEnvelope: a payload
// that is not an envelope can never succeed and must be dead-lettered.
var ErrInvalidEnvelope = errors.New("invalid envelope")

// EntityTypeOrEmpty returns the entity type, or "" when the envelope has none.
func (e *Envelope) EntityTypeOrEmpty() string {
	if e.EntityType == nil {
		return ""
	}
	return *e.EntityType
}

// Encode returns the envelope's JSON form. The body's bytes are kept as
// they are (compacted, never HTML-escaped): escaping '<', '>' and '&' would
// change the body's text and could grow a body that fits the payload limit
// past it when a redrive re-encodes the envelope.
func (e *Envelope) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// DecodeEnvelope parses and checks a stream payload.
func DecodeEnvelope(data []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrInvalidEnvelope, err)
	}
	if _, err := uuid.Parse(env.MessageID); err != nil {
		return Envelope{}, fmt.Errorf("%w: message_id %q is not a UUID", ErrInvalidEnvelope, env.MessageID)
	}
	if len(env.Body) == 0 || string(env.Body) == "null" {
		return Envelope{}, fmt.Errorf("%w: body is missing", ErrInvalidEnvelope)
	}
	if env.Body[0] == '"' {
		body, err := unquoteBody(env.Body)
		if err != nil {
			return Envelope{}, err
		}
		env.Body = body
	}
	return env, nil
}

// unquoteBody returns the JSON text of a body sent as a JSON string, as the
// origin project's gateway writes it (serde's MessageEnvelope.body: String).
func unquoteBody(quoted json.RawMessage) (json.RawMessage, error) {
	var text string
	if err := json.Unmarshal(quoted, &text); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrInvalidEnvelope, err)
	}
	body := bytes.TrimSpace([]byte(text))
	if len(body) == 0 || !json.Valid(body) {
		return nil, fmt.Errorf("%w: body is a string that does not hold JSON", ErrInvalidEnvelope)
	}
	return body, nil
}

// Headers returns the NATS headers that go with the envelope.
func (e *Envelope) Headers() nats.Header {
	h := nats.Header{}
	h.Set(HeaderMsgID, e.MessageID)
	if t := e.EntityTypeOrEmpty(); t != "" {
		h.Set(HeaderEntityType, t)
	}
	return h
}
