package codegen

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// The origin project's legacy format: one `entity:` mapping a file, as its
// config/examples/tpch/entities are written. It is read into the same Model
// as nomnom's own format; what has no equivalent is an error that says what
// to write instead.

// isLegacy reports whether a document is in the legacy format: a mapping
// with an `entity` key and no apiVersion.
func isLegacy(root *yaml.Node) bool {
	return root.Kind == yaml.MappingNode && mappingValue(root, "entity") != nil && mappingValue(root, "apiVersion") == nil
}

// mappingValue returns the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// legacyTypes maps the legacy type names to nomnom's.
var legacyTypes = map[string]string{
	"String": "string", "Text": "text", "Integer": "bigint", "Int": "bigint", "Float": "float", "Decimal": "decimal",
	"Boolean": "boolean", "Bool": "boolean", "Date": "date", "DateTime": "timestamp", "Timestamp": "timestamp",
	"UUID": "uuid", "Uuid": "uuid", "Json": "json", "JSON": "json", "Object": "json",
}

// legacyType reads a legacy type: a name of legacyTypes, List[T] of one, or
// List[Object] (an array of objects: what a child entity is repeated for).
func legacyType(s string) (t Type, childArray bool, err error) {
	if inner, ok := strings.CutPrefix(s, "List["); ok && strings.HasSuffix(inner, "]") {
		inner = strings.TrimSuffix(inner, "]")
		if inner == "Object" || inner == "Json" || inner == "JSON" {
			return Type{Base: "json"}, true, nil
		}
		if base, ok := legacyTypes[inner]; ok && base != "json" {
			return Type{Base: base, Array: true}, false, nil
		}
	} else if base, ok := legacyTypes[s]; ok {
		return Type{Base: base}, false, nil
	}
	return Type{}, false, fmt.Errorf("unknown legacy type %q (known: String, Text, Integer, Float, Decimal, Boolean, Date, DateTime, UUID, Json, List[T], List[Object])", s)
}

// goSuggestion is the advice given for a transform nomnom has no built-in for.
func goSuggestion(name string) string {
	fn := goFuncName(name)
	return fmt.Sprintf("write it in Go: a func %s(inputs []any, args map[string]string) (any, error) in a non-generated file of the generated package, and name it go:%s", fn, fn)
}

// goFuncName turns a transform name into an unexported Go identifier.
func goFuncName(name string) string {
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == '.' || r == ' ' })
	for i := range parts {
		if i > 0 && parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	fn := strings.Join(parts, "")
	if fn == "" {
		return "transform"
	}
	return strings.ToLower(fn[:1]) + fn[1:]
}

func (r *reader) legacyEntity(doc *yaml.Node) *Entity {
	e := &Entity{Pos: r.pos(doc), Format: FormatOriginLegacy, Persistence: Persistence{Pos: r.pos(doc), OnConflict: "update"}}
	ok := r.mapping(doc, "", []string{"entity"}, map[string]func(*yaml.Node, string){
		"entity": func(v *yaml.Node, p string) { r.legacyBody(v, p, e) },
	})
	if !ok {
		return nil
	}
	return e
}

