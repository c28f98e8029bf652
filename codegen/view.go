package codegen

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// view is what the templates render: the model with every Go and SQL
// fragment worked out, so that templates only lay files out.
type view struct {
	Header     string
	SQLHeader  string
	Package    string
	Name       string
	Module     string
	MigTable   string
	Entities   []*ventity
	Roots      []*ventity
	Tables     []*ventity // persisted entities, parents first
	Rules      []vrule
	Args       []vargs  // constants and transform args, as package variables
	GoFuncs    []string // Go transforms the user writes
	NeedTime   bool     // models use time.Time
	NeedJSON   bool     // models use json.RawMessage
	NeedRT     bool     // models use rt.Decimal
	NeedRegexp bool
}

type ventity struct {
	*Entity
	Ancestors []*ventity // nearest first
	Children  []*ventity
	Fields    []*vfield
	Persisted bool
	Table     string
	TableIdx  int
	Required  []string // paths a root's body always carries
	Upsert    string
	Unicity   []int
	DDL       string
	Item      string // item name when repeated
}

type vfield struct {
	*Field
	GoName string
	GoType string
	Decode string // statement setting r.<GoName>
	Text   string // expression of the column text
}

type vrule struct {
	Var  string
	Body string
}

type vargs struct {
	Var  string
	Body string
}

// TablesReversed lists the tables children first, for dropping them.
func (v *view) TablesReversed() []*ventity {
	out := make([]*ventity, len(v.Tables))
	for i, t := range v.Tables {
		out[len(out)-1-i] = t
	}
	return out
}

// Params is the decode function's ancestor parameters.
func (e *ventity) Params() string {
	var b strings.Builder
	for _, a := range e.Ancestors {
		fmt.Fprintf(&b, ", anc%s *%s", a.Name, a.Name)
	}
	return b.String()
}

// ChildCall is the statement that decodes child c from within e's decoder.
func (e *ventity) ChildCall(c *ventity) string {
	args := "&r"
	for _, a := range e.Ancestors {
		args += ", anc" + a.Name
	}
	if rf := c.Derivation.RepeatedFor; rf != nil {
		key := e.key(rf.Field)
		return fmt.Sprintf("{\nv, ok := rt.Lookup(obj, %q)\nfor i, item := range rt.Items(e, v, ok, rt.At(base, %q)) {\ndecode%s(e, item, rt.ItemBase(base, %q, i), rows, %s)\n}\n}",
			key, key, c.Name, key, args)
	}
	return fmt.Sprintf("decode%s(e, obj, base, rows, %s)", c.Name, args)
}

// key turns a source path into a key of the object e is read from: in a
// repeated entity, the item name alone is the item and a leading
// "<itemName>." is dropped.
func (e *ventity) key(path string) string {
	if e.Item == "" {
		return path
	}
	if path == e.Item {
		return ""
	}
	return strings.TrimPrefix(path, e.Item+".")
}

