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
func ddl(e *ventity) string { return tableDDL(tableOf(e)) }

// tableDDL creates a table of a schema snapshot with its constraints,
// indexes and comments.
func tableDDL(t STable) string {
	var lines []string
	for _, c := range t.Columns {
		lines = append(lines, columnDDL(c))
	}
	if len(t.PrimaryKey) > 0 {
		lines = append(lines, fmt.Sprintf("PRIMARY KEY (%s)", strings.Join(t.PrimaryKey, ", ")))
	}
	if len(t.Unicity) > 0 {
		lines = append(lines, fmt.Sprintf("CONSTRAINT %s UNIQUE (%s)", unicityName(t.Name), strings.Join(t.Unicity, ", ")))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE %s (\n    %s\n);\n", t.Name, strings.Join(lines, ",\n    "))
	for _, ix := range t.Indexes {
		b.WriteString(indexDDL(t.Name, ix))
	}
	if t.Comment != "" {
		fmt.Fprintf(&b, "COMMENT ON TABLE %s IS %s;\n", t.Name, quoteSQL(t.Comment))
	}
	for _, c := range t.Columns {
		if c.Comment != "" {
			fmt.Fprintf(&b, "COMMENT ON COLUMN %s.%s IS %s;\n", t.Name, c.Name, quoteSQL(c.Comment))
		}
	}
	return b.String()
}

// unicityName names the unique constraint of the unicity fields when they
// are not the primary key.
func unicityName(table string) string { return table + "_unicity" }

func indexDDL(table string, ix SIndex) string {
	kind := "INDEX"
	if ix.Unique {
		kind = "UNIQUE INDEX"
	}
	return fmt.Sprintf("CREATE %s %s ON %s (%s);\n", kind, ix.Name, table, strings.Join(ix.Columns, ", "))
}

// columnDDL is a column definition. CHECKs repeat the scalar constraints so
// the table holds to them whoever writes it; patterns stay in Go, whose
// regexp syntax differs from PostgreSQL's.
func columnDDL(c SColumn) string {
	s := c.Name + " " + c.Type
	if c.NotNull {
		s += " NOT NULL"
	}
	if c.Unique {
		s += " UNIQUE"
	}
	if c.Check != nil {
		s += " CHECK (" + c.Check.expr(c.Name) + ")"
	}
	return s
}
