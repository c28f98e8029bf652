package codegen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// SchemaFile is the snapshot of the entity tables, written beside the
// migrations (migrations/schema.json). It records the schema that the
// migrations of the folder produce when all are applied, so that the next
// generation compares the definitions with it and writes only the
// difference as a new migration.
const SchemaFile = "schema.json"

// Schema is the snapshot kept in SchemaFile. It is plain JSON rather than
// SQL parsed back or a database introspected at generation time: a reviewer
// reads its diff in the same commit as the migration it explains, and
// generation stays a pure function that needs no database.
type Schema struct {
	// Header marks the file as generated (see IsGenerated).
	Header string `json:"header"`
	// Name is the migration set's name (Options.Name).
	Name string `json:"name"`
	// Version is the number of the last migration nomnom generated.
	Version int      `json:"version"`
	Tables  []STable `json:"tables"`
}

// STable is one entity table of a Schema.
type STable struct {
	Name       string   `json:"name"`
	Entity     string   `json:"entity"`
	Comment    string   `json:"comment,omitempty"`
	PrimaryKey []string `json:"primary_key,omitempty"`
	// Unicity is the <table>_unicity constraint, set only when the unicity
	// fields differ from the primary key.
	Unicity []string  `json:"unicity,omitempty"`
	Columns []SColumn `json:"columns"`
	Indexes []SIndex  `json:"indexes,omitempty"`
}

// SColumn is one column of an STable. Its order in the table is not
// compared: a column added later goes to the end of the table whatever its
// place in the definitions.
type SColumn struct {
	Name    string  `json:"name"`
	Type    string  `json:"type"`
	NotNull bool    `json:"not_null,omitempty"`
	Unique  bool    `json:"unique,omitempty"`
	Check   *SCheck `json:"check,omitempty"`
	Comment string  `json:"comment,omitempty"`
}

// SCheck is the CHECK constraint of a column, kept as its bounds so that a
// change can be told to widen or narrow it.
type SCheck struct {
	// Name is the name PostgreSQL gives the constraint (<table>_<column>_check,
	// shortened like PostgreSQL does past 63 bytes).
	Name      string   `json:"name"`
	MinLength *int     `json:"min_length,omitempty"`
	MaxLength *int     `json:"max_length,omitempty"`
	Minimum   *string  `json:"minimum,omitempty"`
	Maximum   *string  `json:"maximum,omitempty"`
	Enum      []string `json:"enum,omitempty"`
}

// SIndex is a secondary index of an STable, by the name PostgreSQL keeps
// (at most 63 bytes).
type SIndex struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
	Unique  bool     `json:"unique,omitempty"`
}

// pgNameLen is the longest identifier PostgreSQL keeps (NAMEDATALEN - 1);
// it silently truncates longer ones.
const pgNameLen = 63

// pgTruncate is the name PostgreSQL keeps of an identifier.
func pgTruncate(s string) string {
	if len(s) > pgNameLen {
		return s[:pgNameLen]
	}
	return s
}

// pgObjectName is the name PostgreSQL chooses for an implicit object
// (makeObjectName in its source): name1_name2_label, with name1 and name2
// shortened, the longer first, until it fits in 63 bytes.
func pgObjectName(name1, name2, label string) string {
	overhead := len(label) + 1
	if name2 != "" {
		overhead++
	}
	n1, n2 := len(name1), len(name2)
	for n1+n2 > pgNameLen-overhead {
		if n1 > n2 {
			n1--
		} else {
			n2--
		}
	}
	s := name1[:n1]
	if name2 != "" {
		s += "_" + name2[:n2]
	}
	return s + "_" + label
}

// checkOf is the CHECK constraint of a field's column, or nil. Array
// columns have none: their constraints apply to each element in Go.
func checkOf(table string, f *Field) *SCheck {
	c := f.Constraints
	if f.Type.Array {
		return nil
	}
	ck := &SCheck{Name: pgObjectName(table, f.Name, "check"), MaxLength: c.MaxLength, Minimum: c.Minimum, Maximum: c.Maximum}
	if c.MinLength != nil && *c.MinLength > 0 {
		ck.MinLength = c.MinLength
	}
	if len(c.Enum) > 0 {
		ck.Enum = append([]string(nil), c.Enum...)
	}
	if ck.MinLength == nil && ck.MaxLength == nil && ck.Minimum == nil && ck.Maximum == nil && ck.Enum == nil {
		return nil
	}
	return ck
}

