package codegen

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The origin project's nomnom.io/v1 schema (its docs/ENTITY_SCHEMA_V1.md):
// nomnom's own format shares its apiVersion and most of its shape, and
// differs in camelCase field names (JSON keys; the columns are their
// snake_case), `doc`, labels and annotations, a flat `copyFrom: <entity or
// parent name>` beside `field`, a string `transform` beside `inputs` and
// positional `args`, and derivation.parents. Everything nomnom can express
// is read into the same Model; the rest is an error that names the
// construct and says what to write instead.

// originShaped reports whether a document under SharedAPIVersion uses a
// construct only the origin's v1 schema has, and is therefore read as the
// origin's. A document that uses none reads the same either way.
func originShaped(root *yaml.Node) bool {
	if v := mappingValue(root, "apiVersion"); v == nil || v.Value != SharedAPIVersion {
		return false
	}
	if mappingValue(root, "status") != nil {
		return true
	}
	// nomnom's own format had no labels or annotations while it used this
	// apiVersion.
	if meta := mappingValue(root, "metadata"); mappingValue(meta, "labels") != nil || mappingValue(meta, "annotations") != nil {
		return true
	}
	spec := mappingValue(root, "spec")
	if mappingValue(mappingValue(spec, "derivation"), "parents") != nil {
		return true
	}
	ps := mappingValue(spec, "persistence")
	if mappingValue(ps, "legacyMapping") != nil {
		return true
	}
	if ix := mappingValue(ps, "indexes"); ix != nil && ix.Kind == yaml.SequenceNode {
		for _, i := range ix.Content {
			if mappingValue(deref(i), "method") != nil {
				return true
			}
		}
	}
	fields := mappingValue(spec, "fields")
	if fields == nil || fields.Kind != yaml.SequenceNode {
		return false
	}
	for _, f := range fields.Content {
		f = deref(f)
		if mappingValue(f, "doc") != nil || mappingValue(mappingValue(f, "constraints"), "items") != nil {
			return true
		}
		if name := mappingValue(f, "name"); name != nil && strings.ToLower(name.Value) != name.Value {
			return true
		}
		src := mappingValue(f, "source")
		for _, key := range []string{"copyFrom", "transform"} {
			if v := mappingValue(src, key); v != nil && v.Kind == yaml.ScalarNode {
				return true
			}
		}
	}
	return false
}

// originBuiltins maps the origin's transform names nomnom has built in.
var originBuiltins = map[string]string{
	"lower": "lower", "lowercase": "lower", "toLower": "lower",
	"upper": "upper", "uppercase": "upper", "toUpper": "upper",
	"trim": "trim", "concat": "concat", "coalesce": "coalesce",
}

func (r *reader) originEntity(doc *yaml.Node) *Entity {
	e := &Entity{Pos: r.pos(doc), Format: FormatOriginV1, Persistence: Persistence{Pos: r.pos(doc), OnConflict: "update"}}
	var fields, spec *yaml.Node
	ok := r.mapping(doc, "", []string{"apiVersion", "kind", "metadata", "spec"}, map[string]func(*yaml.Node, string){
		"apiVersion": func(v *yaml.Node, p string) { r.str(v, p) },
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
				"labels":      func(v *yaml.Node, p string) { e.Labels = r.stringMap(v, p) },
				"annotations": func(v *yaml.Node, p string) { e.Annotations = r.stringMap(v, p) },
			})
		},
		// status is the origin's runtime state, never user input.
		"status": func(v *yaml.Node, p string) {},
		"spec":   func(v *yaml.Node, p string) { spec = v },
	})
	if !ok {
		return nil
	}
	if d, ok := e.Annotations["description"]; ok {
		e.Description = d
		delete(e.Annotations, "description")
		if len(e.Annotations) == 0 {
			e.Annotations = nil
		}
	}
	if spec != nil {
		r.mapping(spec, "spec", []string{"type", "fields"}, map[string]func(*yaml.Node, string){
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
			"derivation":  func(v *yaml.Node, p string) { r.originDerivation(v, p, e) },
			"fields":      func(v *yaml.Node, p string) { fields = v },
			"persistence": func(v *yaml.Node, p string) { r.originPersistence(v, p, e) },
		})
	}
	if fields != nil {
		r.originFields(fields, "spec.fields", e)
	}
	columns := map[string]string{}
	for _, f := range e.Fields {
		if f.Source.Field != "" && f.Source.CopyFrom == nil && f.Source.Transform == nil && f.Source.Constant == nil {
			columns[f.Source.Field] = f.Name
		}
	}
	ps := &e.Persistence
	ps.Unicity = columnNames(ps.Unicity, columns)
	for i := range ps.Indexes {
		ps.Indexes[i].Fields = columnNames(ps.Indexes[i].Fields, columns)
	}
	return e
}

