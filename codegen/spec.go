package codegen

import (
	"fmt"
	"strings"
)

// Pos is where a definition was read, so that every error can send the
// reader to the line at fault.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Model is a set of entity definitions, as read from one folder. Entities
// keep the order of the files (sorted by name) and of the documents in them.
type Model struct {
	Entities []*Entity
}

// Entity returns the entity named name, or nil.
func (m *Model) Entity(name string) *Entity {
	if name == "" {
		return nil
	}
	for _, e := range m.Entities {
		if e.Name == name {
			return e
		}
	}
	return nil
}

// Formats an entity definition is read from (Entity.Format).
const (
	// FormatNomnom is nomnom's own format (apiVersion nomnom.dev/v1, or
	// nomnom.io/v1 in files written before nomnom had an apiVersion of its
	// own).
	FormatNomnom = "nomnom"
	// FormatOriginV1 is the origin project's nomnom.io/v1 schema
	// (ENTITY_SCHEMA_V1.md): camelCase JSON keys, flat copyFrom, string
	// transforms.
	FormatOriginV1 = "origin-v1"
	// FormatOriginLegacy is the origin project's earlier `entity:` format.
	FormatOriginLegacy = "origin-legacy"
)

// Entity is one `kind: Entity` document.
type Entity struct {
	Pos         Pos
	Format      string
	Name        string
	Description string
	// Labels and Annotations are carried for the reader and for convert;
	// the generated code does not use them.
	Labels      map[string]string
	Annotations map[string]string
	Type        string // root or derived
	Repetition  string // singleton or repeated
	Derivation  Derivation
	Fields      []*Field
	Persistence Persistence
}

// Field returns the field named name, or nil.
func (e *Entity) Field(name string) *Field {
	for _, f := range e.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Derivation says where a derived entity comes from: a singleton read from
// its parent's object (Parent), or one entity per item of an array
// (RepeatedFor).
type Derivation struct {
	Pos         Pos
	Parent      string
	RepeatedFor *RepeatedFor
	// Parents are the origin project's multiple parents, resolved into
	// Parent (the one the others are ancestors of) before validation.
	Parents []ParentRef
}

// ParentRef is one of the origin project's derivation.parents: an entity
// and the name its fields' copyFrom refer to it by.
type ParentRef struct {
	Pos    Pos
	Name   string
	Entity string
}

// From is the entity this one derives from, or "" for a root.
func (d Derivation) From() string {
	if d.RepeatedFor != nil {
		return d.RepeatedFor.Entity
	}
	return d.Parent
}

// RepeatedFor derives one entity per item of the array at Field, a path in
// the object that Entity was read from. Source paths of the derived entity
// are read in the item; ItemName alone names the item itself.
type RepeatedFor struct {
	Pos      Pos
	Entity   string
	Field    string
	ItemName string
}

// Field is one column of an entity.
type Field struct {
	Pos         Pos
	TypePos     Pos
	Name        string
	Type        Type
	Description string
	Constraints Constraints
	Source      Source
	// childArray marks a legacy List[Object] field: dropped when a child
	// entity is repeated for it (the child reads the array), a json column
	// otherwise.
	childArray bool
}

// Constraints restrict a field's values. Numbers are kept as their YAML text
// so that decimal bounds stay exact.
type Constraints struct {
	Nullable   bool
	MaxLength  *int
	MinLength  *int
	Minimum    *string
	Maximum    *string
	Pattern    string
	Enum       []string
	Default    *Scalar
	PrimaryKey bool
	Unique     bool
	Indexed    bool
	Precision  *int
	Scale      *int
}

// Scalar is a YAML scalar value with its tag (!!str, !!int, !!float,
// !!bool, !!null).
type Scalar struct {
	Pos   Pos
	Tag   string
	Value string
}

// Source says where a field's value comes from. Exactly one of its members
// is set; a field without source reads the path equal to its name.
type Source struct {
	Pos       Pos
	Field     string
	CopyFrom  *CopyFrom
	Constant  *Scalar
	Transform *Transform
}

// CopyFrom copies a field of an ancestor entity.
type CopyFrom struct {
	Pos    Pos
	Entity string
	Field  string
}

// Transform computes a value from input paths: a built-in (see Builtins) or
// a Go function of the generated package named `go:<name>`.
type Transform struct {
	Pos    Pos
	Name   string
	Inputs []string
	Args   map[string]string
}

// GoName is the Go function a `go:` transform names, or "".
func (t *Transform) GoName() string {
	name, ok := strings.CutPrefix(t.Name, "go:")
	if !ok {
		return ""
	}
	return name
}

// Persistence says whether and how an entity is written to PostgreSQL.
type Persistence struct {
	Pos        Pos
	Enabled    bool
	Table      string
	Unicity    []string
	UnicityPos Pos
	OnConflict string // update or ignore
	Indexes    []Index
}

// Index is a secondary index of an entity table.
type Index struct {
	Pos    Pos
	Name   string
	Fields []string
	Unique bool
}
