package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestSplitNDJSON(t *testing.T) {
	t.Parallel()
	type line struct {
		N    int
		Data string
	}
	tests := []struct {
		name    string
		body    string
		max     int
		want    []line
		wantErr bool
	}{
		{name: "empty", body: "", max: 10, want: []line{}},
		{name: "only blank lines", body: "\n \n\t\r\n", max: 10, want: []line{}},
		{name: "one line without newline", body: `{"a":1}`, max: 10, want: []line{{1, `{"a":1}`}}},
		{name: "trailing newline", body: "{\"a\":1}\n", max: 10, want: []line{{1, `{"a":1}`}}},
		{name: "blank lines keep numbering", body: "{}\n\n  \n[1]\n", max: 10, want: []line{{1, "{}"}, {4, "[1]"}}},
		{name: "crlf", body: "{}\r\n{\"b\":2}\r\n", max: 10, want: []line{{1, "{}"}, {2, `{"b":2}`}}},
		{name: "invalid lines are still lines", body: "nope\n{", max: 10, want: []line{{1, "nope"}, {2, "{"}}},
		{name: "exactly max", body: "{}\n{}\n", max: 2, want: []line{{1, "{}"}, {2, "{}"}}},
		{name: "blank lines do not count", body: "{}\n\n\n{}\n\n", max: 2, want: []line{{1, "{}"}, {2 + 2, "{}"}}},
		{name: "over max", body: "{}\n{}\n{}", max: 2, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := splitNDJSON([]byte(tt.body), tt.max)
			if tt.wantErr {
				var tm tooManyLinesError
				if !errors.As(err, &tm) || tm.max != tt.max {
					t.Fatalf("err = %v, want tooManyLinesError{%d}", err, tt.max)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := []line{}
			for _, l := range got {
				lines = append(lines, line{l.n, string(l.data)})
			}
			if !reflect.DeepEqual(lines, tt.want) {
				t.Fatalf("got %v, want %v", lines, tt.want)
			}
		})
	}
}

func BenchmarkSplitNDJSON(b *testing.B) {
	var buf bytes.Buffer
	for i := range 10_000 {
		fmt.Fprintf(&buf, `{"order_id":%d,"customer":"c-%d","items":[{"sku":"a","qty":2}]}`+"\n", i, i)
	}
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := splitNDJSON(body, 10_000); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSplitNDJSON checks splitNDJSON against the obvious reading of NDJSON:
// split at '\n', trim, keep the non-blank lines with their 1-based numbers;
// an error exactly when there are more lines than allowed.
func FuzzSplitNDJSON(f *testing.F) {
	f.Add([]byte("{}\n\n {\"a\":1}\r\n"), uint8(2))
	f.Add([]byte("\n\n\n"), uint8(0))
	f.Add([]byte("a\nb\nc"), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, maxLines uint8) {
		max := int(maxLines)
		got, err := splitNDJSON(body, max)
		var want []ndjsonLine
		for i, l := range bytes.Split(body, []byte{'\n'}) {
			if l = bytes.TrimSpace(l); len(l) > 0 {
				want = append(want, ndjsonLine{n: i + 1, data: l})
			}
		}
		if len(want) > max {
			var tm tooManyLinesError
			if !errors.As(err, &tm) {
				t.Fatalf("%d lines over a max of %d: err = %v", len(want), max, err)
			}
			return
		}
		if err != nil || len(got) != len(want) {
			t.Fatalf("got %d lines, %v; want %d", len(got), err, len(want))
		}
		for i := range want {
			if got[i].n != want[i].n || !bytes.Equal(got[i].data, want[i].data) {
				t.Fatalf("line %d: got %d %q, want %d %q", i, got[i].n, got[i].data, want[i].n, want[i].data)
			}
		}
	})
}