// columnNames maps the camelCase field names of unicity and indexes to
// their columns.
func columnNames(names []string, columns map[string]string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		if c, ok := columns[n]; ok {
			out[i] = c
		} else {
			out[i] = snake(n)
		}
	}
	return out
}

func (r *reader) originDerivation(n *yaml.Node, path string, e *Entity) {
	d := &e.Derivation
	d.Pos = r.pos(n)
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"parent": func(v *yaml.Node, p string) { d.Parent = r.str(v, p) },
		"parents": func(v *yaml.Node, p string) {
			for i, item := range r.list(v, p) {
				ref := ParentRef{Pos: r.pos(item)}
				r.mapping(item, fmt.Sprintf("%s[%d]", p, i), []string{"name", "entity"}, map[string]func(*yaml.Node, string){
					"name":   func(v *yaml.Node, p string) { ref.Name = r.str(v, p) },
					"entity": func(v *yaml.Node, p string) { ref.Entity = r.str(v, p) },
				})
				d.Parents = append(d.Parents, ref)
			}
		},
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
	set := 0
	for _, b := range []bool{d.Parent != "", len(d.Parents) > 0, d.RepeatedFor != nil} {
		if b {
			set++
		}
	}
	if set > 1 {
		r.errorf(n, path, "set one of parent, parents or repeatedFor")
	}
}

func (r *reader) originFields(n *yaml.Node, path string, e *Entity) {
	for i, item := range r.list(n, path) {
		p := fmt.Sprintf("%s[%d]", path, i)
		f := &Field{Pos: r.pos(item), TypePos: r.pos(item)}
		var key string
		var typeNode, itemsNode *yaml.Node
		r.mapping(item, p, []string{"name", "type"}, map[string]func(*yaml.Node, string){
			"name": func(v *yaml.Node, p string) {
				f.Pos = r.pos(v)
				key = r.str(v, p)
				f.Name = snake(key)
			},
			"type": func(v *yaml.Node, p string) { typeNode = v },
			"doc":  func(v *yaml.Node, p string) { f.Description = r.str(v, p) },
			"constraints": func(v *yaml.Node, p string) {
				itemsNode = r.originConstraints(v, p, f)
			},
			"source": func(v *yaml.Node, p string) { r.originSource(v, p, e, f) },
		})
		if typeNode != nil {
			r.originType(typeNode, itemsNode, p, f)
		}
		if key != f.Name && f.Source.Pos.Line == 0 {
			f.Source = Source{Pos: f.Pos, Field: key}
		}
		e.Fields = append(e.Fields, f)
	}
}

// originType reads `type`, and `array` with constraints.items.type.
func (r *reader) originType(v, items *yaml.Node, path string, f *Field) {
	f.TypePos = r.pos(v)
	s := r.str(v, path+".type")
	if s == "array" {
		if items == nil {
			r.errorf(v, path+".type", "an array needs constraints.items.type")
			return
		}
		if it := mappingValue(items, "type"); it != nil {
			s = it.Value + "[]"
		}
	}
	if s == "" {
		return
	}
	t, err := parseType(s)
	if err != nil {
		r.errorf(v, path+".type", "%v", err)
	}
	f.Type = t
}

