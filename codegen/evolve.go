package codegen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// change is one difference between the schema the migrations produce and
// the one the definitions ask for, with the SQL that makes it and undoes it.
type change struct {
	// destructive changes may lose or reject existing data: they are only
	// generated when asked for, in a migration of their own.
	destructive bool
	pos         Pos
	path        string
	what        string // e.g. "Ticket.assignee (column tickets.assignee)"
	note        string // what the change does, and to which data
	up, down    []string
}

// plan is every change from old to new, additive ones and destructive ones
// apart, each list in the order its statements must run.
type plan struct {
	additive, destructive []change
}

func (p *plan) add(c change) {
	if c.destructive {
		p.destructive = append(p.destructive, c)
	} else {
		p.additive = append(p.additive, c)
	}
}

// differ compares two snapshots; where locates the definitions a change
// comes from.
type differ struct {
	old, new *Schema
	where    locator
	plan     plan
}

// locator finds a table or column in the definitions, or (for what they no
// longer hold) in the snapshot file.
type locator struct {
	tables   map[string]*ventity
	snapshot []byte
	file     string
}

func (l locator) table(name string) (Pos, string) {
	if e := l.tables[name]; e != nil {
		return e.Persistence.Pos, "spec.persistence"
	}
	return l.inSnapshot(`"name": "` + name + `"`), "tables"
}

func (l locator) column(table, col string) (Pos, string) {
	e := l.tables[table]
	if e == nil {
		return l.table(table)
	}
	for i, f := range e.Entity.Fields {
		if f.Name == col {
			return f.Pos, fmt.Sprintf("spec.fields[%d]", i)
		}
	}
	return e.Pos, "spec.fields"
}

// inSnapshot is the line of the snapshot where text first occurs (1 when
// it does not: an error always names a line).
func (l locator) inSnapshot(text string) Pos {
	line := 1
	if i := strings.Index(string(l.snapshot), text); i >= 0 {
		line += strings.Count(string(l.snapshot[:i]), "\n")
	}
	return Pos{File: l.file, Line: line}
}

func (l locator) entity(t *STable) string {
	if e := l.tables[t.Name]; e != nil {
		return e.Name
	}
	return t.Entity
}

// diff lists the changes that turn old into new: new tables parents first,
// dropped tables children first.
func diff(old, new *Schema, where locator) plan {
	d := &differ{old: old, new: new, where: where}
	for i := range new.Tables {
		t := &new.Tables[i]
		if o := old.table(t.Name); o != nil {
			d.table(o, t)
			continue
		}
		pos, path := where.table(t.Name)
		d.plan.add(change{pos: pos, path: path, what: fmt.Sprintf("%s (table %s)", t.Entity, t.Name), note: "new table",
			up: []string{strings.TrimSuffix(tableDDL(*t), "\n")}, down: []string{"DROP TABLE " + t.Name + ";"}})
	}
	for i := len(old.Tables) - 1; i >= 0; i-- {
		t := &old.Tables[i]
		if new.table(t.Name) != nil {
			continue
		}
		pos, path := where.table(t.Name)
		d.plan.add(change{destructive: true, pos: pos, path: path, what: fmt.Sprintf("%s (table %s)", t.Entity, t.Name),
			note: fmt.Sprintf("drops table %s and every row in it (the entity is gone, renamed its table or is no longer persisted)", t.Name),
			up:   []string{"DROP TABLE " + t.Name + ";"}, down: []string{strings.TrimSuffix(tableDDL(*t), "\n")}})
	}
	return d.plan
}

