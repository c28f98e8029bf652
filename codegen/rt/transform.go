package rt

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Transform computes a field's value from the values at its input paths
// (nil for an absent or null one) and the args of its definition. It
// returns a JSON-like value (string, json.Number, bool, nil, []any,
// map[string]any) that is then checked like a value read from the body; nil
// means absent. The Go functions that entity definitions name with
// `transform: {name: go:<func>}` have this type.
type Transform func(inputs []any, args map[string]string) (any, error)

// Apply runs fn on the values at the input keys of obj and returns its
// result; found is false when the result is nil (absent). ok is false when
// fn failed; its error is then recorded at l.
func Apply(e *Errors, l Loc, fn Transform, args map[string]string, obj Value, keys ...string) (v Value, found, ok bool) {
	inputs := make([]any, len(keys))
	for i, k := range keys {
		in, _ := obj.Lookup(k)
		inputs[i] = in.Any()
	}
	x, err := fn(inputs, args)
	if err != nil {
		e.Add(l, err.Error())
		return Value{}, false, false
	}
	v, found = ValueOf(x)
	return v, found, true
}

func text(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	case bool:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("expected string, got %s", goTypeName(v))
}

func oneString(inputs []any, f func(string) string) (any, error) {
	if inputs[0] == nil {
		return nil, nil
	}
	s, err := text(inputs[0])
	if err != nil {
		return nil, err
	}
	return f(s), nil
}

// Lower is the built-in transform lower: its input in lower case.
func Lower(inputs []any, _ map[string]string) (any, error) {
	return oneString(inputs, strings.ToLower)
}

// Upper is the built-in transform upper: its input in upper case.
func Upper(inputs []any, _ map[string]string) (any, error) {
	return oneString(inputs, strings.ToUpper)
}

// Trim is the built-in transform trim: its input without surrounding space.
func Trim(inputs []any, _ map[string]string) (any, error) {
	return oneString(inputs, strings.TrimSpace)
}

// Concat is the built-in transform concat: its present inputs joined with
// args["separator"]; absent when all are.
func Concat(inputs []any, args map[string]string) (any, error) {
	parts := make([]string, 0, len(inputs))
	for _, in := range inputs {
		if in == nil {
			continue
		}
		s, err := text(in)
		if err != nil {
			return nil, err
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return strings.Join(parts, args["separator"]), nil
}

// Coalesce is the built-in transform coalesce: its first input that is
// present and not null.
func Coalesce(inputs []any, _ map[string]string) (any, error) {
	for _, in := range inputs {
		if in != nil {
			return in, nil
		}
	}
	return nil, nil
}
