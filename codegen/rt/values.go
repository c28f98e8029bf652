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
	// Default is used when the value is absent (not when it is null).
	Default any
}

// MustRat parses a bound written in an entity definition.
func MustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("rt: bad number " + s)
	}
	return r
}

// MustJSON parses a constant or default written in an entity definition
// into the value a body would have carried.
func MustJSON(s string) any {
	v, err := unmarshal([]byte(s))
	if err != nil {
		panic("rt: bad JSON " + s)
	}
	return v
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

// Lookup reads the dotted key in obj ("" is obj itself). A key is absent
// when any step is missing or not an object.
func Lookup(obj any, key string) (any, bool) {
	for key != "" {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil, false
		}
		var k string
		k, key, _ = strings.Cut(key, ".")
		if obj, ok = m[k]; !ok {
			return nil, false
		}
	}
	return obj, true
}

// Conv converts a present, non-null JSON value into a field's Go type,
// recording what is wrong with it.
type Conv[T any] func(e *Errors, l Loc, v any, r *Rules) T

// Required reads a field that must have a value: absent takes the default,
// absent without default and null are errors.
func Required[T any](e *Errors, v any, found bool, l Loc, r *Rules, conv Conv[T]) T {
	if !found && r.Default != nil {
		v, found = r.Default, true
	}
	if v == nil {
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
func Optional[T any](e *Errors, v any, found bool, l Loc, r *Rules, conv Conv[T]) *T {
	if !found && r.Default != nil {
		v = r.Default
	}
	if v == nil {
		return nil
	}
	x := conv(e, l, v, r)
	return &x
}

// Array converts a JSON array element by element; the rules apply to each
// element.
func Array[T any](conv Conv[T]) Conv[[]T] {
	return func(e *Errors, l Loc, v any, r *Rules) []T {
		items, ok := v.([]any)
		if !ok {
			e.Add(l, "expected array")
			return nil
		}
		out := make([]T, len(items))
		for i, item := range items {
			if item == nil {
				e.Add(l.Elem(i), "must not be null")
				continue
			}
			out[i] = conv(e, l.Elem(i), item, r)
		}
		return out
	}
}

// Items reads the array a repeated entity is derived from: absent or null
// is no item.
func Items(e *Errors, v any, found bool, l Loc) []any {
	if !found || v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		e.Add(l, "expected array")
	}
	return items
}

func typeName(v any) string {
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
func String(e *Errors, l Loc, v any, r *Rules) string {
	s, ok := v.(string)
	if !ok {
		e.Addf(l, "expected string, got %s", typeName(v))
		return ""
	}
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
func UUID(e *Errors, l Loc, v any, r *Rules) string {
	s, ok := v.(string)
	if !ok {
		e.Addf(l, "expected UUID string, got %s", typeName(v))
		return ""
	}
	id, err := uuid.Parse(s)
	if err != nil {
		e.Add(l, "expected UUID")
		return ""
	}
	return id.String()
}

func integer(e *Errors, l Loc, v any, r *Rules, bits int, name string) int64 {
	n, ok := v.(json.Number)
	if !ok {
		e.Addf(l, "expected %s, got %s", name, typeName(v))
		return 0
	}
	i, err := strconv.ParseInt(string(n), 10, bits)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			e.Addf(l, "out of range for %s", name)
		} else {
			e.Addf(l, "expected %s, got %s", name, n)
		}
		return 0
	}
	if r.Min != nil || r.Max != nil {
		bounds(e, l, new(big.Rat).SetInt64(i), r)
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
func Int32(e *Errors, l Loc, v any, r *Rules) int32 {
	return int32(integer(e, l, v, r, 32, "integer"))
}

// Int64 reads a bigint column value.
func Int64(e *Errors, l Loc, v any, r *Rules) int64 {
	return integer(e, l, v, r, 64, "bigint")
}

// Float reads a double precision value.
func Float(e *Errors, l Loc, v any, r *Rules) float64 {
	n, ok := v.(json.Number)
	if !ok {
		e.Addf(l, "expected number, got %s", typeName(v))
		return 0
	}
	f, err := strconv.ParseFloat(string(n), 64)
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
func Bool(e *Errors, l Loc, v any, r *Rules) bool {
	b, ok := v.(bool)
	if !ok {
		e.Addf(l, "expected boolean, got %s", typeName(v))
	}
	return b
}

// Date reads a date written YYYY-MM-DD.
func Date(e *Errors, l Loc, v any, r *Rules) time.Time {
	s, ok := v.(string)
	if !ok {
		e.Addf(l, "expected date string (YYYY-MM-DD), got %s", typeName(v))
		return time.Time{}
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		e.Addf(l, "expected date (YYYY-MM-DD), got %q", s)
	}
	return t
}

// Timestamp reads an RFC 3339 timestamp with its offset.
func Timestamp(e *Errors, l Loc, v any, r *Rules) time.Time {
	s, ok := v.(string)
	if !ok {
		e.Addf(l, "expected timestamp string (RFC 3339), got %s", typeName(v))
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		e.Addf(l, "expected RFC 3339 timestamp (2006-01-02T15:04:05Z), got %q", s)
	}
	return t
}

// JSON keeps any JSON value as it is.
func JSON(e *Errors, l Loc, v any, r *Rules) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		e.Add(l, err.Error())
	}
	return data
}
