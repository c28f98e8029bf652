package gateway

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

func TestBatchMixedLines(t *testing.T) {
	t.Parallel()
	h := setup(t)
	body := ndjson(`{"a":1}`, ``, `[1]`, `{"b":`, "{\"c\":3}\r", `   `, `"x"`)
	res := h.post("/ingest/batch", body, "Content-Type", "application/x-ndjson", "X-Entity-Type", "lineitem", "X-Source", "etl")
	if res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	got := decode[batchResponse](t, res.body)
	if got.Status != "partial" || got.Processed != 5 || got.Inserted != 2 || got.Failed != 3 || got.Error != nil {
		t.Fatalf("answer %s", res.body)
	}
	var lines []int
	for _, r := range got.Results {
		lines = append(lines, r.Line)
		if (r.MessageID == "") == (r.Error == "") {
			t.Errorf("line %d: want exactly one of message_id and error: %+v", r.Line, r)
		}
	}
	if !reflect.DeepEqual(lines, []int{1, 3, 4, 5, 7}) {
		t.Fatalf("result lines %v", lines)
	}
	if len(got.Errors) != 3 || !strings.HasPrefix(got.Errors[0], "line 3: ") || !strings.Contains(got.Errors[1], "line 4: invalid JSON at byte offset") {
		t.Fatalf("errors %q", got.Errors)
	}
	msgs := h.streamMessages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages in the stream, want 2", len(msgs))
	}
	for i, m := range msgs {
		env, err := wire.DecodeEnvelope(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		want := got.Results[[]int{0, 3}[i]].MessageID
		if env.MessageID != want || m.Header.Get(wire.HeaderMsgID) != want || m.Subject != h.top.IngestSubject("lineitem") ||
			env.EntityTypeOrEmpty() != "lineitem" || env.Source == nil || *env.Source != "etl" {
			t.Errorf("message %d: subject %s envelope %s", i, m.Subject, m.Data)
		}
		if rec := h.record(want); rec.Status != statusstore.Accepted {
			t.Errorf("%s: status %s", want, rec.Status)
		}
	}
	if !strings.Contains(string(msgs[1].Data), `"body":{"c":3}`) {
		t.Errorf("body not embedded: %s", msgs[1].Data)
	}
}

func TestBatchAllValid(t *testing.T) {
	t.Parallel()
	h := setup(t)
	var lines []string
	for i := range 500 {
		lines = append(lines, fmt.Sprintf(`{"n":%d}`, i))
	}
	for _, ct := range []string{"application/jsonl", ""} {
		res := h.post("/ingest/batch?entity=orders", ndjson(lines...), "Content-Type", ct)
		got := decode[batchResponse](t, res.body)
		if res.status != http.StatusAccepted || got.Status != "success" || got.Inserted != 500 || got.Failed != 0 || len(got.Errors) != 0 {
			t.Fatalf("content type %q: %d %+v", ct, res.status, got.Status)
		}
		for _, r := range got.Results {
			if rec := h.record(r.MessageID); rec.Status != statusstore.Accepted {
				t.Fatalf("line %d: %s", r.Line, rec.Status)
			}
		}
	}
	if n := len(h.streamMessages()); n != 1000 {
		t.Fatalf("%d messages, want 1000", n)
	}
}

func TestBatchRejects(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) {
		c.MaxBatchLines = 3
		c.MaxBatchBytes = 200
	})
	tests := []struct {
		name     string
		path     string
		body     string
		headers  []string
		status   int
		code     string
		contains string
	}{
		{name: "xml content type", body: ndjson(`{}`), headers: []string{"Content-Type", "application/xml"}, status: 415, code: codeUnsupportedMedia},
		{name: "multipart content type", body: ndjson(`{}`), headers: []string{"Content-Type", "multipart/form-data; boundary=x"}, status: 415, code: codeUnsupportedMedia},
		{name: "array with too many elements", body: `[{},{},{},{}]`, headers: []string{"Content-Type", "application/json"}, status: 413, code: codeTooManyLines},
		{name: "array that is not JSON", body: `[{}, {]`, headers: []string{"Content-Type", "application/json"}, status: 400, code: codeNoValidLines},
		{name: "array with text after it", body: `[{}] {}`, headers: []string{"Content-Type", "application/json"}, status: 400, code: codeNoValidLines},
		{name: "array of no valid object", body: `[1, "x"]`, headers: []string{"Content-Type", "application/json"}, status: 400, code: codeNoValidLines},
		{name: "too many lines", body: ndjson(`{}`, `{}`, ``, `{}`, `{}`), status: 413, code: codeTooManyLines, contains: "more than 3 lines"},
		{name: "too many bytes", body: ndjson(`{"pad":"` + strings.Repeat("x", 300) + `"}`), status: 413, code: codeTooLarge},
		{name: "empty", body: "", status: 400, code: codeEmptyBody},
		{name: "blank lines only", body: "\n\n  \n", status: 400, code: codeEmptyBody},
		{name: "no valid line", body: ndjson(`[]`, `nope`), status: 400, code: codeNoValidLines},
		{name: "bad entity", path: "/ingest/batch?entity=a*", body: ndjson(`{}`), status: 400, code: codeInvalidEntityType},
		{name: "idempotency key", body: ndjson(`{}`), headers: []string{"Idempotency-Key", "k"}, status: 400, code: codeInvalidIdempotency},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				path := tt.path
				if path == "" {
					path = "/ingest/batch"
				}
				res := h.post(path, tt.body, tt.headers...)
				if res.status != tt.status {
					t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.body)
				}
				e := decode[errorBody](t, res.body).Error
				if e.Code != tt.code || !strings.Contains(e.Message, tt.contains) {
					t.Fatalf("error %+v, want %s containing %q", e, tt.code, tt.contains)
				}
			})
		}
	})
	t.Run("no valid line lists every line", func(t *testing.T) {
		res := h.post("/ingest/batch", ndjson(`[]`, ``, `nope`))
		got := decode[batchResponse](t, res.body)
		if got.Processed != 2 || got.Failed != 2 || len(got.Results) != 2 || got.Results[1].Line != 3 || got.Results[1].Error == "" {
			t.Fatalf("answer %s", res.body)
		}
	})
	if n := len(h.streamMessages()); n != 0 {
		t.Fatalf("%d messages published for rejected batches", n)
	}
}