func newView(m *Model, opts Options) *view {
	v := &view{
		Header:    "// " + Header,
		SQLHeader: "-- " + Header,
		Package:   opts.Package,
		Name:      opts.Name,
		Module:    opts.ModulePath,
		MigTable:  opts.Name + "_schema_migrations",
	}
	byName := map[string]*ventity{}
	for _, e := range m.Entities {
		ve := &ventity{Entity: e, Persisted: e.Persistence.Enabled, Table: e.Persistence.Table}
		if rf := e.Derivation.RepeatedFor; rf != nil {
			ve.Item = rf.ItemName
		}
		byName[e.Name] = ve
		v.Entities = append(v.Entities, ve)
	}
	for _, ve := range v.Entities {
		for _, a := range m.ancestors(ve.Entity) {
			ve.Ancestors = append(ve.Ancestors, byName[a.Name])
		}
		if p := byName[ve.Derivation.From()]; p != nil {
			p.Children = append(p.Children, ve)
		}
		if ve.Type == "root" {
			v.Roots = append(v.Roots, ve)
		}
	}
	// Parents first: by depth, then in definition order.
	ordered := append([]*ventity(nil), v.Entities...)
	sort.SliceStable(ordered, func(i, j int) bool { return len(ordered[i].Ancestors) < len(ordered[j].Ancestors) })
	for _, ve := range ordered {
		if ve.Persisted {
			ve.TableIdx = len(v.Tables)
			v.Tables = append(v.Tables, ve)
		}
	}
	goFuncs := map[string]bool{}
	for _, ve := range v.Entities {
		for _, f := range ve.Entity.Fields {
			vf := v.field(ve, f)
			ve.Fields = append(ve.Fields, vf)
			if t := f.Source.Transform; t != nil && t.GoName() != "" {
				goFuncs[t.GoName()] = true
			}
		}
		if ve.Type == "root" {
			for _, f := range ve.Fields {
				if p := f.readPath(); p != "" && !f.Constraints.Nullable && f.Constraints.Default == nil {
					ve.Required = append(ve.Required, p)
				}
			}
		}
		if ve.Persisted {
			ve.Upsert, ve.Unicity = upsert(ve)
			ve.DDL = ddl(ve)
		}
	}
	for n := range goFuncs {
		v.GoFuncs = append(v.GoFuncs, n)
	}
	sort.Strings(v.GoFuncs)
	return v
}

func (v *view) field(e *ventity, f *Field) *vfield {
	vf := &vfield{Field: f, GoName: goName(f.Name), GoType: f.goType()}
	switch f.Type.Base {
	case "date", "timestamp":
		v.NeedTime = true
	case "json":
		v.NeedJSON = true
	case "decimal":
		v.NeedRT = true
	}
	sc := f.Type.scalar()
	conv, text := sc.conv, "rt.Text"
	if f.Type.Array {
		conv, text = "rt.Array("+conv+")", "rt.TextArray"
	}
	if f.Constraints.Nullable {
		text += "Ptr"
	}
	vf.Text = fmt.Sprintf("%s(r.%s, %s)", text, vf.GoName, sc.format)
	rules := v.rules(e, f)
	read := "rt.Required"
	if f.Constraints.Nullable {
		read = "rt.Optional"
	}
	set := func(val, found, loc string) string {
		return fmt.Sprintf("r.%s = %s(e, %s, %s, %s, &%s, %s)", vf.GoName, read, val, found, loc, rules, conv)
	}
	s := f.Source
	switch {
	case s.CopyFrom != nil:
		vf.Decode = fmt.Sprintf("r.%s = anc%s.%s", vf.GoName, s.CopyFrom.Entity, goName(s.CopyFrom.Field))
	case s.Constant != nil:
		name := "const" + e.Name + vf.GoName
		v.Args = append(v.Args, vargs{Var: name, Body: fmt.Sprintf("rt.MustJSON(%s)", strconv.Quote(jsonLiteral(f, s.Constant)))})
		vf.Decode = set(name, "true", fmt.Sprintf("rt.At(base, %q)", f.Name))
	case s.Transform != nil:
		t := s.Transform
		fn := "rt." + goName(t.Name)
		if g := t.GoName(); g != "" {
			fn = g
		}
		args := "nil"
		if len(t.Args) > 0 {
			args = fmt.Sprintf("args%s%s", e.Name, vf.GoName)
			v.Args = append(v.Args, vargs{Var: args, Body: stringMap(t.Args)})
		}
		keys := make([]string, len(t.Inputs))
		for i, in := range t.Inputs {
			keys[i] = strconv.Quote(e.key(in))
		}
		loc := fmt.Sprintf("rt.At(base, %s)", keys[0])
		vf.Decode = fmt.Sprintf("if v, ok := rt.Apply(e, %s, %s, %s, obj, %s); ok {\n%s\n}", loc, fn, args, strings.Join(keys, ", "), set("v", "v != nil", loc))
	default:
		key := e.key(f.readPath())
		loc := fmt.Sprintf("rt.At(base, %q)", key)
		vf.Decode = fmt.Sprintf("{\nv, ok := rt.Lookup(obj, %q)\n%s\n}", key, set("v", "ok", loc))
	}
	return vf
}