func (r *reader) legacyBody(n *yaml.Node, path string, e *Entity) {
	var parent string
	var parentPos *yaml.Node
	entityType := func(v *yaml.Node, p string) {
		switch s := r.str(v, p); s {
		case "root", "reference":
			e.Type = "root"
		case "derived":
			e.Type = "derived"
		case "":
		default:
			r.errorf(v, p, "unknown entity type %q (want root, reference or derived)", s)
		}
	}
	var fields *yaml.Node
	r.mapping(n, path, []string{"name", "fields"}, map[string]func(*yaml.Node, string){
		"name": func(v *yaml.Node, p string) {
			e.Pos = r.pos(v)
			e.Name = r.str(v, p)
		},
		"type":        entityType,
		"source_type": entityType,
		"doc":         func(v *yaml.Node, p string) { e.Description = r.str(v, p) },
		// prefix was the origin's message prefix for its generated ingestion
		// server; nomnom routes by entity_type instead.
		"prefix": func(v *yaml.Node, p string) { r.str(v, p) },
		"parent": func(v *yaml.Node, p string) {
			parent, parentPos = r.str(v, p), v
		},
		"repeated_for": func(v *yaml.Node, p string) {
			rf := &RepeatedFor{Pos: r.pos(v), ItemName: "item"}
			e.Derivation.RepeatedFor = rf
			e.Derivation.Pos = rf.Pos
			r.mapping(v, p, []string{"entity", "field"}, map[string]func(*yaml.Node, string){
				"entity":        func(v *yaml.Node, p string) { rf.Entity = r.str(v, p) },
				"field":         func(v *yaml.Node, p string) { rf.Field = r.str(v, p) },
				"each_known_as": func(v *yaml.Node, p string) { rf.ItemName = r.str(v, p) },
			})
		},
		"fields":      func(v *yaml.Node, p string) { fields = v },
		"persistence": func(v *yaml.Node, p string) { r.legacyPersistence(v, p, e) },
	})
	switch rf := e.Derivation.RepeatedFor; {
	case parent != "" && rf != nil && rf.Entity != parent:
		r.errorf(parentPos, join(path, "parent"), "parent %q and repeated_for.entity %q must name the same entity", parent, rf.Entity)
	case parent != "" && rf == nil:
		e.Derivation.Parent, e.Derivation.Pos = parent, r.pos(parentPos)
	}
	if e.Type == "" {
		e.Type = "root"
		if e.Derivation.From() != "" {
			e.Type = "derived"
		}
	}
	if e.Derivation.RepeatedFor != nil {
		e.Repetition = "repeated"
	}
	if fields != nil {
		r.legacyFields(fields, join(path, "fields"), e)
	}
	r.applyOverrides(e)
}

func (r *reader) legacyFields(n *yaml.Node, path string, e *Entity) {
	for i, item := range r.list(n, path) {
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
					t, child, err := legacyType(s)
					if err != nil {
						r.errorf(v, p, "%v", err)
					}
					f.Type, f.childArray = t, child
				}
			},
			"doc":           func(v *yaml.Node, p string) { f.Description = r.str(v, p) },
			"nullable":      func(v *yaml.Node, p string) { f.Constraints.Nullable = r.boolean(v, p) },
			"computed_from": func(v *yaml.Node, p string) { r.computedFrom(v, p, e, f) },
		})
		e.Fields = append(e.Fields, f)
	}
}

// legacySource is one entry of computed_from.sources: a name in scope
// ("item", an entity, "parent"), or {source, field}.
type legacySource struct {
	source, field string
}

// computedFrom maps the legacy transforms that read or copy a value to
// nomnom's sources; any other is an error with the Go way to write it.
func (r *reader) computedFrom(n *yaml.Node, path string, e *Entity, f *Field) {
	var (
		name    string
		namePos *yaml.Node
		sources []legacySource
		args    map[string]string
	)
	f.Source.Pos = r.pos(n)
	r.mapping(n, path, []string{"transform"}, map[string]func(*yaml.Node, string){
		"transform": func(v *yaml.Node, p string) { name, namePos = r.str(v, p), v },
		"sources": func(v *yaml.Node, p string) {
			for i, s := range r.list(v, p) {
				sp := fmt.Sprintf("%s[%d]", p, i)
				if s.Kind == yaml.ScalarNode {
					sources = append(sources, legacySource{source: r.str(s, sp)})
					continue
				}
				var ls legacySource
				r.mapping(s, sp, []string{"source"}, map[string]func(*yaml.Node, string){
					"source": func(v *yaml.Node, p string) { ls.source = r.str(v, p) },
					"field":  func(v *yaml.Node, p string) { ls.field = r.str(v, p) },
				})
				sources = append(sources, ls)
			}
		},
		"args": func(v *yaml.Node, p string) { args = r.stringMap(v, p) },
	})
	if namePos == nil {
		return
	}
	item := ""
	if rf := e.Derivation.RepeatedFor; rf != nil {
		item = rf.ItemName
	}
	// path of a value read from a source in scope: the item's own keys
	// directly, anything else below its name.
	under := func(scope, key string) string {
		if scope == "" || scope == item || scope == "parent" {
			return key
		}
		return scope + "." + key
	}
	one := func() (legacySource, bool) {
		if len(sources) != 1 {
			r.errorf(namePos, join(path, "sources"), "%s takes exactly one source, got %d", name, len(sources))
			return legacySource{}, false
		}
		return sources[0], true
	}
	switch {
	case name == "copy_field" || name == "copy_from_parent":
		if s, ok := one(); ok {
			entity := s.source
			if entity == "parent" {
				entity = e.Derivation.From()
			}
			f.Source.CopyFrom = &CopyFrom{Pos: r.pos(namePos), Entity: entity, Field: s.field}
		}
	case name == "extract_field":
		if s, ok := one(); ok {
			f.Source.Field = under(s.field, args["field_path"])
			if args["field_path"] == "" {
				r.errorf(namePos, join(path, "args"), "extract_field needs args.field_path")
			}
		}
	case strings.HasPrefix(name, "json_get_") || name == "json_get":
		if s, ok := one(); ok {
			f.Source.Field = under(s.source, args["field"])
			if args["field"] == "" {
				r.errorf(namePos, join(path, "args"), "%s needs args.field", name)
			}
		}
	case strings.HasPrefix(name, "go:"):
		t := &Transform{Pos: r.pos(namePos), Name: name, Args: args}
		for _, s := range sources {
			t.Inputs = append(t.Inputs, under(s.source, s.field))
		}
		f.Source.Transform = t
	default:
		r.errorf(namePos, join(path, "transform"), "transform %q has no nomnom equivalent (nomnom reads copy_field, copy_from_parent, extract_field and json_get_*); %s", name, goSuggestion(name))
	}
}

