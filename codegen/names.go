package codegen

import (
	"fmt"
	"strings"
)

// maxColumns is PostgreSQL's limit of columns in a table.
const maxColumns = 1600

// systemColumns are the columns PostgreSQL gives every table; a column of
// the same name cannot be created.
var systemColumns = map[string]bool{"tableoid": true, "xmin": true, "cmin": true, "xmax": true, "cmax": true, "ctid": true}

// platformNames are the relations and constraints of nomnom's own schema
// (migrations/), which share the database and its namespace with the
// entity tables.
var platformNames = map[string]bool{
	"message_status": true, "message_status_pkey": true, "message_status_status_check": true,
	"message_status_status_updated_at_idx": true, "message_status_received_at_idx": true,
	"schema_migrations": true, "schema_migrations_pkey": true,
}

// pgName is a name the generated DDL makes PostgreSQL create in the
// schema's namespace, with what it comes from for the error message.
type pgName struct {
	name   string // as PostgreSQL keeps it (at most 63 bytes)
	full   string // as written or derived, before truncation
	what   string // e.g. `index of field "b_c" of table "a"`
	rename string // what to rename to change it
	pos    Pos
	path   string
}

// validateNames checks what only shows when the tables are created: Go
// field names that collide, PostgreSQL names (tables, indexes,
// constraints) that collide in the schema, possibly once cut at 63 bytes
// or with nomnom's own tables, system column names and the column limit.
func validateNames(m *Model, errs *ErrorList) {
	seen := map[string]pgName{}
	tables := map[string]bool{}
	for _, e := range m.Entities {
		validateGoNames(e, errs)
		if !e.Persistence.Enabled || e.Persistence.Table == "" || tables[e.Persistence.Table] {
			continue // a table shared by two entities is reported with the table
		}
		tables[e.Persistence.Table] = true
		validateColumns(e, errs)
		for _, n := range entityNames(e) {
			checkName(n, seen, errs)
		}
	}
}

// validateGoNames reports fields whose Go names collide: x1 and x_1 are
// both X1.
func validateGoNames(e *Entity, errs *ErrorList) {
	seen := map[string]*Field{}
	for i, f := range e.Fields {
		if f.Name == "" || !sqlName.MatchString(f.Name) {
			continue
		}
		g := goName(f.Name)
		if first, ok := seen[g]; ok && first.Name != f.Name {
			errs.add(f.Pos, fmt.Sprintf("spec.fields[%d].name", i), "fields %q and %q (line %d) both become the Go field %s; rename one of them", f.Name, first.Name, first.Pos.Line, g)
			continue
		}
		seen[g] = f
	}
}

func validateColumns(e *Entity, errs *ErrorList) {
	for i, f := range e.Fields {
		if systemColumns[f.Name] {
			errs.add(f.Pos, fmt.Sprintf("spec.fields[%d].name", i), "%q is a PostgreSQL system column of every table; rename the field (the JSON path can stay: source: {field: %s})", f.Name, f.Name)
		}
	}
	if len(e.Fields) > maxColumns {
		errs.add(e.Persistence.Pos, "spec.fields", "%s has %d fields, more than the %d columns a PostgreSQL table can hold; split it into entities (parent: %s)", e.Name, len(e.Fields), maxColumns, e.Name)
	}
}

// entityNames lists the names the table of e creates.
func entityNames(e *Entity) []pgName {
	ps := e.Persistence
	t := ps.Table
	out := []pgName{{name: pgTruncate(t), full: t, what: fmt.Sprintf("table %q of %s", t, e.Name), rename: "spec.persistence.table", pos: ps.Pos, path: "spec.persistence.table"}}
	var pk []string
	for i, f := range e.Fields {
		p := fmt.Sprintf("spec.fields[%d]", i)
		if f.Constraints.PrimaryKey {
			pk = append(pk, f.Name)
		}
		if f.Constraints.Unique {
			out = append(out, pgName{name: pgObjectName(t, f.Name, "key"), what: fmt.Sprintf("unique constraint of field %q of table %q", f.Name, t), rename: "the table or the field", pos: f.Pos, path: p})
		}
		if ck := checkOf(t, f); ck != nil && f.Type.Base != "" {
			out = append(out, pgName{name: ck.Name, what: fmt.Sprintf("check constraint of field %q of table %q", f.Name, t), rename: "the table or the field", pos: f.Pos, path: p})
		}
		if f.Constraints.Indexed {
			full := t + "_" + f.Name + "_idx"
			out = append(out, pgName{name: pgTruncate(full), full: full, what: fmt.Sprintf("index of field %q of table %q", f.Name, t), rename: "the table or the field", pos: f.Pos, path: p})
		}
	}
	if len(pk) > 0 {
		out = append(out, pgName{name: pgObjectName(t, "", "pkey"), what: fmt.Sprintf("primary key of table %q", t), rename: "spec.persistence.table", pos: ps.Pos, path: "spec.persistence.table"})
	}
	if strings.Join(ps.Unicity, ",") != strings.Join(pk, ",") && len(ps.Unicity) > 0 {
		full := unicityName(t)
		out = append(out, pgName{name: pgTruncate(full), full: full, what: fmt.Sprintf("unicity constraint of table %q", t), rename: "spec.persistence.table", pos: ps.Pos, path: "spec.persistence.table"})
	}
	for i, ix := range ps.Indexes {
		full := indexName(t, ix)
		rename := fmt.Sprintf("spec.persistence.indexes[%d].name", i)
		out = append(out, pgName{name: pgTruncate(full), full: full, what: fmt.Sprintf("index %d of table %q", i, t), rename: "it (set " + rename + ")", pos: ix.Pos, path: fmt.Sprintf("spec.persistence.indexes[%d]", i)})
	}
	return out
}

func checkName(n pgName, seen map[string]pgName, errs *ErrorList) {
	cut := ""
	if n.full != "" && n.full != n.name {
		cut = fmt.Sprintf(" (PostgreSQL cuts %q to 63 bytes)", n.full)
	}
	switch {
	case platformNames[n.name], strings.HasSuffix(n.name, "_schema_migrations"), strings.HasSuffix(n.name, "_schema_migrations_pkey"):
		errs.add(n.pos, n.path, "the %s is named %s%s, a name of nomnom's own tables in the same database; rename %s", n.what, n.name, cut, n.rename)
		return
	}
	if first, ok := seen[n.name]; ok {
		errs.add(n.pos, n.path, "the %s is named %s%s, like the %s (%s); PostgreSQL names share one namespace: rename %s", n.what, n.name, cut, first.what, first.pos, n.rename)
		return
	}
	seen[n.name] = n
}