func (d *differ) table(o, n *STable) {
	for _, c := range n.Columns {
		if oc := o.column(c.Name); oc != nil {
			d.column(n, oc, c)
		} else {
			d.addColumn(n, c)
		}
	}
	for i := len(o.Columns) - 1; i >= 0; i-- {
		c := o.Columns[i]
		if n.column(c.Name) == nil {
			pos, path := d.where.column(n.Name, c.Name)
			restored := c
			restored.NotNull, restored.Unique = false, false
			d.plan.add(change{destructive: true, pos: pos, path: path, what: d.colName(n, c.Name),
				note: fmt.Sprintf("drops column %s.%s and every value in it (down adds it back empty and nullable)", n.Name, c.Name),
				up:   []string{fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s;", n.Name, c.Name)},
				down: []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s;", n.Name, columnDDL(restored))}})
		}
	}
	d.keys(o, n)
	d.indexes(o, n)
	if o.Comment != n.Comment {
		pos, path := d.where.table(n.Name)
		d.plan.add(change{pos: pos, path: path, what: fmt.Sprintf("%s (table %s)", d.where.entity(n), n.Name), note: "description",
			up: []string{commentSQL("TABLE "+n.Name, n.Comment)}, down: []string{commentSQL("TABLE "+n.Name, o.Comment)}})
	}
}

func (d *differ) colName(t *STable, col string) string {
	return fmt.Sprintf("%s.%s (column %s.%s)", d.where.entity(t), col, t.Name, col)
}

func commentSQL(target, text string) string {
	if text == "" {
		return fmt.Sprintf("COMMENT ON %s IS NULL;", target)
	}
	return fmt.Sprintf("COMMENT ON %s IS %s;", target, quoteSQL(text))
}

// addColumn adds a column to an existing table. Nullable columns and NOT
// NULL ones with a default are additive (existing rows get NULL or the
// default); a NOT NULL column without a default has no value for existing
// rows, and a NOT NULL unique one would give them all the same value.
func (d *differ) addColumn(t *STable, c SColumn) {
	pos, path := d.where.column(t.Name, c.Name)
	ch := change{pos: pos, path: path, what: d.colName(t, c.Name), note: "new nullable column",
		up:   []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s;", t.Name, columnDDL(c))},
		down: []string{fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s;", t.Name, c.Name)}}
	if c.NotNull {
		def := d.defaultOf(t.Name, c.Name)
		switch {
		case def == nil:
			ch.destructive = true
			ch.note = fmt.Sprintf("new NOT NULL column without a default: existing rows of %s have no value for it, so the migration fails while the table has rows (make it nullable or give it constraints.default)", t.Name)
		case c.Unique:
			ch.destructive = true
			ch.note = fmt.Sprintf("new unicity: a NOT NULL unique column gives every existing row of %s the same default, so the migration fails with two rows or more", t.Name)
		default:
			// The default stays on the column: workers of the previous
			// version, still running while the new ones roll out, insert
			// rows without this column.
			ch.note = "new NOT NULL column; existing rows, and rows the previous workers write, get the default " + def.Value
			withDefault := c
			withDefault.Type += " DEFAULT " + quoteSQL(def.Value) + "::" + c.Type
			ch.up = []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s;", t.Name, columnDDL(withDefault))}
		}
	}
	if c.Comment != "" {
		ch.up = append(ch.up, commentSQL(fmt.Sprintf("COLUMN %s.%s", t.Name, c.Name), c.Comment))
	}
	d.plan.add(ch)
}

// defaultOf is the default value of a field, or nil.
func (d *differ) defaultOf(table, col string) *Scalar {
	e := d.where.tables[table]
	if e == nil {
		return nil
	}
	f := e.Entity.Field(col)
	if f == nil || f.Constraints.Default == nil || f.Constraints.Default.Tag == "!!null" {
		return nil
	}
	return f.Constraints.Default
}

func (d *differ) column(t *STable, o *SColumn, n SColumn) {
	pos, path := d.where.column(t.Name, n.Name)
	at := func(destructive bool, note string, up, down []string) {
		d.plan.add(change{destructive: destructive, pos: pos, path: path, what: d.colName(t, n.Name), note: note, up: up, down: down})
	}
	alter := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s ", t.Name, n.Name)
	if o.Type != n.Type {
		up := alter + fmt.Sprintf("TYPE %s USING %s::%s;", n.Type, n.Name, n.Type)
		down := alter + fmt.Sprintf("TYPE %s USING %s::%s;", o.Type, n.Name, o.Type)
		if widens(o.Type, n.Type) {
			at(false, fmt.Sprintf("type widened from %s to %s (every value fits)", o.Type, n.Type), []string{up}, []string{down})
		} else {
			at(true, fmt.Sprintf("type change from %s to %s: rewrites every row of %s and fails on a value that does not convert (add a new field instead)", o.Type, n.Type, t.Name), []string{up}, []string{down})
		}
	}
	switch {
	case o.NotNull && !n.NotNull:
		at(false, "now nullable", []string{alter + "DROP NOT NULL;"}, []string{alter + "SET NOT NULL; -- fails if rows with NULL were written since"})
	case !o.NotNull && n.NotNull:
		at(true, fmt.Sprintf("NOT NULL on existing data: fails while a row of %s holds NULL in %s", t.Name, n.Name),
			[]string{alter + "SET NOT NULL;"}, []string{alter + "DROP NOT NULL;"})
	}
	key := pgObjectName(t.Name, n.Name, "key")
	switch {
	case !o.Unique && n.Unique:
		at(true, fmt.Sprintf("new unicity: fails while two rows of %s share a value of %s", t.Name, n.Name),
			[]string{fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (%s);", t.Name, key, n.Name)},
			[]string{fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s;", t.Name, key)})
	case o.Unique && !n.Unique:
		at(false, "no longer unique",
			[]string{fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s;", t.Name, key)},
			[]string{fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s UNIQUE (%s); -- fails if values were repeated since", t.Name, key, n.Name)})
	}
	if changed, narrows := compareChecks(o.Check, n.Check); changed {
		up, down := checkSQL(t.Name, n.Name, o.Check, n.Check), checkSQL(t.Name, n.Name, n.Check, o.Check)
		if narrows {
			at(true, fmt.Sprintf("narrower constraints (length, bounds or enum): fails while a row of %s holds a value outside them", t.Name), up, down)
		} else {
			at(false, "wider constraints (length, bounds or enum)", up, down)
		}
	}
	if o.Comment != n.Comment {
		target := fmt.Sprintf("COLUMN %s.%s", t.Name, n.Name)
		at(false, "description", []string{commentSQL(target, n.Comment)}, []string{commentSQL(target, o.Comment)})
	}
}

// checkSQL replaces a column's CHECK constraint from by to.
func checkSQL(table, col string, from, to *SCheck) []string {
	var out []string
	if from != nil {
		out = append(out, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s;", table, from.Name))
	}
	if to != nil {
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s);", table, to.Name, to.expr(col)))
	}
	return out
}

// keys compares the primary key and the unicity constraint: any change is
// a new unicity, which existing rows may break.
func (d *differ) keys(o, n *STable) {
	pos, path := d.where.table(n.Name)
	what := fmt.Sprintf("%s (table %s)", d.where.entity(n), n.Name)
	if !slices.Equal(o.PrimaryKey, n.PrimaryKey) {
		pk := pgObjectName(n.Name, "", "pkey")
		d.plan.add(change{destructive: true, pos: pos, path: path, what: what,
			note: fmt.Sprintf("new unicity: primary key (%s) becomes (%s); fails while existing rows repeat the new key", strings.Join(o.PrimaryKey, ", "), strings.Join(n.PrimaryKey, ", ")),
			up:   keySQL(n.Name, pk, "PRIMARY KEY", o.PrimaryKey, n.PrimaryKey), down: keySQL(n.Name, pk, "PRIMARY KEY", n.PrimaryKey, o.PrimaryKey)})
	}
	if !slices.Equal(o.Unicity, n.Unicity) {
		u := unicityName(n.Name)
		d.plan.add(change{destructive: true, pos: pos, path: path + ".unicity", what: what,
			note: fmt.Sprintf("new unicity: unicity (%s) becomes (%s); fails while existing rows repeat the new key", strings.Join(o.Unicity, ", "), strings.Join(n.Unicity, ", ")),
			up:   keySQL(n.Name, u, "UNIQUE", o.Unicity, n.Unicity), down: keySQL(n.Name, u, "UNIQUE", n.Unicity, o.Unicity)})
	}
}

func keySQL(table, name, kind string, from, to []string) []string {
	var out []string
	if len(from) > 0 {
		out = append(out, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s;", table, name))
	}
	if len(to) > 0 {
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s %s (%s);", table, name, kind, strings.Join(to, ", ")))
	}
	return out
}

// indexes compares secondary indexes by name. Dropping an index loses no
// data; a new unique one is a new unicity.
func (d *differ) indexes(o, n *STable) {
	pos, path := d.where.table(n.Name)
	find := func(list []SIndex, name string) *SIndex {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
		return nil
	}
	for _, ix := range n.Indexes {
		old := find(o.Indexes, ix.Name)
		if old != nil && old.Unique == ix.Unique && slices.Equal(old.Columns, ix.Columns) {
			continue
		}
		c := change{pos: pos, path: path + ".indexes", what: fmt.Sprintf("%s (index %s)", d.where.entity(n), ix.Name), note: "new index",
			up: []string{strings.TrimSuffix(indexDDL(n.Name, ix), "\n")}, down: []string{"DROP INDEX " + ix.Name + ";"}}
		if old != nil {
			c.note = "index changed"
			c.up = append([]string{"DROP INDEX " + ix.Name + ";"}, c.up...)
			c.down = append(c.down, strings.TrimSuffix(indexDDL(n.Name, *old), "\n"))
		}
		if ix.Unique && (old == nil || !old.Unique || !slices.Equal(old.Columns, ix.Columns)) {
			c.destructive = true
			c.note = fmt.Sprintf("new unicity: unique index on (%s) fails while existing rows repeat a value", strings.Join(ix.Columns, ", "))
		}
		d.plan.add(c)
	}
	for _, ix := range o.Indexes {
		if find(n.Indexes, ix.Name) == nil {
			d.plan.add(change{pos: pos, path: path + ".indexes", what: fmt.Sprintf("%s (index %s)", d.where.entity(n), ix.Name), note: "index removed (no data is lost)",
				up: []string{"DROP INDEX " + ix.Name + ";"}, down: []string{strings.TrimSuffix(indexDDL(n.Name, ix), "\n")}})
		}
	}
}

var numericType = regexp.MustCompile(`^numeric\((\d+)(?:,(\d+))?\)$`)

// widens reports whether every value of column type from fits type to
// unchanged: integer → bigint → numeric, and numeric(p,s) to a numeric with
// as many digits on each side of the point.
func widens(from, to string) bool {
	from, fromArray := strings.CutSuffix(from, "[]")
	to, toArray := strings.CutSuffix(to, "[]")
	if fromArray != toArray {
		return false
	}
	switch {
	case from == "integer" && (to == "bigint" || to == "numeric"), from == "bigint" && to == "numeric":
		return true
	}
	fm := numericType.FindStringSubmatch(from)
	if fm == nil {
		return false
	}
	if to == "numeric" {
		return true
	}
	tm := numericType.FindStringSubmatch(to)
	if tm == nil {
		return false
	}
	fp, fs := atoi(fm[1]), atoi(fm[2])
	tp, ts := atoi(tm[1]), atoi(tm[2])
	return ts >= fs && tp-ts >= fp-fs
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// compareChecks reports whether a column's CHECK changes and whether the
// new one rejects a value the old one accepted.
func compareChecks(o, n *SCheck) (changed, narrows bool) {
	var zero SCheck
	if o == nil {
		o = &zero
	}
	if n == nil {
		n = &zero
	}
	narrowInt := func(a, b *int, upper bool) (bool, bool) { // changed, narrows
		switch {
		case a == nil && b == nil:
			return false, false
		case a == nil:
			return true, true
		case b == nil:
			return true, false
		case *a == *b:
			return false, false
		}
		return true, (*b < *a) == upper
	}
	narrowNum := func(a, b *string, upper bool) (bool, bool) {
		switch {
		case a == nil && b == nil:
			return false, false
		case a == nil:
			return true, true
		case b == nil:
			return true, false
		}
		ra, okA := new(big.Rat).SetString(*a)
		rb, okB := new(big.Rat).SetString(*b)
		if !okA || !okB { // the validator rejects these; never take them for wider
			return *a != *b, *a != *b
		}
		if ra.Cmp(rb) == 0 {
			return false, false
		}
		return true, (rb.Cmp(ra) < 0) == upper
	}
	for _, r := range [][2]bool{
		pair(narrowInt(o.MaxLength, n.MaxLength, true)),
		pair(narrowInt(o.MinLength, n.MinLength, false)),
		pair(narrowNum(o.Maximum, n.Maximum, true)),
		pair(narrowNum(o.Minimum, n.Minimum, false)),
	} {
		changed = changed || r[0]
		narrows = narrows || r[1]
	}
	if !slices.Equal(o.Enum, n.Enum) {
		changed = true
		if len(n.Enum) > 0 {
			for _, v := range o.Enum {
				narrows = narrows || !slices.Contains(n.Enum, v)
			}
			narrows = narrows || len(o.Enum) == 0
		}
	}
	return changed, narrows
}

func pair(a, b bool) [2]bool { return [2]bool{a, b} }

// migrationFile names the migrations this generator writes:
// NNNN_<name>_<kind>.up.sql and .down.sql.
var migrationFile = regexp.MustCompile(`^(\d+)_.*\.(up|down)\.sql$`)

// migrationSet generates the migration files and the schema snapshot. A new
// project gets 0001_<name>_entities and the snapshot; an existing one gets
// the next numbered migration for what changed since the snapshot, or
// nothing but the snapshot when nothing did. Files already in the folder are
// never rewritten.
func migrationSet(v *view, opts Options) (map[string][]byte, error) {
	existing, last, err := existingMigrations(opts)
	if err != nil {
		return nil, err
	}
	first, err := firstMigration(v, opts)
	if err != nil {
		return nil, err
	}
	snapshot, err := readSnapshot(opts)
	if err != nil {
		return nil, err
	}
	dir := "migrations/"
	switch {
	case snapshot == nil && len(existing) == 0:
		first[dir+SchemaFile] = schemaOf(v, 1).marshal()
		return first, nil
	case snapshot == nil:
		return adopt(v, opts, existing, first)
	}
	prev, err := ParseSchema(dir+SchemaFile, snapshot)
	if err != nil {
		return nil, err
	}
	if prev.Name != opts.Name {
		return nil, fmt.Errorf("%s%s is the snapshot of the %q migrations, not %q: generate with --name %s", dir, SchemaFile, prev.Name, opts.Name, prev.Name)
	}
	cur := schemaOf(v, prev.Version)
	tables := map[string]*ventity{}
	for _, e := range v.Tables {
		tables[e.Table] = e
	}
	p := diff(prev, cur, locator{tables: tables, snapshot: snapshot, file: dir + SchemaFile})
	if len(p.destructive) > 0 && !opts.AllowDestructive {
		var errs ErrorList
		for _, c := range p.destructive {
			errs.add(c.pos, c.path, "%s: %s; refused, nothing written (keep the old definition, or pass --allow-destructive to generate it as a migration of its own)", c.what, c.note)
		}
		return nil, errs.err()
	}
	out := map[string][]byte{}
	next := max(last, prev.Version) + 1
	for _, m := range []struct {
		kind    string
		changes []change
		intro   []string
	}{
		{"additive", p.additive, []string{"Additive: existing rows stay as they are, and workers of the previous version keep working until they are rolled."}},
		{"destructive", p.destructive, []string{
			"DESTRUCTIVE, generated with --allow-destructive: each change below says which data it touches.",
			"Back that data up and review every statement before migrating.",
		}},
	} {
		if len(m.changes) == 0 {
			continue
		}
		up, down, err := renderMigration(v, next, m.kind, m.intro, m.changes)
		if err != nil {
			return nil, err
		}
		base := fmt.Sprintf("%s%04d_%s_%s", dir, next, opts.Name, m.kind)
		out[base+".up.sql"], out[base+".down.sql"] = up, down
		cur.Version = next
		next++
	}
	out[dir+SchemaFile] = cur.marshal()
	return out, nil
}

// firstMigration renders 0001_<name>_entities, which creates every table.
func firstMigration(v *view, opts Options) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range []struct{ suffix, tmpl string }{{".up.sql", "up.sql.tmpl"}, {".down.sql", "down.sql.tmpl"}} {
		var b bytes.Buffer
		if err := templates.ExecuteTemplate(&b, f.tmpl, v); err != nil {
			return nil, fmt.Errorf("generate migration: %w", err)
		}
		out["migrations/0001_"+opts.Name+"_entities"+f.suffix] = b.Bytes()
	}
	return out, nil
}

// adopt takes a folder written before the snapshot existed: its single
// migration 0001 was rewritten in place at each generation, so it matches
// the definitions exactly when they have not changed since. Then the
// snapshot is written for it; otherwise nothing tells what the database
// holds, and the user is told how to get there.
func adopt(v *view, opts Options, existing []string, first map[string][]byte) (map[string][]byte, error) {
	name := "migrations/0001_" + opts.Name + "_entities.up.sql"
	old, err := fs.ReadFile(opts.Migrations, path.Base(name))
	if len(existing) == 2 && err == nil && bytes.Equal(old, first[name]) {
		return map[string][]byte{"migrations/" + SchemaFile: schemaOf(v, 1).marshal()}, nil
	}
	return nil, fmt.Errorf("migrations/ holds migrations (%s) but no %s snapshot, and they differ from what these definitions create: "+
		"check out the entity definitions the migrations were generated from, run nomnom generate once to record the snapshot, then change the definitions and generate again",
		strings.Join(existing, ", "), SchemaFile)
}

// existingMigrations lists the migration files of the folder and the
// highest version among them.
func existingMigrations(opts Options) (names []string, last int, err error) {
	if opts.Migrations == nil {
		return nil, 0, nil
	}
	entries, err := fs.ReadDir(opts.Migrations, ".")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read migrations: %w", err)
	}
	for _, e := range entries {
		m := migrationFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		names = append(names, e.Name())
		last = max(last, atoi(m[1]))
	}
	return names, last, nil
}

func readSnapshot(opts Options) ([]byte, error) {
	if opts.Migrations == nil {
		return nil, nil
	}
	data, err := fs.ReadFile(opts.Migrations, SchemaFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read migrations/%s: %w", SchemaFile, err)
	}
	return data, nil
}

// migrationView is what migration.sql.tmpl renders.
type migrationView struct {
	SQLHeader string
	Title     string
	Intro     []string
	Changes   []migrationStep
}

type migrationStep struct {
	What, Note string
	Statements []string
}

// renderMigration writes the up file (changes in order) and the down file
// (their reversals in reverse order).
func renderMigration(v *view, version int, kind string, intro []string, changes []change) (up, down []byte, err error) {
	upView := migrationView{SQLHeader: v.SQLHeader, Title: fmt.Sprintf("Migration %d of %s (%s).", version, v.Name, kind), Intro: intro}
	downView := migrationView{SQLHeader: v.SQLHeader, Title: fmt.Sprintf("Reverts migration %d of %s (%s).", version, v.Name, kind), Intro: intro}
	for i, c := range changes {
		upView.Changes = append(upView.Changes, migrationStep{What: c.what, Note: c.note, Statements: c.up})
		r := changes[len(changes)-1-i]
		downView.Changes = append(downView.Changes, migrationStep{What: r.what, Note: "reverts: " + r.note, Statements: r.down})
	}
	var u, d bytes.Buffer
	if err := templates.ExecuteTemplate(&u, "migration.sql.tmpl", upView); err != nil {
		return nil, nil, err
	}
	if err := templates.ExecuteTemplate(&d, "migration.sql.tmpl", downView); err != nil {
		return nil, nil, err
	}
	return u.Bytes(), d.Bytes(), nil
}
