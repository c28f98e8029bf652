package codegen

import (
	"fmt"
	"sort"
	"strings"
)

// Type is a field type: a scalar, or an array of a scalar written `T[]`
// (the PostgreSQL spelling, e.g. `integer[]`).
type Type struct {
	Base  string
	Array bool
}

func (t Type) String() string {
	if t.Array {
		return t.Base + "[]"
	}
	return t.Base
}

// scalar describes one scalar type: its Go type, the rt converter that reads
// it from JSON, the rt formatter that writes it as PostgreSQL text, and its
// column type.
type scalar struct {
	goType  string
	conv    string
	format  string
	sqlType string
	numeric bool
	text    bool
}

var scalars = map[string]scalar{
	"string":    {goType: "string", conv: "rt.String", format: "rt.FormatString", sqlType: "text", text: true},
	"text":      {goType: "string", conv: "rt.String", format: "rt.FormatString", sqlType: "text", text: true},
	"integer":   {goType: "int32", conv: "rt.Int32", format: "rt.FormatInt32", sqlType: "integer", numeric: true},
	"bigint":    {goType: "int64", conv: "rt.Int64", format: "rt.FormatInt64", sqlType: "bigint", numeric: true},
	"float":     {goType: "float64", conv: "rt.Float", format: "rt.FormatFloat", sqlType: "double precision", numeric: true},
	"decimal":   {goType: "rt.Decimal", conv: "rt.DecimalOf", format: "rt.FormatDecimal", sqlType: "numeric", numeric: true},
	"boolean":   {goType: "bool", conv: "rt.Bool", format: "rt.FormatBool", sqlType: "boolean"},
	"date":      {goType: "time.Time", conv: "rt.Date", format: "rt.FormatDate", sqlType: "date"},
	"timestamp": {goType: "time.Time", conv: "rt.Timestamp", format: "rt.FormatTimestamp", sqlType: "timestamptz"},
	"uuid":      {goType: "string", conv: "rt.UUID", format: "rt.FormatString", sqlType: "uuid"},
	"json":      {goType: "json.RawMessage", conv: "rt.JSON", format: "rt.FormatJSON", sqlType: "jsonb"},
}

// typeNames lists the scalar type names for error messages.
func typeNames() string {
	names := make([]string, 0, len(scalars))
	for n := range scalars {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseType reads a type name; arrays of json are refused (a json value is
// already free-form).
func parseType(s string) (Type, error) {
	base, array := strings.CutSuffix(s, "[]")
	if _, ok := scalars[base]; !ok {
		if strings.HasPrefix(s, "array<") {
			return Type{}, fmt.Errorf("unknown type %q: write arrays as T[], e.g. integer[]", s)
		}
		return Type{}, fmt.Errorf("unknown type %q (known: %s, and arrays T[] of them)", s, typeNames())
	}
	if array && base == "json" {
		return Type{}, fmt.Errorf("unknown type %q: a json field already holds any JSON value; use json", s)
	}
	return Type{Base: base, Array: array}, nil
}

func (t Type) scalar() scalar { return scalars[t.Base] }

// IsText reports whether values are strings (length, pattern and enum apply).
func (t Type) IsText() bool { return t.scalar().text }

// IsNumeric reports whether values are numbers (minimum and maximum apply).
func (t Type) IsNumeric() bool { return t.scalar().numeric }

// sqlType is the column type of a field.
func (f *Field) sqlType() string {
	s := f.Type.scalar().sqlType
	if f.Type.Base == "decimal" && f.Constraints.Precision != nil {
		if f.Constraints.Scale != nil {
			s = fmt.Sprintf("numeric(%d,%d)", *f.Constraints.Precision, *f.Constraints.Scale)
		} else {
			s = fmt.Sprintf("numeric(%d)", *f.Constraints.Precision)
		}
	}
	if f.Type.Array {
		s += "[]"
	}
	return s
}

// castType is the type the text of a column is cast to in INSERT.
func (f *Field) castType() string {
	s := f.Type.scalar().sqlType
	if f.Type.Array {
		s += "[]"
	}
	return s
}

// goType is the Go type of a field in the entity struct.
func (f *Field) goType() string {
	s := f.Type.scalar().goType
	if f.Type.Array {
		s = "[]" + s
	}
	if f.Constraints.Nullable {
		s = "*" + s
	}
	return s
}
