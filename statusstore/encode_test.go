package statusstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAppendJSONMatchesMarshal checks the hand-written encoder against
// encoding/json: the same bytes when no string holds '<', '>' or '&' (which
// json.Marshal escapes and AppendJSON keeps), and the same record decoded
// back in every case.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	et, src := "Order", `feed "a"\b`
	html := "<b>&</b>"
	done := time.Date(2026, 11, 29, 18, 0, 0, 123456789, time.UTC)
	zone := time.FixedZone("x", 3600)
	cases := map[string]Record{
		"zero":     {},
		"accepted": {MessageID: "6f1d2f1e-8c1a-4a53-9a3c-0c1f0e7f3b11", Status: Accepted, ReceivedAt: done, UpdatedAt: done, History: []Event{{Status: Accepted, At: done}}},
		"full": {MessageID: "id", Status: Completed, EntityType: &et, Source: &src, Tenant: "t\u00e9n\u2028ant",
			Attempts: 3, Error: "line1\nline2\t\x01", ReceivedAt: done.In(zone), UpdatedAt: done.Add(time.Second),
			CompletedAt: &done, Entities: map[string]int{"z": 1, "a": 20, "m_m": 0},
			History:  []Event{{Status: Accepted, At: done}, {Status: Retrying, At: done, Attempt: 1, Error: "boom \"x\""}, {Status: Completed, At: done, Attempt: 2}},
			Redrives: 2},
		"empty history":  {History: []Event{}},
		"invalid utf-8":  {MessageID: "a\xffb", Error: strings.Repeat("é", 3) + "\xc3"},
		"html, decoded":  {MessageID: html, Error: html, Tenant: html, Entities: map[string]int{html: 1}},
		"negative times": {Attempts: -1, ReceivedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			got := r.AppendJSON(nil)
			want, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(name, "html") && !bytes.Equal(got, want) {
				t.Errorf("AppendJSON:\n%s\njson.Marshal:\n%s", got, want)
			}
			var back, ref Record
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("AppendJSON wrote invalid JSON %s: %v", got, err)
			}
			if err := json.Unmarshal(want, &ref); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, ref) {
				t.Errorf("decoded %+v, want %+v", back, ref)
			}
		})
	}
}

func BenchmarkEncodeRecord(b *testing.B) {
	et := "Order"
	now := time.Now().UTC()
	r := Record{MessageID: "6f1d2f1e-8c1a-4a53-9a3c-0c1f0e7f3b11", Status: Completed, EntityType: &et, ReceivedAt: now, UpdatedAt: now,
		CompletedAt: &now, Entities: map[string]int{"orders": 1, "order_line_items": 4},
		History: []Event{{Status: Accepted, At: now}, {Status: Processing, At: now, Attempt: 1}, {Status: Completed, At: now, Attempt: 1}}}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeRecord(&r)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(r)
		}
	})
}
