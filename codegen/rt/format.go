package rt

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Rows are written as PostgreSQL text and cast to the column types in SQL,
// so that every type (numeric, arrays, jsonb) travels the same way and a
// decimal is never converted.

// Text is the column text of v.
func Text[T any](v T, format func(T) string) *string {
	s := format(v)
	return &s
}

// TextPtr is the column text of a nullable v: nil is NULL.
func TextPtr[T any](v *T, format func(T) string) *string {
	if v == nil {
		return nil
	}
	return Text(*v, format)
}

// TextArray is the column text of an array: a PostgreSQL array literal.
func TextArray[T any](v []T, format func(T) string) *string {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		s := format(x)
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	s := b.String()
	return &s
}

// TextArrayPtr is TextArray of a nullable array.
func TextArrayPtr[T any](v *[]T, format func(T) string) *string {
	if v == nil {
		return nil
	}
	return TextArray(*v, format)
}

// FormatString writes a string (also text and uuid).
func FormatString(s string) string { return s }

// FormatInt32 writes an integer.
func FormatInt32(i int32) string { return strconv.FormatInt(int64(i), 10) }

// FormatInt64 writes a bigint.
func FormatInt64(i int64) string { return strconv.FormatInt(i, 10) }

// FormatFloat writes a double precision value without losing bits.
func FormatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// FormatDecimal writes a decimal as the text it was read from.
func FormatDecimal(d Decimal) string { return string(d) }

// FormatBool writes a boolean.
func FormatBool(b bool) string { return strconv.FormatBool(b) }

// FormatDate writes a date.
func FormatDate(t time.Time) string { return t.Format(time.DateOnly) }

// FormatTimestamp writes a timestamp with its offset.
func FormatTimestamp(t time.Time) string { return t.Format(time.RFC3339Nano) }

// FormatJSON writes a JSON value.
func FormatJSON(j json.RawMessage) string { return string(j) }
