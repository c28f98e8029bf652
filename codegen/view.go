package codegen

import (
	"encoding/json"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// view is what the templates render: the model with names, keys and
// values worked out, so that the shapes of the generated code live in the
// templates alone.
type view struct {
	Header     string
	SQLHeader  string
	HashHeader string // Dockerfile and YAML
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
	Children  []vchild
	Fields    []*vfield
	Persisted bool
	Table     string
	Required  []string // paths a root's body always carries
	Upsert    string   // rendered by upsert.sql.tmpl
	DDL       string
	Item      string // item name when repeated
}

// vchild is an entity derived from the one being decoded.
type vchild struct {
	*ventity
	// Key is the key of the array a repeated child is read from, in the
	// parent's object; empty for a parent singleton.
	Key string
}

type vfield struct {
	*Field
	GoName string
	GoType string
	Conv   string // rt converter of one scalar value
	Format string // rt formatter of one scalar value
	Rules  string // name of the rt.Rules variable
	// One of these says where the value comes from; none: Key in the body.
	CopyFrom string // ancestor field, anc<Entity>.<Field>
	Const    string // constant variable
	Fn       string // transform function, reading Inputs with Args
	Args     string
	Inputs   []string
	Key      string // key read in the entity's object; also where errors point
}

// vrule is one rt.Rules variable; empty and nil fields are no rule.
type vrule struct {
	Var       string
	MinLength int
	MaxLength *int
	Pattern   string
	Enum      []string
	Min, Max  string // plain decimal bounds
	Precision *int
	Scale     *int
	Default   string // JSON literal
}

type vargs struct {
	Var   string
	Const string     // JSON literal of a constant
	Args  []keyValue // transform args
}

type keyValue struct{ Key, Value string }

// TablesReversed lists the tables children first, for dropping them.
func (v *view) TablesReversed() []*ventity {
	out := make([]*ventity, len(v.Tables))
	for i, t := range v.Tables {
		out[len(out)-1-i] = t
	}
	return out
}

// Columns names the columns of e's table, in field order.
func (e *ventity) Columns() []string {
	cols := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		cols[i] = f.Name
	}
	return cols
}

// Updated lists the columns a conflict updates: those outside the
// unicity key.
func (e *ventity) Updated() []string {
	var cols []string
	for _, f := range e.Fields {
		if !slices.Contains(e.Persistence.Unicity, f.Name) {
			cols = append(cols, f.Name)
		}
	}
	return cols
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
		Header:     "// " + Header,
		SQLHeader:  "-- " + Header,
		HashHeader: "# " + Header,
		Package:    opts.Package,
		Name:       opts.Name,
		Module:     opts.ModulePath,
		MigTable:   opts.Name + "_schema_migrations",
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
			c := vchild{ventity: ve}
			if rf := ve.Derivation.RepeatedFor; rf != nil {
				c.Key = p.key(rf.Field)
			}
			p.Children = append(p.Children, c)
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
			ve.Upsert = upsert(ve)
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
	sc := f.Type.scalar()
	vf := &vfield{Field: f, GoName: goName(f.Name), GoType: f.goType(), Conv: sc.conv, Format: sc.format}
	switch f.Type.Base {
	case "date", "timestamp":
		v.NeedTime = true
	case "json":
		v.NeedJSON = true
	case "decimal":
		v.NeedRT = true
	}
	vf.Rules = v.rules(e, f)
	s := f.Source
	switch {
	case s.CopyFrom != nil:
		vf.CopyFrom = "anc" + s.CopyFrom.Entity + "." + goName(s.CopyFrom.Field)
	case s.Constant != nil:
		vf.Const = "const" + e.Name + vf.GoName
		vf.Key = f.Name
		v.Args = append(v.Args, vargs{Var: vf.Const, Const: jsonLiteral(f, s.Constant)})
	case s.Transform != nil:
		t := s.Transform
		vf.Fn = "rt." + goName(t.Name)
		if g := t.GoName(); g != "" {
			vf.Fn = g
		}
		vf.Args = "nil"
		if len(t.Args) > 0 {
			vf.Args = "args" + e.Name + vf.GoName
			v.Args = append(v.Args, vargs{Var: vf.Args, Args: sortedArgs(t.Args)})
		}
		for _, in := range t.Inputs {
			vf.Inputs = append(vf.Inputs, e.key(in))
		}
		// Errors are reported at the first input, or at the field itself
		// for a transform that reads nothing but its args.
		vf.Key = f.Name
		if len(vf.Inputs) > 0 {
			vf.Key = vf.Inputs[0]
		}
	default:
		vf.Key = e.key(f.readPath())
	}
	return vf
}

// rules declares the rt.Rules of a field, or names the shared empty one.
func (v *view) rules(e *ventity, f *Field) string {
	c := f.Constraints
	r := vrule{Var: "rules" + e.Name + goName(f.Name), MaxLength: c.MaxLength, Pattern: c.Pattern, Enum: c.Enum, Precision: c.Precision}
	if c.MinLength != nil {
		r.MinLength = *c.MinLength
	}
	if c.Precision != nil {
		r.Scale = c.Scale
	}
	if c.Minimum != nil {
		r.Min = plainNumber(*c.Minimum)
	}
	if c.Maximum != nil {
		r.Max = plainNumber(*c.Maximum)
	}
	if c.Default != nil && c.Default.Tag != "!!null" {
		r.Default = jsonLiteral(f, c.Default)
	}
	if c.Pattern != "" {
		v.NeedRegexp = true
	}
	if r.MinLength == 0 && r.MaxLength == nil && r.Pattern == "" && len(r.Enum) == 0 &&
		r.Min == "" && r.Max == "" && r.Precision == nil && r.Default == "" {
		return "noRules"
	}
	v.Rules = append(v.Rules, r)
	return r.Var
}

func sortedArgs(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, val := range m {
		out = append(out, keyValue{k, val})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
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
