package gateway

import "unicode/utf8"

// maxBodyNesting bounds the nesting of arrays and objects in a body: one
// less than encoding/json's bound (10000), since the envelope embeds the body
// one level deeper and the workers must decode the envelope.
const maxBodyNesting = 10000 - 1

// scanJSON reports whether data is one valid JSON value with optional white
// space around it, accepting exactly what json.Valid accepts, and whether
// white space separates the tokens inside it (then json.Compact shortens
// it). It is a single pass without allocation for nesting up to 64 deep:
// json.Valid costs a function call per byte, and validating the body is
// the gateway's largest CPU cost per message after the network.
func scanJSON(data []byte) (valid, spaced bool) {
	const (
		value = iota // a value is next
		key          // an object key is next
		after        // a value has ended
	)
	var buf [64]byte
	stack := buf[:0]
	n := len(data)
	i := skipSpace(data, 0)
	state := value
	for {
		switch state {
		case value:
			if i >= n {
				return false, false
			}
			switch c := data[i]; c {
			case '{', '[':
				if len(stack) == maxBodyNesting {
					return false, false
				}
				stack = append(stack, c)
				j := skipSpace(data, i+1)
				spaced = spaced || j > i+1
				i = j
				if i < n && data[i] == c+2 { // '}' and ']' follow '{' and '[' by 2
					stack = stack[:len(stack)-1]
					i++
					state = after
				} else if c == '{' {
					state = key
				}
			case '"':
				if i = scanString(data, i); i < 0 {
					return false, false
				}
				state = after
			case 't':
				if i = scanLiteral(data, i, "true"); i < 0 {
					return false, false
				}
				state = after
			case 'f':
				if i = scanLiteral(data, i, "false"); i < 0 {
					return false, false
				}
				state = after
			case 'n':
				if i = scanLiteral(data, i, "null"); i < 0 {
					return false, false
				}
				state = after
			default:
				if i = scanNumber(data, i); i < 0 {
					return false, false
				}
				state = after
			}
		case key:
			if i >= n || data[i] != '"' {
				return false, false
			}
			if i = scanString(data, i); i < 0 {
				return false, false
			}
			j := skipSpace(data, i)
			if j >= n || data[j] != ':' {
				return false, false
			}
			k := skipSpace(data, j+1)
			spaced = spaced || j > i || k > j+1
			i = k
			state = value
		case after:
			j := skipSpace(data, i)
			if len(stack) == 0 {
				return j == n, spaced
			}
			spaced = spaced || j > i
			i = j
			if i >= n {
				return false, false
			}
			top := stack[len(stack)-1]
			switch data[i] {
			case ',':
				j := skipSpace(data, i+1)
				spaced = spaced || j > i+1
				i = j
				if top == '{' {
					state = key
				} else {
					state = value
				}
			case top + 2:
				stack = stack[:len(stack)-1]
				i++
			default:
				return false, false
			}
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString marks the bytes a string can hold as they are: not a control
// character, a quote or a backslash.
var plainString = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString returns the index after the string starting with the quote at
// i, or -1 when it is not a valid JSON string.
func scanString(data []byte, i int) int {
	n := len(data)
	for i++; i < n; i++ {
		c := data[i]
		if plainString[c] {
			continue
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			i++
			if i >= n {
				return -1
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= n || !isHex(data[i+1]) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// scanLiteral returns the index after lit at i, or -1.
func scanLiteral(data []byte, i int, lit string) int {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanNumber returns the index after the number at i, or -1 when there is
// no valid JSON number there:
// -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) int {
	n := len(data)
	if i < n && data[i] == '-' {
		i++
	}
	switch {
	case i < n && data[i] == '0':
		i++
	case i < n && '1' <= data[i] && data[i] <= '9':
		i = digits(data, i+1)
	default:
		return -1
	}
	if i < n && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// nestingDepth returns the deepest nesting of arrays and objects in data,
// outside strings; it tells a body refused for its depth from one refused
// for its syntax.
func nestingDepth(data []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		case '"':
			if j := scanString(data, i); j > 0 {
				i = j - 1
			} else {
				return deepest
			}
		}
	}
	return deepest
}

// invalidUTF8 returns the offset of the first byte of data that does not
// start a valid UTF-8 sequence, or len(data).
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}