// rules declares the rt.Rules of a field, or names the shared empty one.
func (v *view) rules(e *ventity, f *Field) string {
	c := f.Constraints
	var parts []string
	if c.MinLength != nil && *c.MinLength > 0 {
		parts = append(parts, fmt.Sprintf("MinLength: %d", *c.MinLength))
	}
	if c.MaxLength != nil {
		parts = append(parts, fmt.Sprintf("MaxLength: %d", *c.MaxLength))
	}
	if c.Pattern != "" {
		v.NeedRegexp = true
		parts = append(parts, fmt.Sprintf("Pattern: regexp.MustCompile(%s)", strconv.Quote(c.Pattern)))
	}
	if len(c.Enum) > 0 {
		q := make([]string, len(c.Enum))
		for i, s := range c.Enum {
			q[i] = strconv.Quote(s)
		}
		parts = append(parts, fmt.Sprintf("Enum: []string{%s}", strings.Join(q, ", ")))
	}
	if c.Minimum != nil {
		parts = append(parts, fmt.Sprintf("Min: rt.MustRat(%q)", plainNumber(*c.Minimum)))
	}
	if c.Maximum != nil {
		parts = append(parts, fmt.Sprintf("Max: rt.MustRat(%q)", plainNumber(*c.Maximum)))
	}
	if c.Precision != nil {
		parts = append(parts, fmt.Sprintf("Precision: %d", *c.Precision))
		if c.Scale != nil {
			parts = append(parts, fmt.Sprintf("Scale: %d", *c.Scale))
		}
	}
	if c.Default != nil && c.Default.Tag != "!!null" {
		parts = append(parts, fmt.Sprintf("Default: rt.MustJSON(%s)", strconv.Quote(jsonLiteral(f, c.Default))))
	}
	if len(parts) == 0 {
		return "noRules"
	}
	name := "rules" + e.Name + goName(f.Name)
	v.Rules = append(v.Rules, vrule{Var: name, Body: strings.Join(parts, ", ")})
	return name
}

func stringMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q: %q", k, m[k])
	}
	return "map[string]string{" + strings.Join(parts, ", ") + "}"
}

// jsonLiteral is the JSON a body would carry for a checked YAML scalar.
func jsonLiteral(f *Field, s *Scalar) string {
	if s.Tag == "!!null" {
		return "null"
	}
	switch f.Type.Base {
	case "integer", "bigint":
		i, _ := strconv.ParseInt(s.Value, 10, 64)
		return strconv.FormatInt(i, 10)
	case "float":
		x, _ := strconv.ParseFloat(s.Value, 64)
		return strconv.FormatFloat(x, 'g', -1, 64)
	case "decimal":
		return s.Value
	case "boolean":
		b, _ := strconv.ParseBool(s.Value)
		return strconv.FormatBool(b)
	case "json":
		switch s.Tag {
		case "!!int", "!!float":
			if r, ok := new(big.Rat).SetString(s.Value); ok {
				return plainNumber(r.RatString())
			}
		case "!!bool":
			b, _ := strconv.ParseBool(s.Value)
			return strconv.FormatBool(b)
		}
	}
	q, _ := json.Marshal(s.Value)
	return string(q)
}

// plainNumber writes a bound in plain decimal notation, for Go and SQL
// alike.
func plainNumber(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	places := 0
	for x := new(big.Rat).Set(r); !x.IsInt() && places < 100; x.Mul(x, big.NewRat(10, 1)) {
		places++
	}
	return r.FloatString(places)
}

// goName turns snake_case into an exported Go name: line_number → LineNumber.
func goName(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
