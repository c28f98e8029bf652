package codegen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// APIVersion is the apiVersion of nomnom's own entity format. It is not the
// origin project's: see SharedAPIVersion.
const APIVersion = "nomnom.dev/v1"

// SharedAPIVersion is the apiVersion that nomnom's own format used before
// it had one of its own, and that the origin project's v1 schema uses for a
// different shape. A document under it is read by shape: the origin's when
// it uses any construct only the origin has (see originShaped), nomnom's
// otherwise.
const SharedAPIVersion = "nomnom.io/v1"

// Load reads every *.yaml and *.yml file of dir (not its subfolders), every
// document of each, and validates the whole set. The error, when not nil, is
// an ErrorList holding every problem found, each naming file, line and key.
func Load(dir string) (*Model, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read entity definitions: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		name := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read entity definitions: %w", err)
		}
		files[name] = data
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read entity definitions: no *.yaml or *.yml file in %s", dir)
	}
	return LoadFiles(files)
}

// LoadFiles is Load on files already read, keyed by the name errors should
// show.
func LoadFiles(files map[string][]byte) (*Model, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var errs ErrorList
	m := &Model{}
	for _, name := range names {
		m.Entities = append(m.Entities, parseFile(name, files[name], &errs)...)
	}
	if len(m.Entities) == 0 && len(errs) == 0 {
		file := "(no file)"
		if len(names) > 0 {
			file = names[0]
		}
		errs.add(Pos{File: file, Line: 1}, "", "no entity defined")
	}
	resolveOrigin(m, &errs)
	validate(m, &errs)
	if err := errs.err(); err != nil {
		return m, err
	}
	return m, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseFile(name string, data []byte, errs *ErrorList) []*Entity {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Entity
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			line, msg := 1, err.Error()
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			}
			errs.add(Pos{File: name, Line: line}, "", "invalid YAML: %s", msg)
			return out
		}
		if len(doc.Content) == 0 {
			continue
		}
		r := &reader{file: name, errs: errs}
		var e *Entity
		switch root := deref(doc.Content[0]); {
		case isLegacy(root):
			e = r.legacyEntity(root)
		case originShaped(root):
			e = r.originEntity(root)
		default:
			e = r.entity(root)
		}
		if e != nil {
			out = append(out, e)
		}
	}
}

// reader walks one YAML document strictly, recording every error.
type reader struct {
	file string
	errs *ErrorList
	// overrides are a legacy document's persistence.field_overrides, merged
	// into its fields once they are all read.
	overrides     []*yaml.Node
	overridesPath string
}

func (r *reader) pos(n *yaml.Node) Pos { return Pos{File: r.file, Line: n.Line} }

func (r *reader) errorf(n *yaml.Node, path, format string, args ...any) {
	r.errs.add(r.pos(n), path, format, args...)
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", n.Value)
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return n.ShortTag()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping checks that n is a mapping whose keys are all known and present
// when required, then calls the handler of each key in document order.
func (r *reader) mapping(n *yaml.Node, path string, required []string, handlers map[string]func(v *yaml.Node, path string)) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		r.errorf(n, path, "expected a mapping, got %s", describe(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		p := join(path, k.Value)
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			known := make([]string, 0, len(handlers))
			for key := range handlers {
				known = append(known, key)
			}
			sort.Strings(known)
			r.errorf(k, p, "unknown key %q (known: %s)", k.Value, strings.Join(known, ", "))
		case seen[k.Value]:
			r.errorf(k, p, "duplicate key %q", k.Value)
		default:
			seen[k.Value] = true
			h(v, p)
		}
	}
	for _, key := range required {
		if !seen[key] {
			r.errorf(n, join(path, key), "missing required key %q", key)
		}
	}
	return true
}

func (r *reader) str(n *yaml.Node, path string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		r.errorf(n, path, "expected a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (r *reader) boolean(n *yaml.Node, path string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		r.errorf(n, path, "expected true or false, got %s", describe(n))
	}
	return b
}

