package codegen

import (
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

var (
	entityName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	sqlName    = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	goIdent    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	jsonPath   = regexp.MustCompile(`^[^.\s]+(\.[^.\s]+)*$`)
	// plainDecimal is a decimal default or constant: no exponent, no
	// leading dot, so that it is also a JSON number.
	plainDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)
)

// builtin is a transform every generated package carries.
type builtin struct {
	minInputs, maxInputs int // maxInputs 0: no limit
	args                 []string
	text                 bool // returns a string
}

// Builtins are the transforms that need no Go code: lower, upper and trim
// take one string; concat joins strings with args.separator (default "");
// coalesce returns its first input that is present and not null.
var builtins = map[string]builtin{
	"lower":    {minInputs: 1, maxInputs: 1, text: true},
	"upper":    {minInputs: 1, maxInputs: 1, text: true},
	"trim":     {minInputs: 1, maxInputs: 1, text: true},
	"concat":   {minInputs: 1, args: []string{"separator"}, text: true},
	"coalesce": {minInputs: 1},
}

// validate checks the references between definitions and every rule a
// single document cannot check on its own.
func validate(m *Model, errs *ErrorList) {
	names := map[string]*Entity{}
	tables := map[string]*Entity{}
	for _, e := range m.Entities {
		if e.Name == "" {
			continue
		}
		if !entityName.MatchString(e.Name) {
			errs.add(e.Pos, "metadata.name", "entity name %q must be PascalCase letters and digits (e.g. OrderLineItem)", e.Name)
		}
		if generatedNames[e.Name] {
			errs.add(e.Pos, "metadata.name", "entity name %q is taken by the generated package; choose another", e.Name)
		}
		if first, ok := names[e.Name]; ok {
			errs.add(e.Pos, "metadata.name", "duplicate entity %q (first defined at %s)", e.Name, first.Pos)
			continue
		}
		names[e.Name] = e
	}
	for _, e := range m.Entities {
		fillPositions(e)
	}
	for _, e := range m.Entities {
		validateDerivation(m, e, errs)
		validateFields(m, e, errs)
		validatePersistence(e, tables, errs)
	}
	validateCycles(m, errs)
	validateNames(m, errs)
	hasRoot := false
	for _, e := range m.Entities {
		hasRoot = hasRoot || e.Type == "root"
	}
	if !hasRoot && len(m.Entities) > 0 {
		errs.add(m.Entities[0].Pos, "spec.type", "no root entity: a message is always decoded into a root entity first")
	}
}

// fillPositions gives the parts of a definition that were left out (and
// so were never read) the position of what holds them, so that every error
// names a line.
func fillPositions(e *Entity) {
	fill := func(p *Pos, parent Pos) {
		if p.Line == 0 {
			*p = parent
		}
	}
	fill(&e.Derivation.Pos, e.Pos)
	if rf := e.Derivation.RepeatedFor; rf != nil {
		fill(&rf.Pos, e.Derivation.Pos)
	}
	fill(&e.Persistence.Pos, e.Pos)
	fill(&e.Persistence.UnicityPos, e.Persistence.Pos)
	for i := range e.Persistence.Indexes {
		fill(&e.Persistence.Indexes[i].Pos, e.Persistence.Pos)
	}
	for _, f := range e.Fields {
		fill(&f.Pos, e.Pos)
		fill(&f.TypePos, f.Pos)
		fill(&f.Source.Pos, f.Pos)
		if cf := f.Source.CopyFrom; cf != nil {
			fill(&cf.Pos, f.Source.Pos)
		}
		if t := f.Source.Transform; t != nil {
			fill(&t.Pos, f.Source.Pos)
		}
	}
}

