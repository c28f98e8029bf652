package wire

import (
	"strings"

	"github.com/nats-io/nats.go"
)

// HeaderTraceParent is the W3C trace context header a traced publish
// carries, so the worker's spans join the gateway's trace.
const HeaderTraceParent = "traceparent"

// TraceCarrier carries W3C trace context in NATS headers; it satisfies
// OpenTelemetry's propagation.TextMapCarrier. NATS headers are not
// canonicalised the way net/http's are, so another client may have written
// "Traceparent" or "TRACEPARENT": Get matches names case-insensitively, and
// Set replaces every spelling with the lower-case one the W3C names.
type TraceCarrier nats.Header

// Get returns the first value of key, whatever its case.
func (c TraceCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set stores value under the lower-case key, removing other spellings.
func (c TraceCarrier) Set(key, value string) {
	lower := strings.ToLower(key)
	for k := range c {
		if k != lower && strings.EqualFold(k, key) {
			delete(c, k)
		}
	}
	c[lower] = []string{value}
}

// Keys lists the header names.
func (c TraceCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
