package rt

// A message body is parsed once into a flat index of its values (a tape):
// one node per value and per object key, in document order, each knowing
// where its value ends. Strings and numbers stay slices of the body's text,
// so reading a field builds no map, boxes no interface and, for the common
// string without escapes, copies nothing.

// kind is the JSON type of a node.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
	// kindForeign is a value a Go transform returned outside the JSON-like
	// types; it is kept as it is and reads like the generic decoder read it.
	kindForeign
)

// node flags.
const (
	flagTrue    = 1 << iota // a true boolean
	flagEscaped             // a string with a backslash or non-ASCII bytes
)

type node struct {
	kind  kind
	flags uint8
	// start and end delimit the node's text in the document: the inside of
	// the quotes for a string, the whole value otherwise.
	start, end int32
	// next is the index of the node after this value and its contents.
	next int32
}

// maxDepth is the nesting encoding/json accepts, so that both read the
// same bodies.
const maxDepth = 10000

// doc is a parsed JSON document.
type doc struct {
	src     string
	nodes   []node
	foreign any
	one     [1]node // the nodes of a scalar document
}

// parse reads data, which must hold exactly one JSON value with optional
// surrounding white space. It reports false on any syntax error; the
// caller then asks encoding/json for its description of the error.
func parse(data []byte) (*doc, bool) {
	d := &doc{src: string(data), nodes: make([]node, 0, len(data)/6+4)}
	p := parser{d: d, s: d.src}
	p.space()
	if !p.value(0) {
		return nil, false
	}
	p.space()
	return d, p.i == len(p.s)
}

type parser struct {
	d *doc
	s string
	i int
}

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) add(k kind, start int) int {
	p.d.nodes = append(p.d.nodes, node{kind: k, start: int32(start)})
	return len(p.d.nodes) - 1
}

func (p *parser) done(n int) {
	p.d.nodes[n].end = int32(p.i)
	p.d.nodes[n].next = int32(len(p.d.nodes))
}

func (p *parser) value(depth int) bool {
	if p.i >= len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.str()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true", kindBool, flagTrue)
	case c == 'f':
		return p.literal("false", kindBool, 0)
	case c == 'n':
		return p.literal("null", kindNull, 0)
	}
	return false
}

func (p *parser) literal(lit string, k kind, flags uint8) bool {
	if len(p.s)-p.i < len(lit) || p.s[p.i:p.i+len(lit)] != lit {
		return false
	}
	n := p.add(k, p.i)
	p.d.nodes[n].flags = flags
	p.i += len(lit)
	p.done(n)
	return true
}

func (p *parser) object(depth int) bool {
	if depth > maxDepth {
		return false
	}
	n := p.add(kindObject, p.i)
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.done(n)
		return true
	}
	for {
		if p.i >= len(p.s) || p.s[p.i] != '"' || !p.str() {
			return false
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		if !p.value(depth) {
			return false
		}
		p.space()
		if p.i >= len(p.s) {
			return false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.space()
		case '}':
			p.i++
			p.done(n)
			return true
		default:
			return false
		}
	}
}

func (p *parser) array(depth int) bool {
	if depth > maxDepth {
		return false
	}
	n := p.add(kindArray, p.i)
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.done(n)
		return true
	}
	for {
		if !p.value(depth) {
			return false
		}
		p.space()
		if p.i >= len(p.s) {
			return false
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.space()
		case ']':
			p.i++
			p.done(n)
			return true
		default:
			return false
		}
	}
}

// str reads a string; the node spans the inside of its quotes.
func (p *parser) str() bool {
	p.i++
	n := p.add(kindString, p.i)
	var flags uint8
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.d.nodes[n].flags = flags
			p.done(n)
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			flags = flagEscaped
			if !p.escape() {
				return false
			}
			continue
		case c >= 0x80:
			flags = flagEscaped
		}
		p.i++
	}
	return false
}

func (p *parser) escape() bool {
	p.i++
	if p.i >= len(p.s) {
		return false
	}
	switch p.s[p.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.i++
		return true
	case 'u':
		if len(p.s)-p.i < 5 {
			return false
		}
		for _, h := range []byte(p.s[p.i+1 : p.i+5]) {
			if !isHex(h) {
				return false
			}
		}
		p.i += 5
		return true
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (p *parser) digits() int {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?.
func (p *parser) number() bool {
	n := p.add(kindNumber, p.i)
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if p.digits() == 0 {
		return false
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return false
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return false
		}
	}
	p.done(n)
	return true
}
