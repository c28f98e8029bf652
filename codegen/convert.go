package codegen

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Convert rewrites entity definitions of any format nomnom reads (the
// origin project's legacy `entity:` files and nomnom.io/v1 documents, or
// nomnom's own) into nomnom's own format under APIVersion. files are keyed
// by name, as for LoadFiles; the result has one file per input file that
// defines entities, under the same base name with a .yaml extension. The
// definitions must load without error: a construct nomnom cannot express
// is reported, not dropped.
func Convert(files map[string][]byte) (map[string][]byte, error) {
	m, err := LoadFiles(files)
	if err != nil {
		return nil, err
	}
	byFile := map[string][]*Entity{}
	for _, e := range m.Entities {
		byFile[e.Pos.File] = append(byFile[e.Pos.File], e)
	}
	out := map[string][]byte{}
	for file, entities := range byFile {
		var buf bytes.Buffer
		for i, e := range entities {
			if i > 0 {
				buf.WriteString("---\n")
			}
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(document(e)); err != nil {
				return nil, fmt.Errorf("convert %s: %w", e.Name, err)
			}
			if err := enc.Close(); err != nil {
				return nil, fmt.Errorf("convert %s: %w", e.Name, err)
			}
		}
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) + ".yaml"
		out[name] = buf.Bytes()
	}
	return out, nil
}

// The documents Convert writes, in the key order of nomnom's format.
type (
	docOut struct {
		APIVersion string  `yaml:"apiVersion"`
		Kind       string  `yaml:"kind"`
		Metadata   metaOut `yaml:"metadata"`
		Spec       specOut `yaml:"spec"`
	}
	metaOut struct {
		Name        string            `yaml:"name"`
		Description string            `yaml:"description,omitempty"`
		Labels      map[string]string `yaml:"labels,omitempty"`
		Annotations map[string]string `yaml:"annotations,omitempty"`
	}
	specOut struct {
		Type        string     `yaml:"type"`
		Repetition  string     `yaml:"repetition,omitempty"`
		Derivation  *derivOut  `yaml:"derivation,omitempty"`
		Fields      []fieldOut `yaml:"fields"`
		Persistence persistOut `yaml:"persistence"`
	}
	derivOut struct {
		Parent      string          `yaml:"parent,omitempty"`
		RepeatedFor *repeatedForOut `yaml:"repeatedFor,omitempty"`
	}
	repeatedForOut struct {
		Entity   string `yaml:"entity"`
		Field    string `yaml:"field"`
		ItemName string `yaml:"itemName"`
	}
	fieldOut struct {
		Name        string          `yaml:"name"`
		Type        string          `yaml:"type"`
		Description string          `yaml:"description,omitempty"`
		Constraints *constraintsOut `yaml:"constraints,omitempty"`
		Source      *sourceOut      `yaml:"source,omitempty"`
	}
	constraintsOut struct {
		Nullable   bool       `yaml:"nullable,omitempty"`
		MaxLength  *int       `yaml:"maxLength,omitempty"`
		MinLength  *int       `yaml:"minLength,omitempty"`
		Minimum    *yaml.Node `yaml:"minimum,omitempty"`
		Maximum    *yaml.Node `yaml:"maximum,omitempty"`
		Pattern    string     `yaml:"pattern,omitempty"`
		Enum       []string   `yaml:"enum,omitempty,flow"`
		Default    *yaml.Node `yaml:"default,omitempty"`
		PrimaryKey bool       `yaml:"primaryKey,omitempty"`
		Unique     bool       `yaml:"unique,omitempty"`
		Indexed    bool       `yaml:"indexed,omitempty"`
		Precision  *int       `yaml:"precision,omitempty"`
		Scale      *int       `yaml:"scale,omitempty"`
	}
	sourceOut struct {
		Field     string        `yaml:"field,omitempty"`
		CopyFrom  *copyFromOut  `yaml:"copyFrom,omitempty,flow"`
		Constant  *yaml.Node    `yaml:"constant,omitempty"`
		Transform *transformOut `yaml:"transform,omitempty"`
	}
	copyFromOut struct {
		Entity string `yaml:"entity"`
		Field  string `yaml:"field"`
	}
	transformOut struct {
		Name   string            `yaml:"name"`
		Inputs []string          `yaml:"inputs,flow"`
		Args   map[string]string `yaml:"args,omitempty"`
	}
	persistOut struct {
		Enabled    *bool      `yaml:"enabled,omitempty"`
		Table      string     `yaml:"table,omitempty"`
		Unicity    *unicity   `yaml:"unicity,omitempty"`
		OnConflict string     `yaml:"onConflict,omitempty"`
		Indexes    []indexOut `yaml:"indexes,omitempty"`
	}
	unicity struct {
		Fields []string `yaml:"fields,flow"`
	}
	indexOut struct {
		Name   string   `yaml:"name,omitempty"`
		Fields []string `yaml:"fields,flow"`
		Unique bool     `yaml:"unique,omitempty"`
	}
)

