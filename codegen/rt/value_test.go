package rt

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// tree rebuilds the generic value of v from the tape alone, with the
// lookups the generated decoders use, so that it can be compared with
// encoding/json's reading of the same text.
func tree(v Value) any {
	switch v.kind() {
	case kindObject:
		m := map[string]any{}
		n := v.node()
		for j := v.i + 1; j < n.next; j = v.d.nodes[j+1].next {
			k := Value{v.d, j}.str()
			x, ok := v.field(k)
			if !ok {
				panic("key " + k + " not found")
			}
			m[k] = tree(x)
		}
		return m
	case kindArray:
		out := []any{}
		v.elems(func(_ int, item Value) { out = append(out, tree(item)) })
		return out
	}
	return v.Any()
}

var parseSeeds = []string{
	`{"a":1,"b":[true,false,null],"c":{"d":"e\u00e9\n"},"a":2}`,
	`  {"x": -0.5e+10, "y": "", "z": {}, "w": []} `,
	`{"dup":{"a":1},"dup":{"b":2},"s":"\ud83d\ude00 \"q\" \\ \/"}`,
	"{\"bad\xff\":\"utf\xfe8\"}",
	`[1, 2`, `{"a" 1}`, `01`, `1.`, `-`, `1e`, `"\x"`, `"\u12"`, "\"a\tb\"", `{} {}`, ``, `nul`, `{"a":1,}`,
	`[1,]`, `{,}`, `"abc`, `tru`, `{"a":"b"}x`, "\ufeff{}",
}

func checkParse(t *testing.T, data []byte) {
	d, ok := parse(data)
	if ok != json.Valid(data) {
		t.Fatalf("parse(%q) ok = %v, json.Valid = %v", data, ok, !ok)
	}
	if !ok {
		if err := syntaxError(data); !strings.HasPrefix(err.Error(), "body: invalid JSON: ") {
			t.Fatalf("syntaxError(%q) = %v", data, err)
		}
		return
	}
	want, err := unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := tree(Value{d: d}); !reflect.DeepEqual(got, want) {
		t.Fatalf("parse(%q) = %#v, encoding/json reads %#v", data, got, want)
	}
}

func TestParseMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range parseSeeds {
		checkParse(t, []byte(s))
	}
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		checkParse(t, []byte(strings.Repeat("[", depth)+strings.Repeat("]", depth)))
		checkParse(t, []byte(strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)))
	}
}

// FuzzParse checks that the scanner accepts exactly what encoding/json
// accepts and reads the same values (last of repeated keys, escapes,
// replaced invalid UTF-8, numbers as their text).
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParse)
}

func TestLookup(t *testing.T) {
	t.Parallel()
	obj := MustJSON(`{"a":{"b":{"c":"x"}},"a\u002eb":1,"n":null,"s":"t"}`)
	cases := []struct {
		key   string
		want  any
		found bool
	}{
		{"a.b.c", "x", true},
		{"a.b.d", nil, false},
		{"s.x", nil, false},
		{"n", nil, true},
		{"a.b", map[string]any{"c": "x"}, true},
	}
	for _, c := range cases {
		v, found := obj.Lookup(c.key)
		if found != c.found || !reflect.DeepEqual(v.Any(), c.want) {
			t.Errorf("Lookup(%q) = %#v, %v; want %#v, %v", c.key, v.Any(), found, c.want, c.found)
		}
	}
}

func TestValueOfTransformResults(t *testing.T) {
	t.Parallel()
	for _, x := range []any{"a\\b\xff", json.Number("1.5"), true, false, []any{"x", json.Number("2")}, map[string]any{"k": nil}} {
		v, found := ValueOf(x)
		if !found || !reflect.DeepEqual(v.Any(), x) {
			t.Errorf("ValueOf(%#v).Any() = %#v", x, v.Any())
		}
	}
	if _, found := ValueOf(nil); found {
		t.Error("nil is found")
	}
	var e Errors
	v, _ := ValueOf(3)
	String(&e, At("", "f"), v, &Rules{})
	if err := e.Err(""); err == nil || err.Error() != "f: expected string, got null" {
		t.Errorf("foreign value: %v", err)
	}
}
