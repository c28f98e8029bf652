package tpch_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/nomnom-io/nomnom/examples/tpch/tpch"
)

// canonical is body as encoding/json reads it, written back: sorted keys,
// the last of repeated keys, escapes resolved, invalid UTF-8 replaced. ok
// is false when body is not JSON.
func canonical(body []byte) ([]byte, bool) {
	if !json.Valid(body) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	out, err := json.Marshal(v)
	return out, err == nil
}

// FuzzDecodeCanonical checks that the generated decoder reads a body as
// encoding/json reads it: the body and its canonical form decode to the same
// rows and the same errors, whatever the key order, white space, escapes,
// repeated keys or wrong types.
func FuzzDecodeCanonical(f *testing.F) {
	for _, name := range []string{"orders.ndjson", "customers.ndjson", "products.ndjson", "bad_orders.ndjson"} {
		for i, line := range readLines(f, name) {
			if i < 5 {
				f.Add(line)
			}
		}
	}
	f.Add([]byte(`{"order_key":1,"order_key":"2","line_items":[{"quantity":1e1}],"status":"\u004f","comment":"a\ud800b"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		canon, ok := canonical(body)
		if !ok {
			if _, err := tpch.Decode("", body); err == nil {
				t.Fatalf("invalid JSON %q decoded", body)
			}
			return
		}
		for _, entity := range []string{"", "Order"} {
			rows, err := tpch.Decode(entity, body)
			want, wantErr := tpch.Decode(entity, canon)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("%q\nerror %v\ncanonical %q\nerror %v", body, err, canon, wantErr)
			}
			if !reflect.DeepEqual(rows, want) {
				t.Fatalf("%q\nrows %+v\ncanonical %q\nrows %+v", body, rows, canon, want)
			}
		}
	})
}