// expr is the boolean expression of a CHECK on column col.
func (ck *SCheck) expr(col string) string {
	var checks []string
	if ck.MinLength != nil {
		checks = append(checks, fmt.Sprintf("char_length(%s) >= %d", col, *ck.MinLength))
	}
	if ck.MaxLength != nil {
		checks = append(checks, fmt.Sprintf("char_length(%s) <= %d", col, *ck.MaxLength))
	}
	if ck.Minimum != nil {
		checks = append(checks, fmt.Sprintf("%s >= %s", col, plainNumber(*ck.Minimum)))
	}
	if ck.Maximum != nil {
		checks = append(checks, fmt.Sprintf("%s <= %s", col, plainNumber(*ck.Maximum)))
	}
	if len(ck.Enum) > 0 {
		q := make([]string, len(ck.Enum))
		for i, v := range ck.Enum {
			q[i] = quoteSQL(v)
		}
		checks = append(checks, fmt.Sprintf("%s IN (%s)", col, strings.Join(q, ", ")))
	}
	return strings.Join(checks, " AND ")
}

// tableOf is the snapshot of a persisted entity's table.
func tableOf(e *ventity) STable {
	t := STable{Name: e.Table, Entity: e.Name, Comment: e.Description}
	for _, f := range e.Fields {
		t.Columns = append(t.Columns, SColumn{
			Name:    f.Name,
			Type:    f.sqlType(),
			NotNull: !f.Constraints.Nullable,
			Unique:  f.Constraints.Unique,
			Check:   checkOf(e.Table, f.Field),
			Comment: f.Description,
		})
		if f.Constraints.PrimaryKey {
			t.PrimaryKey = append(t.PrimaryKey, f.Name)
		}
	}
	if u := e.Persistence.Unicity; strings.Join(u, ",") != strings.Join(t.PrimaryKey, ",") {
		t.Unicity = append([]string(nil), u...)
	}
	for _, f := range e.Fields {
		if f.Constraints.Indexed {
			t.Indexes = append(t.Indexes, SIndex{Name: pgTruncate(e.Table + "_" + f.Name + "_idx"), Columns: []string{f.Name}})
		}
	}
	for _, ix := range e.Persistence.Indexes {
		t.Indexes = append(t.Indexes, SIndex{Name: pgTruncate(indexName(e.Table, ix)), Columns: append([]string(nil), ix.Fields...), Unique: ix.Unique})
	}
	return t
}

// indexName is the name written in CREATE INDEX for a declared index.
func indexName(table string, ix Index) string {
	if ix.Name != "" {
		return ix.Name
	}
	return table + "_" + strings.Join(ix.Fields, "_") + "_idx"
}

// schemaOf is the snapshot of every table of v, parents first.
func schemaOf(v *view, version int) *Schema {
	s := &Schema{Header: Header, Name: v.Name, Version: version, Tables: []STable{}}
	for _, e := range v.Tables {
		s.Tables = append(s.Tables, tableOf(e))
	}
	return s
}

// table returns the table named name, or nil.
func (s *Schema) table(name string) *STable {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}

// column returns the column named name, or nil.
func (t *STable) column(name string) *SColumn {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// marshal is the file's bytes: indented, so that a review shows the change
// line by line, and stable.
func (s *Schema) marshal() []byte {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // only plain strings, ints and slices: cannot fail
	}
	return append(data, '\n')
}

// ParseSchema reads a SchemaFile; file names it in errors.
func ParseSchema(file string, data []byte) (*Schema, error) {
	var s Schema
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: not a schema snapshot written by nomnom: %w", file, err)
	}
	if s.Header != Header || s.Version < 1 {
		return nil, fmt.Errorf("%s: not a schema snapshot written by nomnom (header or version missing)", file)
	}
	return &s, nil
}

// jsonHeader is how a generated JSON file starts.
var jsonHeader = []byte("{\n  \"header\": \"" + Header + "\"")

// IsGenerated reports whether a file's content was written by nomnom: Go
// and SQL files (and the worker's Dockerfile and compose file) start with
// Header in a comment, the schema snapshot with it
// as its first key. Files without it are the user's.
func IsGenerated(data []byte) bool {
	return bytes.HasPrefix(data, []byte("// "+Header)) ||
		bytes.HasPrefix(data, []byte("-- "+Header)) ||
		bytes.HasPrefix(data, []byte("# "+Header)) ||
		bytes.HasPrefix(data, jsonHeader)
}
