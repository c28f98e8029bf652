package statusstore

import (
	"slices"
	"strconv"

	"github.com/nomnom-io/nomnom/wire"
)

// AppendJSON appends the record's JSON, the same document json.Marshal
// writes (fields in order, map keys sorted, omitempty honoured) except that
// strings are not HTML-escaped. Every record the gateway and the worker
// write goes through it, so it is written by hand: it costs a few hundred
// nanoseconds and one allocation instead of reflection.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"message_id":`...)
	b = wire.AppendJSONString(b, r.MessageID)
	b = append(b, `,"status":`...)
	b = wire.AppendJSONString(b, string(r.Status))
	b = append(b, `,"entity_type":`...)
	b = wire.AppendJSONOptional(b, r.EntityType)
	b = append(b, `,"source":`...)
	b = wire.AppendJSONOptional(b, r.Source)
	if r.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = wire.AppendJSONString(b, r.Tenant)
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(r.Attempts), 10)
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = wire.AppendJSONString(b, r.Error)
	}
	b = append(b, `,"received_at":`...)
	b = wire.AppendJSONTime(b, r.ReceivedAt)
	b = append(b, `,"updated_at":`...)
	b = wire.AppendJSONTime(b, r.UpdatedAt)
	b = append(b, `,"completed_at":`...)
	if r.CompletedAt == nil {
		b = append(b, "null"...)
	} else {
		b = wire.AppendJSONTime(b, *r.CompletedAt)
	}
	if len(r.Entities) > 0 {
		b = append(b, `,"entities":{`...)
		keys := make([]string, 0, len(r.Entities))
		for k := range r.Entities {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = wire.AppendJSONString(b, k)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(r.Entities[k]), 10)
		}
		b = append(b, '}')
	}
	b = append(b, `,"history":`...)
	if r.History == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.History {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.History[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if r.Redrives != 0 {
		b = append(b, `,"redrives":`...)
		b = strconv.AppendInt(b, int64(r.Redrives), 10)
	}
	return append(b, '}')
}

func (e *Event) appendJSON(b []byte) []byte {
	b = append(b, `{"status":`...)
	b = wire.AppendJSONString(b, string(e.Status))
	b = append(b, `,"at":`...)
	b = wire.AppendJSONTime(b, e.At)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(e.Attempt), 10)
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = wire.AppendJSONString(b, e.Error)
	}
	if e.Via != "" {
		b = append(b, `,"via":`...)
		b = wire.AppendJSONString(b, e.Via)
	}
	return append(b, '}')
}

// encodeRecord is the record's JSON in a buffer of its own.
func encodeRecord(r *Record) []byte {
	return r.AppendJSON(make([]byte, 0, 256+96*len(r.History)))
}