func (r *reader) legacyPersistence(n *yaml.Node, path string, e *Entity) {
	ps := &e.Persistence
	ps.Enabled, ps.Pos = true, r.pos(n)
	r.mapping(n, path, nil, map[string]func(*yaml.Node, string){
		"enabled": func(v *yaml.Node, p string) { ps.Enabled = r.boolean(v, p) },
		"database": func(v *yaml.Node, p string) {
			r.mapping(v, p, nil, map[string]func(*yaml.Node, string){
				"conformant_table": func(v *yaml.Node, p string) { ps.Table = r.str(v, p) },
				"unicity_fields": func(v *yaml.Node, p string) {
					ps.UnicityPos = r.pos(v)
					ps.Unicity = r.strings(v, p)
				},
				// nomnom keys rows by their unicity fields and adds no
				// surrogate id column.
				"conformant_id_column":       func(v *yaml.Node, p string) { r.str(v, p) },
				"autogenerate_conformant_id": func(v *yaml.Node, p string) { r.boolean(v, p) },
			})
		},
		"primary_key": func(v *yaml.Node, p string) {
			r.mapping(v, p, nil, map[string]func(*yaml.Node, string){
				"name":         func(v *yaml.Node, p string) { r.str(v, p) },
				"type":         func(v *yaml.Node, p string) { r.str(v, p) },
				"autogenerate": func(v *yaml.Node, p string) { r.boolean(v, p) },
			})
		},
		"field_overrides": func(v *yaml.Node, p string) {
			r.overrides, r.overridesPath = r.list(v, p), p
		},
	})
}

// applyOverrides merges persistence.field_overrides into the fields: their
// type and nullable win, args [n] of a string is its maxLength, index: true
// indexes it.
func (r *reader) applyOverrides(e *Entity) {
	overrides, path := r.overrides, r.overridesPath
	r.overrides, r.overridesPath = nil, ""
	for i, o := range overrides {
		p := fmt.Sprintf("%s[%d]", path, i)
		name := ""
		if v := mappingValue(o, "name"); v != nil {
			name = v.Value
		}
		f := e.Field(name)
		if f == nil {
			r.errorf(o, p+".name", "field_overrides names %q, which is not a field of %s", name, e.Name)
			continue
		}
		r.mapping(o, p, []string{"name"}, map[string]func(*yaml.Node, string){
			"name": func(v *yaml.Node, p string) {},
			"type": func(v *yaml.Node, p string) {
				if t, child, err := legacyType(r.str(v, p)); err != nil {
					r.errorf(v, p, "%v", err)
				} else if !child {
					f.Type = t
				}
			},
			"nullable": func(v *yaml.Node, p string) { f.Constraints.Nullable = r.boolean(v, p) },
			"index":    func(v *yaml.Node, p string) { f.Constraints.Indexed = r.boolean(v, p) },
			"args": func(v *yaml.Node, p string) {
				items := r.list(v, p)
				if len(items) == 1 && f.Type.IsText() {
					f.Constraints.MaxLength = r.integer(items[0], p+"[0]")
				} else if len(items) > 0 {
					r.errorf(v, p, "args of a %s column are not read (only [n], the maximum length of a string)", f.Type)
				}
			},
		})
	}
}