// takenGoName reports whether a Go transform's name would clash with the
// generated package's own identifiers or imports.
func takenGoName(name string) bool {
	switch name {
	case "rt", "regexp", "roots", "tables", "noRules", "Decode", "NewHandler", "Handler", "Rows":
		return true
	}
	for _, prefix := range []string{"decode", "rules", "const", "args"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// generatedNames are the exported names of a generated package.
var generatedNames = map[string]bool{"Rows": true, "Handler": true, "Decode": true, "NewHandler": true}

func validateDerivation(m *Model, e *Entity, errs *ErrorList) {
	d := e.Derivation
	switch e.Type {
	case "root":
		if d.Parent != "" || d.RepeatedFor != nil {
			errs.add(d.Pos, "spec.derivation", "a root entity has no derivation (set spec.type: derived)")
		}
		if e.Repetition == "repeated" {
			errs.add(e.Pos, "spec.repetition", "a root entity is a singleton: one per message")
		}
		if e.Repetition == "" {
			e.Repetition = "singleton"
		}
	case "derived":
		if d.Parent == "" && d.RepeatedFor == nil {
			errs.add(e.Pos, "spec.derivation", "a derived entity needs a derivation: parent or repeatedFor")
			return
		}
		want := "singleton"
		if d.RepeatedFor != nil {
			want = "repeated"
		}
		if e.Repetition != "" && e.Repetition != want {
			errs.add(e.Pos, "spec.repetition", "repetition %q does not match the derivation (which makes it %s)", e.Repetition, want)
		}
		e.Repetition = want
	}
	if d.Parent != "" && m.Entity(d.Parent) == nil {
		errs.add(d.Pos, "spec.derivation.parent", "unknown entity %q", d.Parent)
	}
	rf := d.RepeatedFor
	if rf == nil {
		return
	}
	if !goIdent.MatchString(rf.ItemName) {
		errs.add(rf.Pos, "spec.derivation.repeatedFor.itemName", "itemName %q must be an identifier", rf.ItemName)
	}
	if rf.Field != "" && !jsonPath.MatchString(rf.Field) {
		errs.add(rf.Pos, "spec.derivation.repeatedFor.field", "invalid path %q: dot-separated keys", rf.Field)
	}
	parent := m.Entity(rf.Entity)
	if parent == nil {
		if rf.Entity != "" {
			errs.add(rf.Pos, "spec.derivation.repeatedFor.entity", "unknown entity %q", rf.Entity)
		}
		return
	}
	// The array is read at a path of the parent's object. When the parent
	// also declares a field reading that path, the field must hold an array.
	for _, f := range parent.Fields {
		if f.readPath() == rf.Field && f.Type.Base != "" && !f.Type.Array && f.Type.Base != "json" {
			errs.add(rf.Pos, "spec.derivation.repeatedFor.field", "%s.%s is declared as %s at %s, not an array (declare it json or T[], or leave it undeclared)", parent.Name, rf.Field, f.Type, f.Pos)
		}
		// The items are read from the parent's object in the message: a
		// field of that name computed by nomnom is not there, and every
		// message would complete with no item written.
		if sameName(f.Name, rf.Field) && f.readPath() != rf.Field {
			errs.add(rf.Pos, "spec.derivation.repeatedFor.field", "%s.%s (%s) is %s, while repeatedFor.field %q is looked up as a path in %s's object in the message, where that value is not: no item would ever be found; point field at the array in the message%s",
				parent.Name, f.Name, f.Pos, computedBy(f), rf.Field, parent.Name, inputHint(f))
		}
	}
}

// sameName says whether a field name and a repeatedFor path name the same
// value as written, whatever their case or underscores: under nomnom.io/v1
// the field dg1Segments is the column dg1_segments, and repeatedFor names
// it dg1Segments, DG1Segments or dg1_segments alike.
func sameName(field, path string) bool {
	fold := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	return fold(field) == fold(path)
}

// computedBy says where a field's value comes from when it is not a path
// of the same name.
func computedBy(f *Field) string {
	s := f.Source
	switch {
	case s.Transform != nil:
		return "computed by the transform " + s.Transform.Name
	case s.CopyFrom != nil:
		return "copied from " + s.CopyFrom.Entity + "." + s.CopyFrom.Field
	case s.Constant != nil:
		return "a constant"
	}
	return "read from the path " + s.Field
}

// inputHint suggests the message path a computed field reads, if any.
func inputHint(f *Field) string {
	switch s := f.Source; {
	case s.Transform != nil && len(s.Transform.Inputs) > 0:
		return fmt.Sprintf(" (the transform reads %q), and compute each item's values in the derived entity's own fields", s.Transform.Inputs[0])
	case s.Field != "":
		return fmt.Sprintf(" (%q)", s.Field)
	}
	return ""
}

// readPath is the message path a field reads, or "" when its value does not
// come from the message.
func (f *Field) readPath() string {
	s := f.Source
	switch {
	case s.Field != "":
		return s.Field
	case s.CopyFrom != nil, s.Constant != nil, s.Transform != nil:
		return ""
	}
	return f.Name
}

// ancestors lists the entities e derives from, nearest first; it stops at a
// cycle or an unknown entity.
func (m *Model) ancestors(e *Entity) []*Entity {
	var out []*Entity
	seen := map[*Entity]bool{e: true}
	for p := m.Entity(e.Derivation.From()); p != nil && !seen[p]; p = m.Entity(p.Derivation.From()) {
		seen[p] = true
		out = append(out, p)
	}
	return out
}

func validateCycles(m *Model, errs *ErrorList) {
	for _, e := range m.Entities {
		chain := []string{e.Name}
		seen := map[string]bool{e.Name: true}
		for p := m.Entity(e.Derivation.From()); p != nil; p = m.Entity(p.Derivation.From()) {
			chain = append(chain, p.Name)
			if p == e {
				// Report a cycle once, at its first member by name.
				smallest := true
				for _, n := range chain {
					if n < e.Name {
						smallest = false
					}
				}
				if smallest {
					errs.add(e.Derivation.Pos, "spec.derivation", "derivation cycle: %s", strings.Join(chain, " → "))
				}
				break
			}
			if seen[p.Name] {
				break
			}
			seen[p.Name] = true
		}
	}
}

func validateFields(m *Model, e *Entity, errs *ErrorList) {
	seen := map[string]*Field{}
	for i, f := range e.Fields {
		p := fmt.Sprintf("spec.fields[%d]", i)
		if f.Name == "" {
			continue
		}
		if !sqlName.MatchString(f.Name) || len(f.Name) > 63 {
			errs.add(f.Pos, p+".name", "field name %q must be snake_case (a-z, 0-9, single underscores), at most 63 characters", f.Name)
		} else if reserved[f.Name] {
			errs.add(f.Pos, p+".name", "%q is a reserved SQL word; choose another column name (the JSON path can stay: source: {field: %s})", f.Name, f.Name)
		}
		if first, ok := seen[f.Name]; ok {
			errs.add(f.Pos, p+".name", "duplicate field %q (first at line %d)", f.Name, first.Pos.Line)
		}
		seen[f.Name] = f
		if f.Type.Base == "" {
			continue
		}
		validateConstraints(f, p+".constraints", errs)
		validateSource(m, e, f, p+".source", errs)
	}
}

func validateConstraints(f *Field, p string, errs *ErrorList) {
	c := f.Constraints
	at := f.TypePos
	if (c.MaxLength != nil || c.MinLength != nil || c.Pattern != "") && !f.Type.IsText() {
		errs.add(at, p, "maxLength, minLength and pattern apply to string and text fields, not %s", f.Type)
	}
	if c.MinLength != nil && c.MaxLength != nil && *c.MinLength > *c.MaxLength {
		errs.add(at, p, "minLength %d is above maxLength %d", *c.MinLength, *c.MaxLength)
	}
	if c.MinLength != nil && *c.MinLength < 0 {
		errs.add(at, p+".minLength", "a length cannot be negative")
	}
	if c.MaxLength != nil && *c.MaxLength < 1 {
		errs.add(at, p+".maxLength", "maxLength must be at least 1")
	}
	if c.Pattern != "" {
		if _, err := regexp.Compile(c.Pattern); err != nil {
			errs.add(at, p+".pattern", "bad pattern: %v", err)
		}
	}
	if len(c.Enum) > 0 && !f.Type.IsText() {
		errs.add(at, p+".enum", "enum applies to string and text fields, not %s", f.Type)
	}
	if (c.Minimum != nil || c.Maximum != nil) && !f.Type.IsNumeric() {
		errs.add(at, p, "minimum and maximum apply to numeric fields, not %s", f.Type)
	}
	var bounds [2]*big.Rat
	for i, s := range []*string{c.Minimum, c.Maximum} {
		if s == nil {
			continue
		}
		r, ok := new(big.Rat).SetString(*s)
		if !ok {
			errs.add(at, p, "bound %q is not a finite number", *s)
			continue
		}
		bounds[i] = r
	}
	if bounds[0] != nil && bounds[1] != nil && bounds[0].Cmp(bounds[1]) > 0 {
		errs.add(at, p, "minimum %s is above maximum %s", *c.Minimum, *c.Maximum)
	}
	if (c.Precision != nil || c.Scale != nil) && f.Type.Base != "decimal" {
		errs.add(at, p, "precision and scale apply to decimal fields, not %s", f.Type)
	}
	if c.Scale != nil && c.Precision == nil {
		errs.add(at, p+".scale", "scale needs a precision")
	}
	if c.Precision != nil && (*c.Precision < 1 || *c.Precision > 1000) {
		errs.add(at, p+".precision", "precision must be between 1 and 1000")
	}
	if c.Precision != nil && c.Scale != nil && (*c.Scale < 0 || *c.Scale > *c.Precision) {
		errs.add(at, p+".scale", "scale must be between 0 and the precision %d", *c.Precision)
	}
	if c.PrimaryKey && c.Nullable {
		errs.add(at, p, "a primary key cannot be nullable")
	}
	if c.Default != nil {
		if err := checkScalar(f, c.Default); err != nil {
			errs.add(c.Default.Pos, p+".default", "%v", err)
		}
	}
}

// checkScalar checks a YAML value (default or constant) against a field's
// type and constraints, so that a generated worker never meets a bad one.
func checkScalar(f *Field, s *Scalar) error {
	if f.Type.Array {
		return fmt.Errorf("a %s field takes no single value", f.Type)
	}
	if s.Tag == "!!null" {
		if !f.Constraints.Nullable {
			return fmt.Errorf("null for a field that is not nullable")
		}
		return nil
	}
	v := s.Value
	var err error
	switch f.Type.Base {
	case "integer":
		_, err = strconv.ParseInt(v, 10, 32)
	case "bigint":
		_, err = strconv.ParseInt(v, 10, 64)
	case "float":
		_, err = strconv.ParseFloat(v, 64)
	case "decimal":
		if !plainDecimal.MatchString(v) {
			err = fmt.Errorf("not a decimal")
		}
	case "boolean":
		if s.Tag != "!!bool" {
			err = fmt.Errorf("not a boolean")
		}
	case "date":
		_, err = time.Parse(time.DateOnly, v)
	case "timestamp":
		_, err = time.Parse(time.RFC3339Nano, v)
	case "uuid":
		_, err = uuid.Parse(v)
	}
	if err != nil {
		return fmt.Errorf("%q is not a valid %s", v, f.Type)
	}
	if len(f.Constraints.Enum) > 0 && !contains(f.Constraints.Enum, v) {
		return fmt.Errorf("%q is not one of the enum values", v)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func validateSource(m *Model, e *Entity, f *Field, p string, errs *ErrorList) {
	s := f.Source
	if path := f.readPath(); path != "" && !jsonPath.MatchString(path) {
		errs.add(s.Pos, p+".field", "invalid path %q: dot-separated keys", path)
	}
	if s.Constant != nil {
		if err := checkScalar(f, s.Constant); err != nil {
			errs.add(s.Constant.Pos, p+".constant", "%v", err)
		}
	}
	if cf := s.CopyFrom; cf != nil && cf.Entity != "" && cf.Field != "" {
		validateCopyFrom(m, e, f, cf, p+".copyFrom", errs)
	}
	if t := s.Transform; t != nil && t.Name != "" {
		validateTransform(f, t, p+".transform", errs)
	}
}

func validateCopyFrom(m *Model, e *Entity, f *Field, cf *CopyFrom, p string, errs *ErrorList) {
	from := m.Entity(cf.Entity)
	if from == nil {
		errs.add(cf.Pos, p+".entity", "unknown entity %q", cf.Entity)
		return
	}
	isAncestor := false
	for _, a := range m.ancestors(e) {
		isAncestor = isAncestor || a == from
	}
	if !isAncestor {
		errs.add(cf.Pos, p+".entity", "%s is not an ancestor of %s: copyFrom reads the entity this one derives from, or its ancestors", cf.Entity, e.Name)
		return
	}
	src := from.Field(cf.Field)
	switch {
	case src == nil:
		errs.add(cf.Pos, p+".field", "%s has no field %q", cf.Entity, cf.Field)
	case src.Type.Base == "":
		// Its unknown type is reported where it is declared.
	case src.Type != f.Type:
		errs.add(cf.Pos, p+".field", "%s.%s is %s but this field is %s", cf.Entity, cf.Field, src.Type, f.Type)
	case src.Constraints.Nullable != f.Constraints.Nullable:
		errs.add(cf.Pos, p+".field", "%s.%s and this field must agree on nullable", cf.Entity, cf.Field)
	}
}

func validateTransform(f *Field, t *Transform, p string, errs *ErrorList) {
	for i, in := range t.Inputs {
		if !jsonPath.MatchString(in) {
			errs.add(t.Pos, fmt.Sprintf("%s.inputs[%d]", p, i), "invalid path %q: dot-separated keys", in)
		}
	}
	if name, ok := strings.CutPrefix(t.Name, "go:"); ok {
		switch {
		case !goIdent.MatchString(name):
			errs.add(t.Pos, p+".name", "%q is not a Go identifier", name)
		case takenGoName(name):
			errs.add(t.Pos, p+".name", "%q is a name the generated package uses; choose another", name)
		}
		return
	}
	b, ok := builtins[t.Name]
	if !ok {
		names := make([]string, 0, len(builtins))
		for n := range builtins {
			names = append(names, n)
		}
		sort.Strings(names)
		errs.add(t.Pos, p+".name", "unknown transform %q (built-ins: %s; or go:<Func> for a Go function you write in the generated package)", t.Name, strings.Join(names, ", "))
		return
	}
	if len(t.Inputs) < b.minInputs || (b.maxInputs > 0 && len(t.Inputs) > b.maxInputs) {
		want := fmt.Sprintf("at least %d", b.minInputs)
		if b.maxInputs == b.minInputs {
			want = fmt.Sprintf("exactly %d", b.minInputs)
		}
		errs.add(t.Pos, p+".inputs", "%s takes %s input(s), got %d", t.Name, want, len(t.Inputs))
	}
	for k := range t.Args {
		if !contains(b.args, k) {
			errs.add(t.Pos, p+".args", "%s takes no argument %q", t.Name, k)
		}
	}
	if b.text && (!f.Type.IsText() || f.Type.Array) {
		errs.add(t.Pos, p+".name", "%s returns a string, but the field is %s", t.Name, f.Type)
	}
}

func validatePersistence(e *Entity, tables map[string]*Entity, errs *ErrorList) {
	ps := &e.Persistence
	if !ps.Enabled || e.Name == "" {
		return
	}
	if ps.Table == "" {
		ps.Table = snake(e.Name)
	}
	switch {
	case !sqlName.MatchString(ps.Table) || len(ps.Table) > 63:
		errs.add(ps.Pos, "spec.persistence.table", "table name %q must be snake_case, at most 63 characters", ps.Table)
	case reserved[ps.Table]:
		errs.add(ps.Pos, "spec.persistence.table", "table name %q is a reserved SQL word; set spec.persistence.table (e.g. %ss)", ps.Table, ps.Table)
	}
	if other, ok := tables[ps.Table]; ok {
		errs.add(ps.Pos, "spec.persistence.table", "table %q is also the table of %s (%s)", ps.Table, other.Name, other.Pos)
	} else {
		tables[ps.Table] = e
	}
	if len(ps.Unicity) == 0 {
		for _, f := range e.Fields {
			if f.Constraints.PrimaryKey {
				ps.Unicity = append(ps.Unicity, f.Name)
			}
		}
	}
	if len(ps.Unicity) == 0 {
		errs.add(ps.Pos, "spec.persistence.unicity", "a persisted entity needs unicity.fields or a primaryKey field, so that a replayed message updates its rows instead of inserting them twice")
	}
	checkFieldList(e, ps.Unicity, ps.UnicityPos, "spec.persistence.unicity.fields", true, errs)
	for i, ix := range ps.Indexes {
		p := fmt.Sprintf("spec.persistence.indexes[%d]", i)
		if ix.Name != "" && (!sqlName.MatchString(ix.Name) || reserved[ix.Name]) {
			errs.add(ix.Pos, p+".name", "index name %q must be snake_case and not a reserved SQL word", ix.Name)
		}
		if len(ix.Fields) == 0 {
			errs.add(ix.Pos, p+".fields", "an index needs at least one field")
		}
		checkFieldList(e, ix.Fields, ix.Pos, p+".fields", false, errs)
	}
}

func checkFieldList(e *Entity, names []string, pos Pos, p string, unicity bool, errs *ErrorList) {
	seen := map[string]bool{}
	for i, n := range names {
		f := e.Field(n)
		switch {
		case f == nil:
			errs.add(pos, fmt.Sprintf("%s[%d]", p, i), "%s has no field %q", e.Name, n)
		case seen[n]:
			errs.add(pos, fmt.Sprintf("%s[%d]", p, i), "field %q listed twice", n)
		case unicity && f.Constraints.Nullable:
			errs.add(pos, fmt.Sprintf("%s[%d]", p, i), "unicity field %q is nullable: NULLs never conflict, so a replay would insert twice", n)
		}
		seen[n] = true
	}
}

// snake turns a PascalCase name into snake_case: OrderLineItem → order_line_item.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 && !(s[i-1] >= 'A' && s[i-1] <= 'Z') {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// reserved holds PostgreSQL's reserved key words (including those that may
// be function or type names): unquoted, they cannot name a table or column.
var reserved = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`all analyse analyze and any array as asc asymmetric authorization binary both
		case cast check collate collation column concurrently constraint create cross current_catalog
		current_date current_role current_schema current_time current_timestamp current_user default
		deferrable desc distinct do else end except false fetch for foreign freeze from full grant group
		having ilike in initially inner intersect into is isnull join lateral leading left like limit
		localtime localtimestamp natural not notnull null offset on only or order outer overlaps placing
		primary references returning right select session_user similar some symmetric system_user table
		tablesample then to trailing true union unique user using variadic verbose when where window with`) {
		reserved[w] = true
	}
}
