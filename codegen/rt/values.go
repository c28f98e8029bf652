package rt

import (
	"bytes"
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Rules are the constraints of one field; zero values mean "no rule".
type Rules struct {
	MinLength int
	MaxLength int
	Pattern   *regexp.Regexp
	Enum      []string
	Min, Max  *big.Rat
	Precision int
	Scale     int
	// Default is used when the value is absent (not when it is null); the
	// zero Value is no default.
	Default Value
}

// MustRat parses a bound written in an entity definition.
func MustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("rt: bad number " + s)
	}
	return r
}

func unmarshal(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Lookup reads the dotted key in obj ("" is obj itself); see Value.Lookup.
func Lookup(obj Value, key string) (Value, bool) { return obj.Lookup(key) }

// Conv converts a present, non-null JSON value into a field's Go type,
// recording what is wrong with it.
type Conv[T any] func(e *Errors, l Loc, v Value, r *Rules) T

// Required reads a field that must have a value: absent takes the default,
// absent without default and null are errors.
func Required[T any](e *Errors, v Value, found bool, l Loc, r *Rules, conv Conv[T]) T {
	if !found && r.Default.d != nil {
		v, found = r.Default, true
	}
	if v.IsNull() {
		if found {
			e.Add(l, "must not be null")
		} else {
			e.Add(l, "required")
		}
		var zero T
		return zero
	}
	return conv(e, l, v, r)
}

// Optional reads a nullable field: absent takes the default, then absent or
// null is nil.
func Optional[T any](e *Errors, v Value, found bool, l Loc, r *Rules, conv Conv[T]) *T {
	if !found && r.Default.d != nil {
		v = r.Default
	}
	if v.IsNull() {
		return nil
	}
	x := conv(e, l, v, r)
	return &x
}

// Array converts a JSON array element by element; the rules apply to each
// element.
func Array[T any](conv Conv[T]) Conv[[]T] {
	return func(e *Errors, l Loc, v Value, r *Rules) []T {
		if v.kind() != kindArray {
			e.Add(l, "expected array")
			return nil
		}
		out := make([]T, v.count())
		v.elems(func(i int, item Value) {
			if item.IsNull() {
				e.Add(l.Elem(i), "must not be null")
				return
			}
			out[i] = conv(e, l.Elem(i), item, r)
		})
		return out
	}
}

// Items reads the array a repeated entity is derived from. Null or [] is
// no item; an absent array is an error at l, since its parent is in the
// message and a silently empty set of rows would complete the message
// without them.
func Items(e *Errors, v Value, found bool, l Loc) func(yield func(int, Value) bool) {
	return func(yield func(int, Value) bool) {
		if !found {
			e.Add(l, "missing: the array of a repeated entity's items is not in the message, so none of its rows could be written")
			return
		}
		if v.IsNull() {
			return
		}
		if v.kind() != kindArray {
			e.Add(l, "expected array")
			return
		}
		n := v.node()
		for i, j := 0, v.i+1; j < n.next; i, j = i+1, v.d.nodes[j].next {
			if !yield(i, Value{v.d, j}) {
				return
			}
		}
	}
}

func typeName(v Value) string {
	switch v.kind() {
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "boolean"
	case kindArray:
		return "array"
	case kindObject:
		return "object"
	case kindForeign:
		return goTypeName(v.d.foreign)
	}
	return "null"
}

// goTypeName names the JSON type of a generic value.
func goTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// String reads a string and checks its length, pattern and enum.
func String(e *Errors, l Loc, v Value, r *Rules) string {
	if v.kind() != kindString {
		e.Addf(l, "expected string, got %s", typeName(v))
		return ""
	}
	s := v.str()
	if r.MinLength > 0 || r.MaxLength > 0 {
		n := utf8.RuneCountInString(s)
		if r.MinLength > 0 && n < r.MinLength {
			e.Addf(l, "shorter than %d characters", r.MinLength)
		}
		if r.MaxLength > 0 && n > r.MaxLength {
			e.Addf(l, "longer than %d characters", r.MaxLength)
		}
	}
	if r.Pattern != nil && !r.Pattern.MatchString(s) {
		e.Addf(l, "does not match %s", r.Pattern)
	}
	if len(r.Enum) > 0 && !oneOf(r.Enum, s) {
		e.Addf(l, "must be one of %s", strings.Join(r.Enum, ", "))
	}
	return s
}

func oneOf(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// UUID reads a UUID string and returns its canonical form.
func UUID(e *Errors, l Loc, v Value, r *Rules) string {
	if v.kind() != kindString {
		e.Addf(l, "expected UUID string, got %s", typeName(v))
		return ""
	}
	s := v.str()
	id, err := uuid.Parse(s)
	if err != nil {
		e.Add(l, "expected UUID")
		return ""
	}
	return id.String()
}

func integer(e *Errors, l Loc, v Value, r *Rules, bits int, name string) int64 {
	if v.kind() != kindNumber {
		e.Addf(l, "expected %s, got %s", name, typeName(v))
		return 0
	}
	n := v.text()
	i, err := strconv.ParseInt(n, 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			e.Addf(l, "out of range for %s", name)
		} else {
			e.Addf(l, "expected %s, got %s", name, n)
		}
		return 0
	}
	if r.Min != nil || r.Max != nil {
		boundsInt(e, l, i, r)
	}
	return i
}

func bounds(e *Errors, l Loc, x *big.Rat, r *Rules) {
	if r.Min != nil && x.Cmp(r.Min) < 0 {
		e.Addf(l, "below minimum %s", r.Min.RatString())
	}
	if r.Max != nil && x.Cmp(r.Max) > 0 {
		e.Addf(l, "above maximum %s", r.Max.RatString())
	}
}

// Int32 reads an integer column value.
func Int32(e *Errors, l Loc, v Value, r *Rules) int32 {
	return int32(integer(e, l, v, r, 32, "integer"))
}

// Int64 reads a bigint column value.
func Int64(e *Errors, l Loc, v Value, r *Rules) int64 {
	return integer(e, l, v, r, 64, "bigint")
}

// Float reads a double precision value.
func Float(e *Errors, l Loc, v Value, r *Rules) float64 {
	if v.kind() != kindNumber {
		e.Addf(l, "expected number, got %s", typeName(v))
		return 0
	}
	f, err := strconv.ParseFloat(v.text(), 64)
	if err != nil {
		e.Add(l, "out of range for float")
		return 0
	}
	if r.Min != nil || r.Max != nil {
		bounds(e, l, new(big.Rat).SetFloat64(f), r)
	}
	return f
}

// Bool reads a boolean.
func Bool(e *Errors, l Loc, v Value, r *Rules) bool {
	if v.kind() != kindBool {
		e.Addf(l, "expected boolean, got %s", typeName(v))
		return false
	}
	return v.node().flags&flagTrue != 0
}

// Date reads a date written YYYY-MM-DD.
func Date(e *Errors, l Loc, v Value, r *Rules) time.Time {
	if v.kind() != kindString {
		e.Addf(l, "expected date string (YYYY-MM-DD), got %s", typeName(v))
		return time.Time{}
	}
	s := v.str()
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		e.Addf(l, "expected date (YYYY-MM-DD), got %q", s)
	}
	return t
}

// Timestamp reads an RFC 3339 timestamp with its offset.
func Timestamp(e *Errors, l Loc, v Value, r *Rules) time.Time {
	if v.kind() != kindString {
		e.Addf(l, "expected timestamp string (RFC 3339), got %s", typeName(v))
		return time.Time{}
	}
	s := v.str()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		e.Addf(l, "expected RFC 3339 timestamp (2006-01-02T15:04:05Z), got %q", s)
	}
	return t
}

// JSON keeps any JSON value as it is.
func JSON(e *Errors, l Loc, v Value, r *Rules) json.RawMessage {
	data, err := json.Marshal(v.Any())
	if err != nil {
		e.Add(l, err.Error())
	}
	return data
}
