package gateway

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/wire"
)

// The 202 answer is written by appending to a byte slice, as the envelope
// is (see wire.Envelope.AppendJSON and why there): its shape is fixed, and
// the output is what json.Encoder writes for the same value.

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

// natsMsg is the stream message of an envelope on its ingest subject.
func (s *Server) natsMsg(env *wire.Envelope) *nats.Msg {
	return env.Msg(s.cfg.Topology.IngestSubject(env.EntityTypeOrEmpty()))
}

// appendAcceptedResponse appends the 202 answer with the newline
// json.Encoder ends it with.
func appendAcceptedResponse(b []byte, res acceptedResponse) []byte {
	b = append(b, `{"message_id":`...)
	b = wire.AppendJSONString(b, res.MessageID)
	b = append(b, `,"status":`...)
	b = wire.AppendJSONString(b, res.Status)
	b = append(b, `,"timestamp":`...)
	b = wire.AppendJSONTime(b, res.Timestamp)
	if res.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return append(b, "}\n"...)
}
