package rt

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Value is a JSON value of a parsed message body, read in place: the
// generated decoders find fields with Lookup and convert them straight into
// the entity's Go types. The zero Value is absent, which reads as null.
type Value struct {
	d *doc
	i int32
}

// MustJSON parses a constant or default written in an entity definition
// into the value a body would have carried.
func MustJSON(s string) Value {
	d, ok := parse([]byte(s))
	if !ok {
		panic("rt: bad JSON " + s)
	}
	return Value{d: d}
}

func (v Value) node() *node { return &v.d.nodes[v.i] }

func (v Value) kind() kind {
	if v.d == nil {
		return kindNull
	}
	return v.node().kind
}

// IsNull reports whether v is null or absent.
func (v Value) IsNull() bool { return v.kind() == kindNull }

// text is the node's text: the raw inside of a string, a number's digits.
func (v Value) text() string {
	n := v.node()
	return v.d.src[n.start:n.end]
}

// str is the Go value of a string node, decoded as encoding/json decodes
// it (escapes resolved, invalid UTF-8 replaced).
func (v Value) str() string {
	n := v.node()
	s := v.d.src[n.start:n.end]
	if n.flags&flagEscaped == 0 || (strings.IndexByte(s, '\\') < 0 && utf8.ValidString(s)) {
		return s
	}
	var out string
	// The scanner accepted the string, so encoding/json does too.
	_ = json.Unmarshal([]byte(v.d.src[n.start-1:n.end+1]), &out)
	return out
}

// raw is the JSON text of a value.
func (v Value) raw() string {
	n := v.node()
	if n.kind == kindString {
		return v.d.src[n.start-1 : n.end+1]
	}
	return v.d.src[n.start:n.end]
}

// Lookup reads the dotted key in v ("" is v itself). A key is absent when
// any step is missing or not an object; of repeated keys the last counts,
// as encoding/json decides.
func (v Value) Lookup(key string) (Value, bool) {
	if v.d == nil {
		return Value{}, false
	}
	for key != "" {
		var k string
		k, key, _ = strings.Cut(key, ".")
		var ok bool
		if v, ok = v.field(k); !ok {
			return Value{}, false
		}
	}
	return v, true
}

// field finds the member k of object v.
func (v Value) field(k string) (Value, bool) {
	n := v.node()
	if n.kind != kindObject {
		return Value{}, false
	}
	found := int32(-1)
	nodes := v.d.nodes
	for j := v.i + 1; j < n.next; j = nodes[j+1].next {
		key := &nodes[j]
		if int(key.end-key.start) == len(k) && key.flags&flagEscaped == 0 {
			if v.d.src[key.start:key.end] == k {
				found = j + 1
			}
		} else if key.flags&flagEscaped != 0 && (Value{v.d, j}).str() == k {
			found = j + 1
		}
	}
	if found < 0 {
		return Value{}, false
	}
	return Value{v.d, found}, true
}

// elems calls f with each element of array v.
func (v Value) elems(f func(i int, item Value)) {
	n := v.node()
	for i, j := 0, v.i+1; j < n.next; i, j = i+1, v.d.nodes[j].next {
		f(i, Value{v.d, j})
	}
}

// count is the number of elements of array v.
func (v Value) count() int {
	c := 0
	v.elems(func(int, Value) { c++ })
	return c
}

// Any is v as encoding/json decodes it with UseNumber: string,
// json.Number, bool, nil, []any or map[string]any. Transforms take their
// inputs in this form.
func (v Value) Any() any {
	switch v.kind() {
	case kindNull:
		return nil
	case kindBool:
		return v.node().flags&flagTrue != 0
	case kindNumber:
		return json.Number(v.text())
	case kindString:
		return v.str()
	case kindForeign:
		return v.d.foreign
	}
	x, _ := unmarshal([]byte(v.raw()))
	return x
}

// ValueOf turns a JSON-like Go value (what a transform returns) into a
// Value; nil is absent.
func ValueOf(x any) (v Value, found bool) {
	switch x := x.(type) {
	case nil:
		return Value{}, false
	case string:
		return scalarValue(x, node{kind: kindString, end: int32(len(x))}), true
	case json.Number:
		return scalarValue(string(x), node{kind: kindNumber, end: int32(len(x))}), true
	case bool:
		var flags uint8
		if x {
			flags = flagTrue
		}
		return scalarValue("", node{kind: kindBool, flags: flags}), true
	case []any, map[string]any:
		if data, err := json.Marshal(x); err == nil {
			if d, ok := parse(data); ok {
				return Value{d: d}, true
			}
		}
	}
	return Value{d: &doc{foreign: x, nodes: []node{{kind: kindForeign, next: 1}}}}, true
}

// scalarValue is a document of one scalar node, in one allocation.
func scalarValue(src string, n node) Value {
	d := &doc{src: src}
	n.next = 1
	d.one[0] = n
	d.nodes = d.one[:]
	return Value{d: d}
}