func document(e *Entity) docOut {
	d := docOut{
		APIVersion: APIVersion,
		Kind:       "Entity",
		Metadata:   metaOut{Name: e.Name, Description: e.Description, Labels: e.Labels, Annotations: e.Annotations},
		Spec:       specOut{Type: e.Type},
	}
	if e.Type == "derived" {
		d.Spec.Derivation = &derivOut{Parent: e.Derivation.Parent}
		if rf := e.Derivation.RepeatedFor; rf != nil {
			d.Spec.Derivation = &derivOut{RepeatedFor: &repeatedForOut{Entity: rf.Entity, Field: rf.Field, ItemName: rf.ItemName}}
			d.Spec.Repetition = "repeated"
		}
	}
	for _, f := range e.Fields {
		d.Spec.Fields = append(d.Spec.Fields, fieldDoc(f))
	}
	ps := e.Persistence
	p := &d.Spec.Persistence
	if !ps.Enabled {
		off := false
		p.Enabled = &off
		return d
	}
	p.Table = ps.Table
	if len(ps.Unicity) > 0 {
		p.Unicity = &unicity{Fields: ps.Unicity}
	}
	if ps.OnConflict == "ignore" {
		p.OnConflict = ps.OnConflict
	}
	for _, ix := range ps.Indexes {
		p.Indexes = append(p.Indexes, indexOut{Name: ix.Name, Fields: ix.Fields, Unique: ix.Unique})
	}
	return d
}

func fieldDoc(f *Field) fieldOut {
	out := fieldOut{Name: f.Name, Type: f.Type.String(), Description: f.Description}
	c := f.Constraints
	co := constraintsOut{
		Nullable: c.Nullable, MaxLength: c.MaxLength, MinLength: c.MinLength, Pattern: c.Pattern, Enum: c.Enum,
		PrimaryKey: c.PrimaryKey, Unique: c.Unique, Indexed: c.Indexed, Precision: c.Precision, Scale: c.Scale,
		Minimum: numberNode(c.Minimum), Maximum: numberNode(c.Maximum), Default: scalarNode(c.Default),
	}
	if !reflect.ValueOf(co).IsZero() {
		out.Constraints = &co
	}
	s := f.Source
	switch {
	case s.CopyFrom != nil:
		out.Source = &sourceOut{CopyFrom: &copyFromOut{Entity: s.CopyFrom.Entity, Field: s.CopyFrom.Field}}
	case s.Constant != nil:
		out.Source = &sourceOut{Constant: scalarNode(s.Constant)}
	case s.Transform != nil:
		t := s.Transform
		out.Source = &sourceOut{Transform: &transformOut{Name: t.Name, Inputs: t.Inputs, Args: t.Args}}
	case s.Field != "" && s.Field != f.Name:
		out.Source = &sourceOut{Field: s.Field}
	}
	return out
}

// numberNode writes a number kept as its text as a plain YAML number.
func numberNode(n *string) *yaml.Node {
	if n == nil {
		return nil
	}
	tag := "!!int"
	if strings.ContainsAny(*n, ".eE") {
		tag = "!!float"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: *n}
}

// scalarNode writes a scalar with the tag it was read with, so that "007"
// stays a string and 7 a number.
func scalarNode(s *Scalar) *yaml.Node {
	if s == nil {
		return nil
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: s.Tag, Value: s.Value}
	if s.Tag == "!!str" {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}