func (r *reader) integer(n *yaml.Node, path string) *int {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		r.errorf(n, path, "expected an integer, got %s", describe(n))
		return nil
	}
	return &i
}

// number keeps a number's text, so that decimal bounds stay exact.
func (r *reader) number(n *yaml.Node, path string) *string {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		r.errorf(n, path, "expected a number, got %s", describe(n))
		return nil
	}
	v := n.Value
	return &v
}

func (r *reader) scalar(n *yaml.Node, path string) *Scalar {
	if n.Kind != yaml.ScalarNode {
		r.errorf(n, path, "expected a single value, got %s", describe(n))
		return nil
	}
	return &Scalar{Pos: r.pos(n), Tag: n.ShortTag(), Value: n.Value}
}

func (r *reader) list(n *yaml.Node, path string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		r.errorf(n, path, "expected a list, got %s", describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

func (r *reader) strings(n *yaml.Node, path string) []string {
	var out []string
	for i, c := range r.list(n, path) {
		out = append(out, r.str(c, fmt.Sprintf("%s[%d]", path, i)))
	}
	return out
}

// stringMap reads a mapping of scalar values (labels, annotations).
func (r *reader) stringMap(n *yaml.Node, path string) map[string]string {
	if n.Kind != yaml.MappingNode {
		r.errorf(n, path, "expected a mapping, got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if v.Kind != yaml.ScalarNode {
			r.errorf(v, join(path, k.Value), "expected a single value, got %s", describe(v))
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

func (r *reader) entity(doc *yaml.Node) *Entity {
	e := &Entity{Pos: r.pos(doc), Format: FormatNomnom, Persistence: Persistence{Enabled: true, Pos: r.pos(doc), OnConflict: "update"}}
	ok := r.mapping(doc, "", []string{"apiVersion", "kind", "metadata", "spec"}, map[string]func(*yaml.Node, string){
		"apiVersion": func(v *yaml.Node, p string) {
			if s := r.str(v, p); s != "" && s != APIVersion && s != SharedAPIVersion {
				r.errorf(v, p, "unsupported apiVersion %q (want %s; %s is read too, and a document with an `entity:` key is the origin project's legacy format)", s, APIVersion, SharedAPIVersion)
			}
		},
		"kind": func(v *yaml.Node, p string) {
			if s := r.str(v, p); s != "" && s != "Entity" {
				r.errorf(v, p, "unsupported kind %q (want Entity)", s)
			}
		},
		"metadata": func(v *yaml.Node, p string) {
			r.mapping(v, p, []string{"name"}, map[string]func(*yaml.Node, string){
				"name": func(v *yaml.Node, p string) {
					e.Pos = r.pos(v)
					e.Name = r.str(v, p)
				},
				"description": func(v *yaml.Node, p string) { e.Description = r.str(v, p) },
				"labels":      func(v *yaml.Node, p string) { e.Labels = r.stringMap(v, p) },
				"annotations": func(v *yaml.Node, p string) { e.Annotations = r.stringMap(v, p) },
			})
		},
		"spec": func(v *yaml.Node, p string) { r.spec(v, p, e) },
	})
	if !ok {
		return nil
	}
	return e
}

func (r *reader) spec(n *yaml.Node, path string, e *Entity) {
	r.mapping(n, path, []string{"type", "fields"}, map[string]func(*yaml.Node, string){
		"type": func(v *yaml.Node, p string) {
			e.Type = r.str(v, p)
			if e.Type != "" && e.Type != "root" && e.Type != "derived" {
				r.errorf(v, p, "unknown entity type %q (want root or derived)", e.Type)
			}
		},
		"repetition": func(v *yaml.Node, p string) {
			e.Repetition = r.str(v, p)
			if e.Repetition != "" && e.Repetition != "singleton" && e.Repetition != "repeated" {
				r.errorf(v, p, "unknown repetition %q (want singleton or repeated)", e.Repetition)
			}
		},
		"derivation":  func(v *yaml.Node, p string) { r.derivation(v, p, e) },
		"fields":      func(v *yaml.Node, p string) { r.fields(v, p, e) },
		"persistence": func(v *yaml.Node, p string) { r.persistence(v, p, e) },
	})
}

func (r *reader) derivation(n *yaml.Node, path string, e *Entity) {
	d := &e.Derivation
	d.Pos = r.pos(n)
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"parent": func(v *yaml.Node, p string) { d.Parent = r.str(v, p) },
		"repeatedFor": func(v *yaml.Node, p string) {
			rf := &RepeatedFor{Pos: r.pos(v), ItemName: "item"}
			d.RepeatedFor = rf
			r.mapping(v, p, []string{"entity", "field"}, map[string]func(*yaml.Node, string){
				"entity":   func(v *yaml.Node, p string) { rf.Entity = r.str(v, p) },
				"field":    func(v *yaml.Node, p string) { rf.Field = r.str(v, p) },
				"itemName": func(v *yaml.Node, p string) { rf.ItemName = r.str(v, p) },
			})
		},
	})
	if d.Parent != "" && d.RepeatedFor != nil {
		r.errorf(n, path, "set either parent or repeatedFor, not both")
	}
	if d.Parent == "" && d.RepeatedFor == nil && n.Kind == yaml.MappingNode {
		r.errorf(n, path, "missing parent or repeatedFor")
	}
}

func (r *reader) fields(n *yaml.Node, path string, e *Entity) {
	items := r.list(n, path)
	if n.Kind == yaml.SequenceNode && len(items) == 0 {
		r.errorf(n, path, "an entity needs at least one field")
	}
	for i, item := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		f := &Field{Pos: r.pos(item), TypePos: r.pos(item)}
		r.mapping(item, p, []string{"name", "type"}, map[string]func(*yaml.Node, string){
			"name": func(v *yaml.Node, p string) {
				f.Pos = r.pos(v)
				f.Name = r.str(v, p)
			},
			"type": func(v *yaml.Node, p string) {
				f.TypePos = r.pos(v)
				if s := r.str(v, p); s != "" {
					t, err := parseType(s)
					if err != nil {
						r.errorf(v, p, "%v", err)
					}
					f.Type = t
				}
			},
			"description": func(v *yaml.Node, p string) { f.Description = r.str(v, p) },
			"constraints": func(v *yaml.Node, p string) { r.constraints(v, p, &f.Constraints) },
			"source":      func(v *yaml.Node, p string) { r.source(v, p, &f.Source) },
		})
		e.Fields = append(e.Fields, f)
	}
}

func (r *reader) constraints(n *yaml.Node, path string, c *Constraints) {
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"nullable":   func(v *yaml.Node, p string) { c.Nullable = r.boolean(v, p) },
		"maxLength":  func(v *yaml.Node, p string) { c.MaxLength = r.integer(v, p) },
		"minLength":  func(v *yaml.Node, p string) { c.MinLength = r.integer(v, p) },
		"minimum":    func(v *yaml.Node, p string) { c.Minimum = r.number(v, p) },
		"maximum":    func(v *yaml.Node, p string) { c.Maximum = r.number(v, p) },
		"pattern":    func(v *yaml.Node, p string) { c.Pattern = r.str(v, p) },
		"default":    func(v *yaml.Node, p string) { c.Default = r.scalar(v, p) },
		"primaryKey": func(v *yaml.Node, p string) { c.PrimaryKey = r.boolean(v, p) },
		"unique":     func(v *yaml.Node, p string) { c.Unique = r.boolean(v, p) },
		"indexed":    func(v *yaml.Node, p string) { c.Indexed = r.boolean(v, p) },
		"precision":  func(v *yaml.Node, p string) { c.Precision = r.integer(v, p) },
		"scale":      func(v *yaml.Node, p string) { c.Scale = r.integer(v, p) },
		"enum": func(v *yaml.Node, p string) {
			items := r.list(v, p)
			if v.Kind == yaml.SequenceNode && len(items) == 0 {
				r.errorf(v, p, "an enum needs at least one value")
			}
			for i, item := range items {
				if s := r.scalar(item, fmt.Sprintf("%s[%d]", p, i)); s != nil {
					c.Enum = append(c.Enum, s.Value)
				}
			}
		},
	})
}

