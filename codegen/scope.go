package codegen

import (
	"fmt"
	"strings"
)

// A repeated entity's rows follow their owner: the farthest persisted
// ancestor, with onConflict update, whose whole unicity key the entity
// copies (copyFrom, directly or through other copies). When a message writes
// the owner's row again, the rows under it become exactly the set the
// message carries; the others are deleted in the same transaction. An owner
// with onConflict ignore keeps its first write, and its children with it.
// A repeated entity that copies no ancestor's key is only ever upserted.

// owner returns the ancestor owning e's rows, with the columns of e that
// hold its key and the columns of the owner they come from, or nil.
func (e *ventity) owner() (owner *ventity, scope, ownerCols []int) {
	if !e.Persisted || e.Repetition != "repeated" {
		return nil, nil, nil
	}
	for i := len(e.Ancestors) - 1; i >= 0; i-- {
		a := e.Ancestors[i]
		if !a.Persisted || a.Persistence.OnConflict == "ignore" || len(a.Persistence.Unicity) == 0 {
			continue
		}
		scope, ownerCols = nil, nil
		for _, u := range a.Persistence.Unicity {
			c := e.copyOf(a, u)
			if c < 0 {
				break
			}
			scope = append(scope, c)
			ownerCols = append(ownerCols, a.fieldIndex(u))
		}
		if len(scope) == len(a.Persistence.Unicity) {
			return a, scope, ownerCols
		}
	}
	return nil, nil, nil
}

// copyOf is the index of e's field holding a copy of a.field, or -1.
func (e *ventity) copyOf(a *ventity, field string) int {
	for i, f := range e.Fields {
		if e.origin(f.Field) == a.Name+"."+field {
			return i
		}
	}
	return -1
}

// origin follows copyFrom to the entity and field a value comes from.
func (e *ventity) origin(f *Field) string {
	for seen := 0; f != nil && f.Source.CopyFrom != nil && seen < 64; seen++ {
		cf := f.Source.CopyFrom
		var next *Field
		for _, a := range e.Ancestors {
			if a.Name == cf.Entity {
				next = a.Entity.Field(cf.Field)
			}
		}
		if next == nil || next.Source.CopyFrom == nil {
			return cf.Entity + "." + cf.Field
		}
		f = next
	}
	return ""
}

func (e *ventity) fieldIndex(name string) int {
	for i, f := range e.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// OwnerName is the entity owning e's rows, or "".
func (e *ventity) OwnerName() string {
	if o, _, _ := e.owner(); o != nil {
		return o.Name
	}
	return ""
}

// Scope names e's columns holding its owner's key.
func (e *ventity) Scope() []string {
	_, scope, _ := e.owner()
	var out []string
	for _, c := range scope {
		out = append(out, e.Fields[c].Name)
	}
	return out
}

// OwnerKey names the owner's columns that e's Scope copies.
func (e *ventity) OwnerKey() []string {
	o, _, key := e.owner()
	var out []string
	for _, c := range key {
		out = append(out, o.Fields[c].Name)
	}
	return out
}

// Delete is the statement removing the rows of e under the owner keys
// $1..$n (one text[] per scope column) except the rows whose unicity keys
// are $n+1.. (one text[] per unicity column): the rows the re-sent owners no
// longer carry.
func (e *ventity) Delete() string {
	_, scope, _ := e.owner()
	if scope == nil {
		return ""
	}
	var params, cols, match, keep, kparams, kcols []string
	n := 0
	for _, c := range scope {
		f := e.Fields[c]
		n++
		params = append(params, fmt.Sprintf("$%d::text[]", n))
		cols = append(cols, f.Name)
		match = append(match, fmt.Sprintf("x.%s = s.%s::%s", f.Name, f.Name, f.castType()))
	}
	for _, u := range e.Persistence.Unicity {
		f := e.Fields[e.fieldIndex(u)]
		n++
		kparams = append(kparams, fmt.Sprintf("$%d::text[]", n))
		kcols = append(kcols, f.Name)
		keep = append(keep, fmt.Sprintf("x.%s = k.%s::%s", f.Name, f.Name, f.castType()))
	}
	return fmt.Sprintf("DELETE FROM %s AS x\nUSING unnest(%s) AS s (%s)\nWHERE %s\n    AND NOT EXISTS (\n        SELECT 1 FROM unnest(%s) AS k (%s)\n        WHERE %s)",
		e.Table, strings.Join(params, ", "), strings.Join(cols, ", "), strings.Join(match, " AND "),
		strings.Join(kparams, ", "), strings.Join(kcols, ", "), strings.Join(keep, " AND "))
}
