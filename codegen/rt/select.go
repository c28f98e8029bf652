package rt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Root is a root entity as the generated code describes it, for choosing
// the entity of a message.
type Root struct {
	Name string
	// Required lists the paths that a body of this entity always carries
	// (fields read from the body, not nullable, without default).
	Required []string
}

// ErrNoEntity is wrapped by the errors of Select that concern the choice of
// the root entity rather than the body's values.
var ErrNoEntity = errors.New("no entity for message")

// Select parses body, which must be one JSON object, and chooses its root
// entity: the one named by entityType (its name, in any case, with or
// without underscores); without one, the only root; otherwise the one
// whose required paths the body carries. None or several is an error
// saying why.
func Select(roots []Root, entityType string, body []byte) (string, Value, error) {
	d, ok := parse(body)
	if !ok {
		return "", Value{}, syntaxError(body)
	}
	obj := Value{d: d}
	if obj.kind() != kindObject {
		return "", Value{}, &DecodeError{Fields: []FieldError{{Path: "body", Msg: "expected object, got " + typeName(obj)}}}
	}
	name, err := choose(roots, entityType, obj)
	return name, obj, err
}

// syntaxError describes why body is not one JSON value, in encoding/json's
// words: invalid bodies are rare, and their errors stay those clients know.
func syntaxError(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return &DecodeError{Fields: []FieldError{{Path: "body", Msg: "invalid JSON: " + err.Error()}}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &DecodeError{Fields: []FieldError{{Path: "body", Msg: "invalid JSON: data after the value"}}}
	}
	return &DecodeError{Fields: []FieldError{{Path: "body", Msg: "invalid JSON"}}}
}

func normalize(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

func choose(roots []Root, entityType string, obj Value) (string, error) {
	names := make([]string, len(roots))
	for i, r := range roots {
		names[i] = r.Name
	}
	if entityType != "" {
		for _, r := range roots {
			if normalize(r.Name) == normalize(entityType) {
				return r.Name, nil
			}
		}
		return "", fmt.Errorf("%w: entity_type %q is not a root entity (roots: %s)", ErrNoEntity, entityType, strings.Join(names, ", "))
	}
	if len(roots) == 1 {
		return roots[0].Name, nil
	}
	var match, lacking []string
	for _, r := range roots {
		var missing []string
		for _, p := range r.Required {
			if v, ok := obj.Lookup(p); !ok || v.IsNull() {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			match = append(match, r.Name)
		} else {
			lacking = append(lacking, fmt.Sprintf("%s lacks %s", r.Name, strings.Join(missing, ", ")))
		}
	}
	sort.Strings(match)
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("%w: no entity_type and the body carries the required fields of no root entity (%s)", ErrNoEntity, strings.Join(lacking, "; "))
	}
	return "", fmt.Errorf("%w: no entity_type and the body carries the required fields of several root entities (%s); set entity_type", ErrNoEntity, strings.Join(match, ", "))
}