func (r *reader) source(n *yaml.Node, path string, s *Source) {
	s.Pos = r.pos(n)
	set := 0
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"field": func(v *yaml.Node, p string) {
			set++
			s.Field = r.str(v, p)
		},
		"constant": func(v *yaml.Node, p string) {
			set++
			s.Constant = r.scalar(v, p)
		},
		"copyFrom": func(v *yaml.Node, p string) {
			set++
			s.CopyFrom = &CopyFrom{Pos: r.pos(v)}
			r.mapping(v, p, []string{"entity", "field"}, map[string]func(*yaml.Node, string){
				"entity": func(v *yaml.Node, p string) { s.CopyFrom.Entity = r.str(v, p) },
				"field":  func(v *yaml.Node, p string) { s.CopyFrom.Field = r.str(v, p) },
			})
		},
		"transform": func(v *yaml.Node, p string) {
			set++
			t := &Transform{Pos: r.pos(v)}
			s.Transform = t
			r.mapping(v, p, []string{"name", "inputs"}, map[string]func(*yaml.Node, string){
				"name":   func(v *yaml.Node, p string) { t.Name = r.str(v, p) },
				"inputs": func(v *yaml.Node, p string) { t.Inputs = r.strings(v, p) },
				"args": func(v *yaml.Node, p string) {
					t.Args = map[string]string{}
					if v.Kind != yaml.MappingNode {
						r.errorf(v, p, "expected a mapping, got %s", describe(v))
					}
					for i := 0; v.Kind == yaml.MappingNode && i+1 < len(v.Content); i += 2 {
						if s := r.scalar(deref(v.Content[i+1]), join(p, v.Content[i].Value)); s != nil {
							t.Args[v.Content[i].Value] = s.Value
						}
					}
				},
			})
		},
	})
	if set > 1 {
		r.errorf(n, path, "set one of field, copyFrom, constant or transform, not %d", set)
	}
	if set == 0 && n.Kind == yaml.MappingNode {
		r.errorf(n, path, "set one of field, copyFrom, constant or transform")
	}
}

