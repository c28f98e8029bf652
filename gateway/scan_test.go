package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nomnom-io/nomnom/wire"
)

// scanCases are inputs on which scanJSON must agree with json.Valid, with
// the white-space answer expected of a valid one.
var scanCases = []struct {
	in     string
	spaced bool
}{
	{in: `{}`},
	{in: `[]`},
	{in: `{"a":1}`},
	{in: `{"a": 1}`, spaced: true},
	{in: `{"a" :1}`, spaced: true},
	{in: "{\n  \"a\": [1, 2]\n}", spaced: true},
	{in: `[ ]`, spaced: true},
	{in: `{ }`, spaced: true},
	{in: `[1 ,2]`, spaced: true},
	{in: ` {"a":1} `},
	{in: `{"a":[true,false,null,"x",-0.5e+10,0,1E3,{"b":{}}]}`},
	{in: `"caf\u00e9 \" \\ \/ \b \f \n \r \t"`},
	{in: `"é☃"`},
	{in: `-0`},
	{in: `12.25e-3`},
	{in: ``},
	{in: ` `},
	{in: `{`},
	{in: `}`},
	{in: `{"a":1,}`},
	{in: `[1,]`},
	{in: `[,1]`},
	{in: `{,}`},
	{in: `{"a"}`},
	{in: `{"a":}`},
	{in: `{1:2}`},
	{in: `{"a":1 "b":2}`},
	{in: `{}{}`},
	{in: `{} x`},
	{in: `[1]]`},
	{in: `[1}`},
	{in: `{"a":1]`},
	{in: `01`},
	{in: `-`},
	{in: `1.`},
	{in: `.5`},
	{in: `1e`},
	{in: `1e+`},
	{in: `+1`},
	{in: `tru`},
	{in: `truex`},
	{in: `nul`},
	{in: `True`},
	{in: `"abc`},
	{in: `"a\x"`},
	{in: `"\u12"`},
	{in: `"\u12g4"`},
	{in: "\"a\tb\""},
	{in: "\"a\x00b\""},
	{in: "\"\x7f\""},
	{in: "\"\xff\xfe\""},
	{in: `"\`},
	{in: "\v{}"},
	{in: "\u00a0{}"},
	{in: strings.Repeat("[", maxBodyNesting) + strings.Repeat("]", maxBodyNesting)},
	{in: strings.Repeat("[", maxBodyNesting+1) + strings.Repeat("]", maxBodyNesting+1)},
	{in: strings.Repeat("[", maxBodyNesting+2) + strings.Repeat("]", maxBodyNesting+2)},
	{in: strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)},
}

// validBody is what scanJSON must accept: what json.Valid accepts, nested
// no deeper than maxBodyNesting.
func validBody(data []byte) bool {
	return json.Valid(data) && nestingDepth(data) <= maxBodyNesting
}

func TestScanJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range scanCases {
		valid, spaced := scanJSON([]byte(tt.in))
		want := validBody([]byte(tt.in))
		name := tt.in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		if valid != want {
			t.Errorf("%q: valid %t, json.Valid says %t", name, valid, want)
		}
		if valid && spaced != tt.spaced {
			t.Errorf("%q: spaced %t, want %t", name, spaced, tt.spaced)
		}
	}
}

// FuzzScanJSON checks scanJSON against encoding/json on any input: the same
// verdict as json.Valid (within the depth limit), and "spaced" exactly when json.Compact would
// shorten the value.
func FuzzScanJSON(f *testing.F) {
	for _, tt := range scanCases {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid, spaced := scanJSON(data)
		if want := validBody(data); valid != want {
			t.Fatalf("%q: valid %t, json.Valid and the depth limit say %t", data, valid, want)
		}
		if !valid {
			return
		}
		trimmed := bytes.TrimSpace(data)
		var buf bytes.Buffer
		if err := json.Compact(&buf, trimmed); err != nil {
			t.Fatal(err)
		}
		if shorter := buf.Len() < len(trimmed); spaced != shorter {
			t.Fatalf("%q: spaced %t, but compacting makes it %q", data, spaced, buf.Bytes())
		}
	})
}

func TestCheckObjectCompacts(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{in: `{"a":1}`, want: `{"a":1}`},
		{in: " \r\n{\"a\":1}\r\n", want: `{"a":1}`},
		{in: "{\n  \"a\": [1, 2],\n  \"b\": \"x y\"\n}", want: `{"a":[1,2],"b":"x y"}`},
		{in: `{"<b>":"&"}`, want: `{"<b>":"&"}`},
	}
	for _, tt := range tests {
		got, e := checkObject([]byte(tt.in))
		if e != nil {
			t.Fatalf("%q: %v", tt.in, e)
		}
		if string(got) != tt.want {
			t.Errorf("%q: embedded as %q, want %q", tt.in, got, tt.want)
		}
	}
}

// benchBody is a 256-byte object like the ones of scripts/bench.sh.
var benchBody = []byte(`{"order_id":123456,"customer":"c-000042","status":"O","total":1234.56,"placed_at":"2026-01-02T03:04:05Z","priority":"1-URGENT","clerk":"Clerk#000000951","items":[{"sku":"p-1","qty":2,"price":10.5},{"sku":"p-2","qty":1,"price":99.99}],"note":"leave at door"}`)

func BenchmarkCheckObject(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, e := checkObject(benchBody); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkJSONValid is what checkObject replaced, for comparison.
func BenchmarkJSONValid(b *testing.B) {
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(benchBody) {
			b.Fatal("invalid")
		}
	}
}

// TestDeepestBodyDecodes embeds the deepest body the gateway accepts in an
// envelope: the worker's decoder takes it, so no accepted body fails for
// its depth.
func TestDeepestBodyDecodes(t *testing.T) {
	t.Parallel()
	deep := `{"a":` + strings.Repeat("[", maxBodyNesting-1) + strings.Repeat("]", maxBodyNesting-1) + "}"
	body, e := checkObject([]byte(deep))
	if e != nil {
		t.Fatalf("deepest body refused: %v", e)
	}
	env := ingestMeta{}.envelope(uuid.NewString(), body, time.Now())
	if _, err := wire.DecodeEnvelope(env.AppendJSON(nil)); err != nil {
		t.Fatalf("envelope of the deepest body: %v", err)
	}
	deeper := `{"a":` + strings.Repeat("[", maxBodyNesting) + strings.Repeat("]", maxBodyNesting) + "}"
	if _, e := checkObject([]byte(deeper)); e == nil || !strings.Contains(e.message, "deeper than 9999") {
		t.Fatalf("a body one level deeper: %v", e)
	}
}

func TestCheckObjectInvalidUTF8(t *testing.T) {
	t.Parallel()
	for in, offset := range map[string]string{
		"{\"a\":\"\xff\"}":         "byte offset 6",
		"  {\"é\":\"ok\xc3\"}":     "byte offset 11",
		"{\"k\":\"\xed\xa0\x80\"}": "byte offset 6", // a UTF-16 surrogate
	} {
		_, e := checkObject([]byte(in))
		if e == nil || e.status != 400 || !strings.Contains(e.message, offset) {
			t.Errorf("%q: %v, want 400 at %s", in, e, offset)
		}
	}
}