// originConstraints reads constraints as nomnom does, and returns
// constraints.items (an array's element type and constraints, which apply
// to each element as nomnom's array constraints do).
func (r *reader) originConstraints(n *yaml.Node, path string, f *Field) (items *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		r.constraints(n, path, &f.Constraints)
		return nil
	}
	own := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch {
		case k.Value == "items":
			items = v
			for j := 0; v.Kind == yaml.MappingNode && j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value != "type" {
					own.Content = append(own.Content, v.Content[j], v.Content[j+1])
				}
			}
		case k.Value == "default" && v.Kind == yaml.ScalarNode && strings.EqualFold(strings.TrimSpace(v.Value), "now()"):
			r.errorf(v, join(path, "default"), "default now() (the database's clock) cannot be expressed: nomnom fills every column from the message; read the time from the message, or compute it with a Go transform (%s)", goSuggestion("now"))
		default:
			own.Content = append(own.Content, k, v)
		}
	}
	r.constraints(own, path, &f.Constraints)
	return items
}

func (r *reader) originSource(n *yaml.Node, path string, e *Entity, f *Field) {
	s := &f.Source
	s.Pos = r.pos(n)
	var (
		copyFrom, field, transform string
		transformPos               *yaml.Node
		inputs                     []string
		args                       map[string]string
		set                        int
	)
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"copyFrom": func(v *yaml.Node, p string) {
			set++
			copyFrom = r.str(v, p)
		},
		"field": func(v *yaml.Node, p string) { field = r.str(v, p) },
		"transform": func(v *yaml.Node, p string) {
			set++
			transform, transformPos = r.str(v, p), v
		},
		"inputs": func(v *yaml.Node, p string) { inputs = r.strings(v, p) },
		"args":   func(v *yaml.Node, p string) { args = r.originArgs(v, p) },
		"constant": func(v *yaml.Node, p string) {
			set++
			s.Constant = r.scalar(v, p)
		},
	})
	switch {
	case set > 1:
		r.errorf(n, path, "set one of copyFrom, transform or constant, not %d", set)
	case copyFrom != "":
		entity := copyFrom
		for _, ref := range e.Derivation.Parents {
			if ref.Name == copyFrom {
				entity = ref.Entity
			}
		}
		if field == "" {
			r.errorf(n, join(path, "field"), "copyFrom needs field: the field of %s to copy", copyFrom)
		}
		s.CopyFrom = &CopyFrom{Pos: s.Pos, Entity: entity, Field: snake(field)}
	case transform != "":
		s.Transform = r.originTransform(transformPos, join(path, "transform"), transform, inputs, args)
	case s.Constant != nil:
	case field != "":
		s.Field = field
	default:
		r.errorf(n, path, "set one of copyFrom, transform or constant")
	}
}

// originArgs reads args: a list (positional, as the origin writes them) or
// a mapping. Positional args are keyed "0", "1", … for a Go transform.
func (r *reader) originArgs(n *yaml.Node, path string) map[string]string {
	if n.Kind == yaml.MappingNode {
		return r.stringMap(n, path)
	}
	out := map[string]string{}
	for i, item := range r.list(n, path) {
		if s := r.scalar(item, fmt.Sprintf("%s[%d]", path, i)); s != nil {
			out[strconv.Itoa(i)] = s.Value
		}
	}
	return out
}

// originTransform maps a transform name to a built-in or a go: function;
// any other name is an error with the Go way to write it.
func (r *reader) originTransform(n *yaml.Node, path, name string, inputs []string, args map[string]string) *Transform {
	t := &Transform{Pos: r.pos(n), Name: name, Inputs: inputs, Args: args}
	if strings.HasPrefix(name, "go:") {
		return t
	}
	builtin, ok := originBuiltins[name]
	if !ok {
		known := make([]string, 0, len(originBuiltins))
		for k := range originBuiltins {
			known = append(known, k)
		}
		sort.Strings(known)
		r.errorf(n, path, "transform %q is not built into nomnom (built-ins: %s); %s", name, strings.Join(known, ", "), goSuggestion(name))
		return t
	}
	t.Name = builtin
	if sep, ok := args["0"]; ok && builtin == "concat" && len(args) == 1 {
		t.Args = map[string]string{"separator": sep}
	}
	return t
}