func (r *reader) persistence(n *yaml.Node, path string, e *Entity) {
	ps := &e.Persistence
	ps.Pos = r.pos(n)
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"enabled": func(v *yaml.Node, p string) { ps.Enabled = r.boolean(v, p) },
		"table":   func(v *yaml.Node, p string) { ps.Table = r.str(v, p) },
		"unicity": func(v *yaml.Node, p string) {
			ps.UnicityPos = r.pos(v)
			r.mapping(v, p, []string{"fields"}, map[string]func(*yaml.Node, string){
				"fields": func(v *yaml.Node, p string) {
					ps.UnicityPos = r.pos(v)
					ps.Unicity = r.strings(v, p)
				},
			})
		},
		"onConflict": func(v *yaml.Node, p string) {
			ps.OnConflict = r.str(v, p)
			if ps.OnConflict != "" && ps.OnConflict != "update" && ps.OnConflict != "ignore" {
				r.errorf(v, p, "unknown onConflict %q (want update or ignore)", ps.OnConflict)
			}
		},
		"indexes": func(v *yaml.Node, p string) {
			for i, item := range r.list(v, p) {
				ix := Index{Pos: r.pos(item)}
				r.mapping(item, fmt.Sprintf("%s[%d]", p, i), []string{"fields"}, map[string]func(*yaml.Node, string){
					"name":   func(v *yaml.Node, p string) { ix.Name = r.str(v, p) },
					"fields": func(v *yaml.Node, p string) { ix.Fields = r.strings(v, p) },
					"unique": func(v *yaml.Node, p string) { ix.Unique = r.boolean(v, p) },
				})
				ps.Indexes = append(ps.Indexes, ix)
			}
		},
	})
}
