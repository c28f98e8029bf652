package codegen

import (
	"fmt"
	"strings"
)

// upsert is the statement writing a batch of rows of e (template
// upsert.sql.tmpl): one text[] parameter per column, unnested, cast to the
// column types. A conflict on the unicity key updates the row only when a
// value differs, so a replayed message leaves rows as they were; with
// onConflict: ignore it does nothing.
func upsert(e *ventity) string {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, "upsert", e); err != nil {
		panic("codegen: upsert template: " + err.Error())
	}
	return b.String()
}

// CastType is the type the text of the column is cast to in the upsert.
func (f *vfield) CastType() string { return f.castType() }

func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ddl is the CREATE TABLE of e with its constraints, indexes and comments.
func ddl(e *ventity) string {
	var lines []string
	var pk []string
	for _, f := range e.Fields {
		lines = append(lines, column(f.Field))
		if f.Constraints.PrimaryKey {
			pk = append(pk, f.Name)
		}
	}
	if len(pk) > 0 {
		lines = append(lines, fmt.Sprintf("PRIMARY KEY (%s)", strings.Join(pk, ", ")))
	}
	if u := e.Persistence.Unicity; strings.Join(u, ",") != strings.Join(pk, ",") {
		lines = append(lines, fmt.Sprintf("CONSTRAINT %s_unicity UNIQUE (%s)", e.Table, strings.Join(u, ", ")))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n    %s\n);\n", e.Table, strings.Join(lines, ",\n    "))
	for _, f := range e.Fields {
		if f.Constraints.Indexed {
			fmt.Fprintf(&b, "CREATE INDEX %s_%s_idx ON %s (%s);\n", e.Table, f.Name, e.Table, f.Name)
		}
	}
	for _, ix := range e.Persistence.Indexes {
		name, kind := ix.Name, "INDEX"
		if name == "" {
			name = e.Table + "_" + strings.Join(ix.Fields, "_") + "_idx"
		}
		if ix.Unique {
			kind = "UNIQUE INDEX"
		}
		fmt.Fprintf(&b, "CREATE %s %s ON %s (%s);\n", kind, name, e.Table, strings.Join(ix.Fields, ", "))
	}
	if e.Description != "" {
		fmt.Fprintf(&b, "COMMENT ON TABLE %s IS %s;\n", e.Table, quoteSQL(e.Description))
	}
	for _, f := range e.Fields {
		if f.Description != "" {
			fmt.Fprintf(&b, "COMMENT ON COLUMN %s.%s IS %s;\n", e.Table, f.Name, quoteSQL(f.Description))
		}
	}
	return b.String()
}

// column is a column definition. CHECKs repeat the scalar constraints so
// the table holds to them whoever writes it; patterns stay in Go, whose
// regexp syntax differs from PostgreSQL's.
func column(f *Field) string {
	s := f.Name + " " + f.sqlType()
	c := f.Constraints
	if !c.Nullable {
		s += " NOT NULL"
	}
	if c.Unique {
		s += " UNIQUE"
	}
	if f.Type.Array {
		return s
	}
	var checks []string
	if c.MinLength != nil && *c.MinLength > 0 {
		checks = append(checks, fmt.Sprintf("char_length(%s) >= %d", f.Name, *c.MinLength))
	}
	if c.MaxLength != nil {
		checks = append(checks, fmt.Sprintf("char_length(%s) <= %d", f.Name, *c.MaxLength))
	}
	if c.Minimum != nil {
		checks = append(checks, fmt.Sprintf("%s >= %s", f.Name, plainNumber(*c.Minimum)))
	}
	if c.Maximum != nil {
		checks = append(checks, fmt.Sprintf("%s <= %s", f.Name, plainNumber(*c.Maximum)))
	}
	if len(c.Enum) > 0 {
		q := make([]string, len(c.Enum))
		for i, v := range c.Enum {
			q[i] = quoteSQL(v)
		}
		checks = append(checks, fmt.Sprintf("%s IN (%s)", f.Name, strings.Join(q, ", ")))
	}
	if len(checks) > 0 {
		s += " CHECK (" + strings.Join(checks, " AND ") + ")"
	}
	return s
}