func (r *reader) originPersistence(n *yaml.Node, path string, e *Entity) {
	ps := &e.Persistence
	ps.Enabled, ps.Pos = true, r.pos(n)
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"enabled": func(v *yaml.Node, p string) { ps.Enabled = r.boolean(v, p) },
		"table":   func(v *yaml.Node, p string) { ps.Table = r.str(v, p) },
		"unicity": func(v *yaml.Node, p string) {
			ps.UnicityPos = r.pos(v)
			r.mapping(v, p, []string{"fields"}, map[string]func(*yaml.Node, string){
				"fields": func(v *yaml.Node, p string) { ps.Unicity = r.strings(v, p) },
			})
		},
		"indexes": func(v *yaml.Node, p string) {
			for i, item := range r.list(v, p) {
				ix := Index{Pos: r.pos(item)}
				r.mapping(item, fmt.Sprintf("%s[%d]", p, i), []string{"fields"}, map[string]func(*yaml.Node, string){
					"name":   func(v *yaml.Node, p string) { ix.Name = r.str(v, p) },
					"fields": func(v *yaml.Node, p string) { ix.Fields = r.strings(v, p) },
					"unique": func(v *yaml.Node, p string) { ix.Unique = r.boolean(v, p) },
					"method": func(v *yaml.Node, p string) {
						if m := r.str(v, p); m != "" && m != "btree" {
							r.errorf(v, p, "index method %q cannot be expressed: nomnom creates B-tree indexes; create this one in a migration of your own", m)
						}
					},
				})
				ps.Indexes = append(ps.Indexes, ix)
			}
		},
		"legacyMapping": func(v *yaml.Node, p string) {
			r.errorf(v, p, "legacyMapping (a second, legacy table) cannot be expressed: nomnom writes one table per entity; keep the legacy table in step with a view or trigger in a migration of your own")
		},
	})
}

// resolveOrigin finishes what the origin formats leave to the whole set of
// definitions: derivation.parents becomes the one parent the others are
// ancestors of, and a legacy List[Object] field that a child entity is
// repeated for is dropped (the child reads the array; a List[Object] no
// child reads stays a json column).
func resolveOrigin(m *Model, errs *ErrorList) {
	for range m.Entities {
		changed := false
		for _, e := range m.Entities {
			if len(e.Derivation.Parents) > 0 && e.Derivation.Parent == "" && resolveParents(m, e) {
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for _, e := range m.Entities {
		d := &e.Derivation
		if len(d.Parents) > 0 && d.Parent == "" {
			names := make([]string, len(d.Parents))
			for i, p := range d.Parents {
				names[i] = p.Entity
			}
			errs.add(d.Pos, "spec.derivation.parents", "parents %s are not on one line of descent: nomnom derives an entity from one parent, whose ancestors it can copy from; derive it from the deepest one (derivation.parent) and make the others its ancestors, or compute the values with a Go transform", strings.Join(names, ", "))
			// Validate the rest against the last parent rather than
			// report a missing derivation too.
			d.Parent = d.Parents[len(d.Parents)-1].Entity
		}
		if rf := d.RepeatedFor; rf != nil {
			if p := m.Entity(rf.Entity); p != nil {
				p.Fields = slices.DeleteFunc(p.Fields, func(f *Field) bool { return f.childArray && f.Name == rf.Field })
			}
		}
	}
}

// resolveParents sets e's parent to the one of its parents that has all the
// others among its ancestors, and reports whether it found one.
func resolveParents(m *Model, e *Entity) bool {
	for _, cand := range e.Derivation.Parents {
		ancestors := map[string]bool{cand.Entity: true}
		for a, seen := m.Entity(cand.Entity), 0; a != nil && seen < len(m.Entities); seen++ {
			from := a.Derivation.From()
			ancestors[from] = true
			a = m.Entity(from)
		}
		all := true
		for _, other := range e.Derivation.Parents {
			all = all && ancestors[other.Entity]
		}
		if all {
			e.Derivation.Parent = cand.Entity
			if e.Type == "" {
				e.Type = "derived"
			}
			return true
		}
	}
	return false
}
